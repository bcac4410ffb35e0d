//! Heartbeats to an outside dead man's switch (`[heartbeat]`): a monitor on
//! the same machine cannot say that the machine is gone, so after each check
//! it pings a receiver elsewhere, which alerts when the pings stop.
//!
//! - `healthchecks` (healthchecks.io and self-hosted healthchecks): POST
//!   `url` when the check is OK or WARN, POST `url/fail` when CRIT or
//!   UNKNOWN, with the one-line summary as the body.
//! - `uptime-kuma` (a push monitor): GET `url?status=up|down&msg=SUMMARY&ping=MS`.
//!
//! Failures of silenced sources do not count (no `/fail` during planned
//! work). A ping is retried like a notification, within its own budget
//! and the check's deadline, and
//! never changes the check's status; a failed ping is a `heartbeat` row that
//! goes through the alert policy, so only a confirmed failure writes one
//! `WARN heartbeat` line. The URL is a secret: no message here contains it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::policy::{self, Policy, ProbeState};
use crate::alerts::notify::{describe, redact, send_with_retries};
use crate::alerts::silence::{self, Silence};
use crate::alerts::{AlertLog, Event, Level};
use crate::config::{Config, Heartbeat, HeartbeatFormat};
use crate::probe::{Observation, Status};
use crate::state::{ProbeRow, Read as _, State, StateError};
use crate::text::sanitize;

/// The heartbeat's row in the state database and its alert source.
pub const SOURCE: &str = "heartbeat";

/// How long the heartbeat may take, retries included.
pub const BUDGET: Duration = Duration::from_secs(15);

/// Longest summary sent (healthchecks keeps 10 kB of a body).
const MAX_SUMMARY: usize = 1000;

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// POST with `body`, or GET.
    pub post: bool,
    pub url: String,
    pub body: String,
}

/// What the receiver is told: the status counted for the heartbeat (the
/// failures of silenced sources left out) and the one-line summary.
pub fn verdict(
    observations: &[Observation],
    errors: &[String],
    silences: &[Silence],
    now: DateTime<Utc>,
) -> (Status, String) {
    let mut worst = if errors.is_empty() {
        Status::Ok
    } else {
        Status::Unknown
    };
    let mut problems: Vec<String> = Vec::new();
    let mut silenced = Vec::new();
    for o in observations {
        if o.status.exit_code() == 0 {
            continue;
        }
        if silence::silencing(silences, o.probe, now).is_some() {
            silenced.push(o.label());
            continue;
        }
        worst = worst.worst(o.status);
        problems.push(format!("{}: {}", o.label(), o.message));
    }
    problems.extend(errors.iter().cloned());
    let word = match worst {
        Status::Ok | Status::Skipped | Status::Starting => "OK",
        Status::Warn => "WARNING",
        Status::Crit => "CRITICAL",
        Status::Unknown => "UNKNOWN",
    };
    let mut text = if problems.is_empty() {
        format!("{word} - {} probes ok", observations.len() - silenced.len())
    } else {
        format!("{word} - {}", problems.join("; "))
    };
    if !silenced.is_empty() {
        text.push_str(&format!(" (silenced: {})", silenced.join(", ")));
    }
    let mut text = sanitize(&text);
    if text.chars().count() > MAX_SUMMARY {
        text = text.chars().take(MAX_SUMMARY).collect();
        text.push_str("…[cut]");
    }
    (worst, text)
}

/// Whether the receiver hears "up" (OK, WARN) or "down" (CRIT, UNKNOWN).
pub fn is_up(s: Status) -> bool {
    !matches!(s, Status::Crit | Status::Unknown)
}

/// Builds the request for a receiver (pure). `Err` says what is wrong with
/// the URL without quoting it.
pub fn request(hb: &Heartbeat, up: bool, summary: &str, ms: u64) -> Result<Ping, String> {
    let mut u = reqwest::Url::parse(&hb.url).map_err(|_| "heartbeat.url is not a valid URL")?;
    match hb.format {
        HeartbeatFormat::Healthchecks => {
            if !up {
                u.path_segments_mut()
                    .map_err(|_| "heartbeat.url cannot take a /fail path")?
                    .pop_if_empty()
                    .push("fail");
            }
            Ok(Ping {
                post: true,
                url: u.to_string(),
                body: summary.to_string(),
            })
        }
        HeartbeatFormat::UptimeKuma => {
            // The push URL Uptime Kuma shows already carries
            // `?status=up&msg=OK&ping=`: those are replaced, others kept.
            let keep: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| !matches!(k.as_ref(), "status" | "msg" | "ping"))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.set_query(None);
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in &keep {
                    q.append_pair(k, v);
                }
                q.append_pair("status", if up { "up" } else { "down" })
                    .append_pair("msg", summary)
                    .append_pair("ping", &ms.to_string());
            }
            Ok(Ping {
                post: false,
                url: u.to_string(),
                body: String::new(),
            })
        }
    }
}

/// Sends a ping, retrying (timeouts, connection errors, 5xx, 429) until
/// `deadline`. `Err` never contains the URL.
pub fn send(hb: &Heartbeat, ping: &Ping, deadline: Instant) -> Result<(), String> {
    let client = reqwest::blocking::Client::builder()
        // A redirect could carry the secret URL elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("grokmon/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            format!(
                "cannot build an HTTP client: {}",
                describe(e, Duration::ZERO).reason
            )
        })?;
    send_with_retries(
        hb.timeout,
        deadline,
        "not sent: the heartbeat's time budget was used up",
        |timeout| {
            let req = if ping.post {
                client
                    .post(&ping.url)
                    .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(ping.body.clone())
            } else {
                client.get(&ping.url)
            };
            req.timeout(timeout).send()
        },
    )
    .map_err(|last| redact(&redact(&last, &ping.url), &hb.url))
}

fn format_name(f: HeartbeatFormat) -> &'static str {
    match f {
        HeartbeatFormat::Healthchecks => "healthchecks",
        HeartbeatFormat::UptimeKuma => "uptime-kuma",
    }
}

/// `check`'s hook, once its lines are recorded: pings the receiver and
/// records the outcome as the `heartbeat` row, through the alert policy (a
/// confirmed failure is one WARN line, a recovery one OK line). Returns the
/// lines written, for the check's notifications. Never fails: a
/// state that cannot be written is said on stderr.
#[allow(clippy::too_many_arguments)]
pub fn after_check(
    cfg: &Config,
    st: Option<&mut State>,
    log: &AlertLog,
    now: DateTime<Utc>,
    observations: &[Observation],
    errors: &[String],
    started: Instant,
    deadline: Instant,
) -> Vec<Event> {
    let Some(hb) = cfg.heartbeat.as_ref() else {
        return Vec::new();
    };
    let silences = st
        .as_ref()
        .and_then(|s| silence::load(&s.read()).ok())
        .unwrap_or_default();
    let (status, summary) = verdict(observations, errors, &silences, now);
    let up = is_up(status);
    let ms = started.elapsed().as_millis() as u64;
    let t0 = Instant::now();
    let res = request(hb, up, &summary, ms).and_then(|p| send(hb, &p, (t0 + BUDGET).min(deadline)));
    let what = format!(
        "{} {}",
        format_name(hb.format),
        if up { "up" } else { "down" }
    );
    let (status, message) = match &res {
        Ok(()) => (
            Status::Ok,
            format!("{what} delivered in {} ms", t0.elapsed().as_millis()),
        ),
        Err(why) => (Status::Warn, format!("{what} not delivered: {why}")),
    };
    let Some(st) = st else {
        if let Err(why) = res {
            eprintln!("grokmon: heartbeat not delivered: {why}");
        }
        return Vec::new();
    };
    let pol = Policy {
        confirm_after: cfg.check.confirm_after,
        renotify: cfg.check.renotify,
        // A ping that fails every other check is still worth one line each.
        flap: None,
    };
    match record(st, log, now, status, &message, pol, &silences) {
        Ok(evs) => evs,
        Err(e) => {
            eprintln!("grokmon: heartbeat outcome not recorded: {e:#}");
            Vec::new()
        }
    }
}

/// Stores the heartbeat row and appends its line, if the policy writes one,
/// the way `check::record` does (an intent in the state, then the append,
/// then the intent cleared), so the line is in the log exactly once whatever
/// instant the process dies at. Returns the lines appended (an earlier
/// check's unfinished ones first).
fn record(
    st: &mut State,
    log: &AlertLog,
    now: DateTime<Utc>,
    status: Status,
    message: &str,
    pol: Policy,
    silences: &[Silence],
) -> anyhow::Result<Vec<Event>> {
    let _lock = st.lock_writers()?;
    let mut appended = super::reconcile(st, log)?;
    let mark = log.mark();
    let ev = st.write(|tx| -> Result<Option<Event>, StateError> {
        let prev = tx
            .probe_rows()?
            .into_iter()
            .find(|r| r.key == SOURCE)
            .map(|r| ProbeState {
                fail_count: r.fail_count,
                failing_since: r.failing_since,
                alerted: r.alerted.as_deref().and_then(|l| l.parse::<Level>().ok()),
                last_notified: r.last_notified,
                ..ProbeState::default()
            })
            .unwrap_or_default();
        let (next, ev) = policy::step(&prev, SOURCE, status, message, now, pol);
        tx.put_probe(&ProbeRow {
            key: SOURCE.into(),
            probe: SOURCE.into(),
            target: None,
            status: status.as_str().into(),
            message: message.to_string(),
            checked_at: now,
            fail_count: next.fail_count,
            failing_since: next.failing_since,
            alerted: next.alerted.map(|l| l.as_str().to_string()),
            last_notified: next.last_notified,
        })?;
        let mut evs: Vec<Event> = ev.into_iter().collect();
        silence::mark(silences, &mut evs, now);
        if !evs.is_empty() {
            let pending = super::Pending {
                mark,
                lines: evs.iter().map(Event::to_line).collect(),
            };
            let json = serde_json::to_string(&pending).unwrap_or_default();
            tx.set(crate::state::keys::ALERTS_PENDING, &json)?;
        }
        Ok(evs.pop())
    })?;
    let Some(ev) = ev else {
        return Ok(appended);
    };
    // As in `check::record`: the intent is synced before the append.
    let _ = st.trim_wal(0);
    log.append(std::slice::from_ref(&ev))?;
    st.write(|tx| tx.delete(crate::state::keys::ALERTS_PENDING))?;
    appended.push(ev);
    Ok(appended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(format: HeartbeatFormat, url: &str) -> Heartbeat {
        Heartbeat {
            url: url.into(),
            format,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn healthchecks_posts_to_url_or_url_fail() {
        let h = hb(
            HeartbeatFormat::Healthchecks,
            "https://hc.example/ping/UUID",
        );
        let up = request(&h, true, "OK - 8 probes ok", 12).unwrap();
        assert_eq!(
            up,
            Ping {
                post: true,
                url: "https://hc.example/ping/UUID".into(),
                body: "OK - 8 probes ok".into()
            }
        );
        let down = request(&h, false, "CRITICAL - api: down", 12).unwrap();
        assert_eq!(down.url, "https://hc.example/ping/UUID/fail");
        let slash = hb(
            HeartbeatFormat::Healthchecks,
            "https://hc.example/UUID/?create=1",
        );
        assert_eq!(
            request(&slash, false, "x", 1).unwrap().url,
            "https://hc.example/UUID/fail?create=1"
        );
    }

    #[test]
    fn uptime_kuma_gets_with_status_msg_and_ping_replacing_the_defaults() {
        let h = hb(
            HeartbeatFormat::UptimeKuma,
            "https://kuma.example/api/push/TOKEN?status=up&msg=OK&ping=&x=1",
        );
        let p = request(&h, false, "CRITICAL - api: down & out", 42).unwrap();
        assert!(!p.post);
        assert_eq!(
            p.url,
            "https://kuma.example/api/push/TOKEN?x=1&status=down&msg=CRITICAL+-+api%3A+down+%26+out&ping=42"
        );
        assert!(
            request(&h, true, "OK", 1)
                .unwrap()
                .url
                .contains("status=up")
        );
    }

    #[test]
    fn the_url_is_not_in_the_configs_debug_text() {
        let env = crate::config::Env {
            home: Some("/h".into()),
            ..Default::default()
        };
        let c = Config::parse(
            "[heartbeat]\nurl = \"https://hc.example/SECRET-UUID\"\nformat = \"uptime-kuma\"\n",
            crate::config::Source::Defaults,
            &env,
        )
        .unwrap();
        let hb = c.heartbeat.as_ref().unwrap();
        assert_eq!(hb.format, HeartbeatFormat::UptimeKuma);
        assert_eq!(hb.timeout, Duration::from_secs(5));
        assert!(!format!("{c:?}").contains("SECRET"), "{c:?}");
    }

    fn obs(probe: &'static str, s: Status) -> Observation {
        Observation::new(probe, s, format!("{probe} is {}", s.as_str()))
    }

    #[test]
    fn verdict_leaves_silenced_failures_out() {
        let now: DateTime<Utc> = "2026-11-28T12:10:00Z".parse().unwrap();
        let o = [obs("api", Status::Crit), obs("disk", Status::Warn)];
        let (s, text) = verdict(&o, &[], &[], now);
        assert_eq!(s, Status::Crit);
        assert_eq!(text, "CRITICAL - api: api is crit; disk: disk is warn");
        let sil = Silence {
            id: 1,
            created: now - chrono::Duration::minutes(5),
            until: now + chrono::Duration::minutes(5),
            sources: vec!["api".into()],
            reason: "r".into(),
            who: "w".into(),
            cleared: None,
        };
        let (s, text) = verdict(&o, &[], std::slice::from_ref(&sil), now);
        assert_eq!(s, Status::Warn);
        assert!(is_up(s));
        assert_eq!(text, "WARNING - disk: disk is warn (silenced: api)");
        let (s, _) = verdict(&o[1..], &["state locked".into()], &[], now);
        assert_eq!(s, Status::Unknown);
        assert!(!is_up(s));
    }
}
