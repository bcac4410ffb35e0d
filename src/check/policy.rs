//! The alert policy: the only code that decides what is an alert. Pure: a
//! probe's stored state, its new status and the time in; the new state and at
//! most one event out. Like Nagios' hard states, a line is written only on a
//! confirmed change:
//!
//! - a probe must fail `confirm_after` consecutive checks before its WARN/CRIT line;
//! - a change of severity while alerted (WARN→CRIT, CRIT→WARN) is written at once;
//! - a still-failing alert is repeated at most every `renotify`;
//! - a recovery writes one OK line;
//! - `starting` and `skipped` neither count as failures nor as recoveries;
//! - flapping, Nagios' idea: when the share of state changes (ok, warn, crit)
//!   over the last `FLAP_WINDOW` checks reaches the high threshold, one
//!   `WARN flapping (N changes in M checks)` line, then nothing until the
//!   share falls to the low threshold, then one line with the settled state.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alerts::{Event, Level};
use crate::probe::Status;
use crate::text::human_duration;

/// A probe's policy state between checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeState {
    /// Consecutive failing checks.
    pub fail_count: u32,
    /// When the current failing episode began.
    pub failing_since: Option<DateTime<Utc>>,
    /// The level of the open alert, if one was written.
    pub alerted: Option<Level>,
    /// When the open alert was last written.
    pub last_notified: Option<DateTime<Utc>>,
    /// The classes (`o`k, `w`arn, `c`rit) of the last checks, oldest first,
    /// at most `FLAP_WINDOW + 1`.
    pub history: String,
    /// A flapping line was written and the probe has not settled since.
    pub flapping: bool,
}

/// State changes are counted over this many checks (transitions).
pub const FLAP_WINDOW: usize = 20;

/// Flap detection: shares (0–1) of state changes over `FLAP_WINDOW` checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flap {
    /// At or below it, a flapping probe has settled.
    pub low: f64,
    /// At or above it, a probe is flapping.
    pub high: f64,
}

/// The policy's knobs.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub confirm_after: u32,
    pub renotify: Duration,
    /// `None`: no flap detection.
    pub flap: Option<Flap>,
}

fn failing_level(s: Status) -> Option<Level> {
    match s {
        Status::Warn | Status::Unknown => Some(Level::Warn),
        Status::Crit => Some(Level::Crit),
        Status::Ok | Status::Skipped | Status::Starting => None,
    }
}

/// `1 check`, `2 checks`.
fn checks(n: u32) -> String {
    if n == 1 {
        "1 check".into()
    } else {
        format!("{n} checks")
    }
}

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%SZ").to_string()
}

fn age(now: DateTime<Utc>, since: Option<DateTime<Utc>>) -> String {
    let d = since
        .and_then(|s| (now - s).to_std().ok())
        .unwrap_or_default();
    human_duration(Duration::from_secs(d.as_secs()))
}

fn class(s: Status) -> Option<char> {
    match s {
        Status::Ok => Some('o'),
        Status::Warn | Status::Unknown => Some('w'),
        Status::Crit => Some('c'),
        Status::Skipped | Status::Starting => None,
    }
}

fn changes(history: &str) -> usize {
    history
        .as_bytes()
        .windows(2)
        .filter(|w| w[0] != w[1])
        .count()
}

/// One step of the policy for one probe: the hard-state machine, with flap
/// detection over it. While a probe flaps the machine keeps its count, but
/// its lines are held back.
pub fn step(
    state: &ProbeState,
    source: &str,
    status: Status,
    message: &str,
    now: DateTime<Utc>,
    policy: Policy,
) -> (ProbeState, Option<Event>) {
    let (mut next, ev) = hard_step(state, source, status, message, now, policy);
    next.history = state.history.clone();
    next.flapping = state.flapping;
    let Some(flap) = policy.flap else {
        next.history.clear();
        next.flapping = false;
        return (next, ev);
    };
    let Some(c) = class(status) else {
        // `starting` and `skipped` are no state: the history waits.
        return (next, if state.flapping { None } else { ev });
    };
    next.history.push(c);
    let excess = next.history.len().saturating_sub(FLAP_WINDOW + 1);
    next.history.drain(..excess);
    let n = changes(&next.history);
    // A fixed denominator: a short history cannot look like flapping.
    let share = n as f64 / FLAP_WINDOW as f64;
    if !state.flapping {
        if share >= flap.high {
            next.flapping = true;
            let text = format!(
                "flapping ({n} changes in {})",
                checks(next.history.len() as u32)
            );
            return (next, Some(Event::new(now, Level::Warn, source, text)));
        }
        return (next, ev);
    }
    if share > flap.low {
        return (next, None);
    }
    // Settled: one line with the state it settled in; the open alert is
    // now exactly what that line says.
    next.flapping = false;
    let text = match failing_level(status) {
        Some(level) => {
            next.alerted = Some(level);
            next.last_notified = Some(now);
            let msg = if status == Status::Unknown {
                format!("unknown: {message}")
            } else {
                message.to_string()
            };
            (
                level,
                format!(
                    "stable again: {msg} ({}, since {})",
                    checks(next.fail_count),
                    hms(next.failing_since.unwrap_or(now))
                ),
            )
        }
        None => {
            next.alerted = None;
            next.last_notified = None;
            (Level::Ok, format!("stable again: {message}"))
        }
    };
    (next, Some(Event::new(now, text.0, source, text.1)))
}

/// The hard-state machine for one probe (no flap detection).
fn hard_step(
    state: &ProbeState,
    source: &str,
    status: Status,
    message: &str,
    now: DateTime<Utc>,
    policy: Policy,
) -> (ProbeState, Option<Event>) {
    let mut next = state.clone();
    let msg = if status == Status::Unknown {
        format!("unknown: {message}")
    } else {
        message.to_string()
    };
    match failing_level(status) {
        Some(level) => {
            next.fail_count = state.fail_count.saturating_add(1);
            let since = *next.failing_since.get_or_insert(now);
            let detail = format!("({}, since {})", checks(next.fail_count), hms(since));
            match state.alerted {
                None if next.fail_count >= policy.confirm_after => {
                    next.alerted = Some(level);
                    next.last_notified = Some(now);
                    (
                        next,
                        Some(Event::new(now, level, source, format!("{msg} {detail}"))),
                    )
                }
                None => (next, None),
                Some(open) if open != level => {
                    next.alerted = Some(level);
                    next.last_notified = Some(now);
                    let verb = if level > open { "escalated" } else { "eased" };
                    let text = format!(
                        "{msg} ({verb} from {}, {}, since {})",
                        open.as_str(),
                        checks(next.fail_count),
                        hms(since)
                    );
                    (next, Some(Event::new(now, level, source, text)))
                }
                Some(_) => {
                    let due = state
                        .last_notified
                        .is_none_or(|t| (now - t).to_std().is_ok_and(|d| d >= policy.renotify));
                    if due {
                        next.last_notified = Some(now);
                        let text = format!(
                            "still failing for {}: {msg} {detail}",
                            age(now, Some(since))
                        );
                        (next, Some(Event::new(now, level, source, text)))
                    } else {
                        (next, None)
                    }
                }
            }
        }
        None if matches!(status, Status::Starting | Status::Skipped) => {
            // Neither a failure nor a recovery: an unconfirmed episode is
            // forgotten, an open alert stays open.
            if state.alerted.is_none() {
                next = ProbeState::default();
            } else {
                next.fail_count = 0;
            }
            (next, None)
        }
        None => {
            let ev = state.alerted.map(|_| {
                Event::new(
                    now,
                    Level::Ok,
                    source,
                    format!("recovered after {}", age(now, state.failing_since)),
                )
            });
            (ProbeState::default(), ev)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        confirm_after: 2,
        renotify: Duration::from_secs(3600),
        flap: Some(Flap {
            low: 0.15,
            high: 0.3,
        }),
    };

    /// Runs a sequence of (minutes since start, status) and returns the lines.
    fn run(seq: &[(i64, Status)]) -> Vec<String> {
        let t0: DateTime<Utc> = "2026-11-28T11:35:13Z".parse().unwrap();
        let mut st = ProbeState::default();
        let mut out = Vec::new();
        for (min, s) in seq {
            let (next, ev) = step(
                &st,
                "api",
                *s,
                "unreachable: connection refused",
                t0 + chrono::Duration::minutes(*min),
                POLICY,
            );
            st = next;
            out.extend(ev.map(|e| e.to_line()));
        }
        out
    }

    use Status::*;

    #[test]
    fn table() {
        type Case<'a> = (&'a str, &'a [(i64, Status)], &'a [&'a str]);
        let cases: &[Case] = &[
            ("all ok writes nothing", &[(0, Ok), (5, Ok)], &[]),
            ("one failure is not confirmed", &[(0, Crit), (5, Ok)], &[]),
            (
                "two failures confirm, recovery writes one OK",
                &[(0, Crit), (5, Crit), (10, Crit), (15, Ok), (20, Ok)],
                &[
                    "2026-11-28T11:40:13Z CRIT api: unreachable: connection refused (2 checks, since 11:35:13Z)",
                    "2026-11-28T11:50:13Z OK   api: recovered after 15m",
                ],
            ),
            (
                "escalation is written at once",
                &[(0, Warn), (5, Warn), (10, Crit)],
                &[
                    "2026-11-28T11:40:13Z WARN api: unreachable: connection refused (2 checks, since 11:35:13Z)",
                    "2026-11-28T11:45:13Z CRIT api: unreachable: connection refused (escalated from WARN, 3 checks, since 11:35:13Z)",
                ],
            ),
            (
                "renotify at most every hour",
                &[
                    (0, Crit),
                    (5, Crit),
                    (30, Crit),
                    (60, Crit),
                    (65, Crit),
                    (70, Crit),
                ],
                &[
                    "2026-11-28T11:40:13Z CRIT api: unreachable: connection refused (2 checks, since 11:35:13Z)",
                    "2026-11-28T12:40:13Z CRIT api: still failing for 1h 5m: unreachable: connection refused (5 checks, since 11:35:13Z)",
                ],
            ),
            (
                "starting is neither failure nor recovery",
                &[(0, Crit), (5, Starting), (10, Crit), (15, Ok)],
                &[],
            ),
            (
                "an open alert survives starting",
                &[(0, Crit), (5, Crit), (10, Starting), (15, Ok)],
                &[
                    "2026-11-28T11:40:13Z CRIT api: unreachable: connection refused (2 checks, since 11:35:13Z)",
                    "2026-11-28T11:50:13Z OK   api: recovered after 15m",
                ],
            ),
            (
                "skipped never alerts",
                &[(0, Skipped), (5, Skipped), (10, Skipped)],
                &[],
            ),
            (
                "unknown alerts as WARN",
                &[(0, Unknown), (5, Unknown)],
                &[
                    "2026-11-28T11:40:13Z WARN api: unknown: unreachable: connection refused (2 checks, since 11:35:13Z)",
                ],
            ),
        ];
        for (name, seq, want) in cases {
            assert_eq!(run(seq), *want, "case: {name}");
        }
    }

    #[test]
    fn confirm_after_one_alerts_at_once() {
        let p = Policy {
            confirm_after: 1,
            ..POLICY
        };
        let (_, ev) = step(
            &ProbeState::default(),
            "disk",
            Crit,
            "97% used",
            Utc::now(),
            p,
        );
        let ev = ev.unwrap();
        assert_eq!(ev.level, Level::Crit);
        assert!(ev.message.contains("(1 check, since"), "{}", ev.message);
    }

    /// Runs (status, message) every 5 minutes; returns the lines.
    fn run_flap(policy: Policy, seq: &[(Status, &str)]) -> Vec<String> {
        let t0: DateTime<Utc> = "2026-11-28T11:00:00Z".parse().unwrap();
        let mut st = ProbeState::default();
        let mut out = Vec::new();
        for (i, (s, m)) in seq.iter().enumerate() {
            let now = t0 + chrono::Duration::minutes(5 * i as i64);
            let (next, ev) = step(&st, "api", *s, m, now, policy);
            assert!(next.history.len() <= FLAP_WINDOW + 1);
            st = next;
            out.extend(ev.map(|e| e.to_line()));
        }
        out
    }

    fn repeat(parts: &[(Status, &'static str)], times: usize) -> Vec<(Status, &'static str)> {
        parts
            .iter()
            .copied()
            .cycle()
            .take(parts.len() * times)
            .collect()
    }

    #[test]
    fn flapping_table() {
        let ok = (Ok, "healthy");
        let warn = (Warn, "degraded (sensors: stale)");
        let crit = (Crit, "HTTP 502");
        let one = Policy {
            confirm_after: 1,
            ..POLICY
        };
        type Case<'a> = (&'a str, Policy, Vec<(Status, &'a str)>, &'a [&'a str]);
        let cases: Vec<Case> = vec![
            (
                "OK/WARN flips: one flapping line, quiet, one line when settled",
                POLICY,
                [repeat(&[ok, warn], 15), repeat(&[ok], 30)].concat(),
                &[
                    "2026-11-28T11:30:00Z WARN api: flapping (6 changes in 7 checks)",
                    "2026-11-28T14:55:00Z OK   api: stable again: healthy",
                ],
            ),
            (
                "flips that settle failing: the settled line is the alert",
                one,
                [repeat(&[crit, ok], 10), repeat(&[crit], 25), vec![ok]].concat(),
                &[
                    "2026-11-28T11:00:00Z CRIT api: HTTP 502 (1 check, since 11:00:00Z)",
                    "2026-11-28T11:05:00Z OK   api: recovered after 5m",
                    "2026-11-28T11:10:00Z CRIT api: HTTP 502 (1 check, since 11:10:00Z)",
                    "2026-11-28T11:15:00Z OK   api: recovered after 5m",
                    "2026-11-28T11:20:00Z CRIT api: HTTP 502 (1 check, since 11:20:00Z)",
                    "2026-11-28T11:25:00Z OK   api: recovered after 5m",
                    "2026-11-28T11:30:00Z WARN api: flapping (6 changes in 7 checks)",
                    "2026-11-28T14:05:00Z CRIT api: stable again: HTTP 502 (18 checks, since 12:40:00Z)",
                    "2026-11-28T14:45:00Z OK   api: recovered after 2h 5m",
                ],
            ),
            (
                "a real outage is not flapping",
                POLICY,
                [repeat(&[ok], 5), repeat(&[crit], 10), repeat(&[ok], 5)].concat(),
                &[
                    "2026-11-28T11:30:00Z CRIT api: HTTP 502 (2 checks, since 11:25:00Z)",
                    "2026-11-28T12:15:00Z OK   api: recovered after 50m",
                ],
            ),
            (
                "skipped checks are not state changes",
                POLICY,
                repeat(&[ok, (Skipped, "no systemd")], 20),
                &[],
            ),
            (
                "without flap detection every confirmed change is written",
                Policy { flap: None, ..one },
                repeat(&[ok, crit], 4),
                &[
                    "2026-11-28T11:05:00Z CRIT api: HTTP 502 (1 check, since 11:05:00Z)",
                    "2026-11-28T11:10:00Z OK   api: recovered after 5m",
                    "2026-11-28T11:15:00Z CRIT api: HTTP 502 (1 check, since 11:15:00Z)",
                    "2026-11-28T11:20:00Z OK   api: recovered after 5m",
                    "2026-11-28T11:25:00Z CRIT api: HTTP 502 (1 check, since 11:25:00Z)",
                    "2026-11-28T11:30:00Z OK   api: recovered after 5m",
                    "2026-11-28T11:35:00Z CRIT api: HTTP 502 (1 check, since 11:35:00Z)",
                ],
            ),
        ];
        for (name, policy, seq, want) in cases {
            let got = run_flap(policy, &seq);
            assert_eq!(got, want, "case: {name}");
        }
    }
}
