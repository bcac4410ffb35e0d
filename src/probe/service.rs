//! Service: the unit's systemd state from `systemctl [--user] show`:
//! ActiveState/SubState, time since it became active, restarts in the last
//! hour (from `NRestarts` deltas between checks), whether systemd gave up
//! (`crate::systemd::limits::gave_up`: failed with a result its own restart
//! policy restarts, or start-limit-hit), MainPID, and MemoryCurrent against the unit's own
//! MemoryMax. No systemd to ask is `skipped`, not a failure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Context, Metric, Observation, Outcome, Status, Unit};
use crate::config::{Config, Scope};
use crate::systemd::{Systemctl, SystemctlError, parse_unix_timestamp};
use crate::text::{human_bytes, human_duration};

/// The properties read.
pub const PROPS: &[&str] = &[
    "LoadState",
    "ActiveState",
    "SubState",
    "Result",
    "ActiveEnterTimestamp",
    "NRestarts",
    "MainPID",
    "MemoryCurrent",
    "MemoryMax",
    // For "systemd gave up" (crate::systemd::limits::gave_up).
    "Restart",
    "RestartPreventExitStatus",
    "ExecMainCode",
    "ExecMainStatus",
    "StartLimitBurst",
    "StartLimitIntervalUSec",
];

/// Where the service is in its life, for the API probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Starting, stopping, reloading, or active within `startup_grace`.
    Starting,
    Active,
    Down,
}

/// The commands a person runs when systemd gave up.
pub fn investigate_hint(unit: &str, scope: Scope) -> String {
    let short = unit.strip_suffix(".service").unwrap_or(unit);
    let u = if scope == Scope::User { " --user" } else { "" };
    format!(
        "investigate with `journalctl{u} -u {short} -n 100`, then `systemctl{u} reset-failed {short}`"
    )
}

/// Restarts within the history window: the sum of increases of `NRestarts`
/// (a decrease means the counter was reset, e.g. by a manual start).
pub fn restarts_in(history: &[(DateTime<Utc>, f64)], current: u64) -> u64 {
    let mut prev: Option<f64> = None;
    let mut sum = 0.0;
    for v in history
        .iter()
        .map(|(_, v)| *v)
        .chain(std::iter::once(current as f64))
    {
        if let Some(p) = prev
            && v > p
        {
            sum += v - p;
        }
        prev = Some(v);
    }
    sum as u64
}

/// Judges the unit from its properties (pure).
pub fn judge(
    props: &BTreeMap<String, String>,
    history: &[(DateTime<Utc>, f64)],
    now: DateTime<Utc>,
    cfg: &Config,
) -> (Observation, Option<Phase>, Option<u64>) {
    let unit = &cfg.service.unit;
    let get = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
    let th = &cfg.check.thresholds;
    if get("LoadState") == "not-found" {
        return (
            Observation::new(
                "service",
                Status::Warn,
                format!("unit {unit} not found: is it installed? (grokmon units install)"),
            ),
            None,
            None,
        );
    }
    let active = get("ActiveState");
    let sub = get("SubState");
    let nrestarts: Option<u64> = get("NRestarts").parse().ok();
    let since = parse_unix_timestamp(get("ActiveEnterTimestamp"));
    let up_for = since.and_then(|s| (now - s).to_std().ok());
    let mut obs = Observation::new("service", Status::Ok, "");
    let mut parts: Vec<String> = Vec::new();
    let phase;
    match active {
        "active" => {
            let in_grace = up_for.is_some_and(|d| d < cfg.service.startup_grace);
            phase = if in_grace {
                Phase::Starting
            } else {
                Phase::Active
            };
            let mut s = format!("active ({sub})");
            if let Some(d) = up_for {
                s.push_str(&format!(" for {}", human_duration(d)));
            }
            if let Some(pid) = get("MainPID").parse::<u32>().ok().filter(|p| *p > 0) {
                s.push_str(&format!(", pid {pid}"));
            }
            parts.push(s);
        }
        "activating" | "deactivating" | "reloading" => {
            phase = Phase::Starting;
            obs.status = Status::Starting;
            parts.push(format!("{active} ({sub}): a restart is under way"));
        }
        "failed" => {
            phase = Phase::Down;
            obs.status = Status::Crit;
            match crate::systemd::limits::gave_up(props) {
                Some(g) => parts.push(format!(
                    "failed: systemd gave up restarting it ({}); {}",
                    g.detail,
                    investigate_hint(unit, cfg.service.scope)
                )),
                None => {
                    let why = crate::systemd::limits::ended(props);
                    let prevented = get("ExecMainCode") == "1"
                        && get("RestartPreventExitStatus")
                            .split_whitespace()
                            .any(|w| w == get("ExecMainStatus"));
                    if prevented && get("ExecMainStatus") == "78" {
                        parts.push(format!(
                            "failed: {why}, a configuration error, which systemd does not restart (RestartPreventExitStatus); fix the configuration, then `systemctl{} reset-failed {}` and start it",
                            if cfg.service.scope == Scope::User { " --user" } else { "" },
                            unit.strip_suffix(".service").unwrap_or(unit)
                        ));
                    } else {
                        parts.push(format!("failed ({why})"));
                    }
                }
            }
        }
        "inactive" => {
            phase = Phase::Down;
            obs.status = Status::Crit;
            parts.push(format!("inactive ({sub})"));
        }
        other => {
            phase = Phase::Down;
            obs.status = Status::Unknown;
            parts.push(format!("unexpected state \"{other}\""));
        }
    }
    if let Some(n) = nrestarts {
        let r = restarts_in(history, n);
        let s = Status::of(r as f64, th.restarts_per_hour);
        if s != Status::Ok {
            obs.status = obs.status.worst(s);
            parts.push(format!(
                "restart loop: {r} automatic restarts in the last hour; {}",
                investigate_hint(unit, cfg.service.scope)
            ));
        } else if r > 0 {
            parts.push(format!("{r} restarts in the last hour"));
        }
        obs = obs.metric(
            Metric::new("restarts_last_hour", r as f64, Unit::None)
                .min0()
                .thresholds(th.restarts_per_hour),
        );
        obs = obs.metric(Metric::new("restarts", n as f64, Unit::Count));
    }
    let current: Option<u64> = get("MemoryCurrent").parse().ok();
    let max: Option<u64> = get("MemoryMax").parse().ok();
    if let Some(cur) = current {
        obs = obs.metric(Metric::new("memory", cur as f64, Unit::Bytes));
        if let Some(max) = max.filter(|m| *m > 0) {
            let pct = 100.0 * cur as f64 / max as f64;
            let s = Status::of(pct, th.service_memory);
            let txt = format!(
                "memory {} of its MemoryMax {} ({pct:.0}%)",
                human_bytes(cur as f64),
                human_bytes(max as f64)
            );
            if s != Status::Ok {
                obs.status = obs.status.worst(s);
                parts.push(format!("{txt}: near the limit, the kernel kills it there"));
            } else {
                parts.push(txt);
            }
            obs = obs.metric(
                Metric::new("memory_of_max", pct, Unit::Percent).thresholds(th.service_memory),
            );
        } else {
            parts.push(format!("memory {}", human_bytes(cur as f64)));
        }
    }
    obs.message = parts.join(", ");
    (obs, Some(phase), nrestarts)
}

/// The properties the probe asks for: its own, and the `units` probe's
/// when that is on (one query for both: the state here, the protections
/// there, its own observation with its own alert state).
fn wanted(cfg: &Config) -> (Vec<&'static str>, bool) {
    let with_units = cfg
        .check
        .probes
        .iter()
        .any(|p| p == crate::probe_names::UNITS);
    let mut props: Vec<&str> = PROPS.to_vec();
    if with_units {
        props.extend(
            crate::systemd::rules::PROPS
                .iter()
                .filter(|p| !PROPS.contains(p)),
        );
    }
    (props, with_units)
}

/// For `check`: the D-Bus query goes out now; the returned finisher reads
/// the answer (or asks systemctl) and judges it.
pub fn start(ctx: &Context<'_>) -> Option<super::Started> {
    let cfg = ctx.config;
    let (props, with_units) = wanted(cfg);
    let asked = Systemctl::new(cfg.service.scope).send_properties(&cfg.service.unit, &props);
    Some(Box::new(move |ctx: &Context<'_>| {
        outcome(ctx, asked.finish(), with_units)
    }))
}

pub fn probe(ctx: &Context<'_>) -> Outcome {
    let cfg = ctx.config;
    let (props, with_units) = wanted(cfg);
    let sc = Systemctl::new(cfg.service.scope);
    outcome(ctx, sc.properties(&cfg.service.unit, &props), with_units)
}

/// The observations (the service's, and the units probe's when it is on)
/// from what systemd said.
fn outcome(
    ctx: &Context<'_>,
    answer: Result<BTreeMap<String, String>, SystemctlError>,
    with_units: bool,
) -> Outcome {
    let cfg = ctx.config;
    match answer {
        Ok(props) => {
            let (obs, phase, nrestarts) = judge(&props, &ctx.prior().nrestarts, ctx.now, cfg);
            let mut samples = Vec::new();
            if let Some(n) = nrestarts {
                samples.push(("service.nrestarts".to_string(), n as f64));
            }
            let mut observations = vec![obs];
            if with_units {
                observations.push(super::units::observe(&props, ctx));
            }
            Outcome {
                observations,
                carry: super::Carry {
                    nrestarts,
                    service_phase: phase,
                    samples,
                    ..Default::default()
                },
            }
        }
        // Observation messages are raw (every output escapes them once), as
        // the error holds systemctl's stderr.
        Err(SystemctlError::Unavailable(note)) => {
            let mut out: Outcome =
                Observation::new("service", Status::Skipped, note.clone()).into();
            if with_units {
                out.observations.push(Observation::new(
                    crate::probe_names::UNITS,
                    Status::Skipped,
                    note,
                ));
            }
            out
        }
        Err(e) => {
            let why = e.raw();
            let mut out: Outcome = Observation::new("service", Status::Unknown, why.clone()).into();
            if with_units {
                out.observations.push(Observation::new(
                    crate::probe_names::UNITS,
                    Status::Unknown,
                    why,
                ));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn props(s: &str) -> BTreeMap<String, String> {
        crate::systemd::parse_show(s)
    }

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    fn cfg() -> Config {
        Config::defaults(&Env {
            home: Some("/h".into()),
            ..Env::default()
        })
    }

    #[test]
    fn restarts_from_counter_deltas() {
        let h = |v: &[f64]| v.iter().map(|v| (now(), *v)).collect::<Vec<_>>();
        assert_eq!(restarts_in(&h(&[]), 5), 0);
        assert_eq!(restarts_in(&h(&[1.0, 3.0]), 7), 6);
        // Reset to 0 by a manual start in between.
        assert_eq!(restarts_in(&h(&[4.0, 0.0]), 2), 2);
    }

    #[test]
    fn states_map_to_statuses() {
        let started = now().timestamp() - 3 * 3600;
        let (o, phase, n) = judge(
            &props(&format!(
                "ActiveState=active\nSubState=running\nActiveEnterTimestamp=@{started}\nNRestarts=0\nMainPID=42\nMemoryCurrent=100000000\nMemoryMax=500000000\n"
            )),
            &[],
            now(),
            &cfg(),
        );
        assert_eq!(o.status, Status::Ok, "{}", o.message);
        assert_eq!(phase, Some(Phase::Active));
        assert_eq!(n, Some(0));
        assert!(
            o.message.contains("for 3h") && o.message.contains("pid 42"),
            "{}",
            o.message
        );

        let fresh = now().timestamp() - 30;
        let (o, phase, _) = judge(
            &props(&format!(
                "ActiveState=active\nSubState=running\nActiveEnterTimestamp=@{fresh}\n"
            )),
            &[],
            now(),
            &cfg(),
        );
        assert_eq!((o.status, phase), (Status::Ok, Some(Phase::Starting)));

        let (o, phase, _) = judge(
            &props("ActiveState=activating\nSubState=auto-restart\n"),
            &[],
            now(),
            &cfg(),
        );
        assert_eq!((o.status, phase), (Status::Starting, Some(Phase::Starting)));

        let (o, _, _) = judge(
            &props("ActiveState=failed\nSubState=failed\nResult=start-limit-hit\n"),
            &[],
            now(),
            &cfg(),
        );
        assert_eq!(o.status, Status::Crit);
        assert!(
            o.message.contains("journalctl --user -u grokmon -n 100"),
            "{}",
            o.message
        );

        // A crash loop as systemd 252 reports it: Result keeps the crash.
        let (o, _, _) = judge(
            &props(
                "ActiveState=failed\nSubState=failed\nResult=signal\nRestart=on-failure\nRestartPreventExitStatus=78\nExecMainCode=2\nExecMainStatus=9\nNRestarts=4\nStartLimitBurst=5\nStartLimitIntervalUSec=10min\n",
            ),
            &[],
            now(),
            &cfg(),
        );
        assert_eq!(o.status, Status::Crit);
        assert!(o.message.contains("systemd gave up"), "{}", o.message);
        assert!(o.message.contains("reset-failed grokmon"), "{}", o.message);

        // A configuration error: failed, not given up.
        let (o, _, _) = judge(
            &props(
                "ActiveState=failed\nSubState=failed\nResult=exit-code\nRestart=on-failure\nRestartPreventExitStatus=78\nExecMainCode=1\nExecMainStatus=78\nNRestarts=1\n",
            ),
            &[],
            now(),
            &cfg(),
        );
        assert_eq!(o.status, Status::Crit);
        assert!(!o.message.contains("gave up"), "{}", o.message);
        assert!(
            o.message.contains("exited with status 78")
                && o.message.contains("configuration error"),
            "{}",
            o.message
        );

        let (o, _, _) = judge(
            &props("LoadState=not-found\nActiveState=inactive\n"),
            &[],
            now(),
            &cfg(),
        );
        assert_eq!(o.status, Status::Warn);
    }

    #[test]
    fn restart_loop_and_memory_limit() {
        let hist = vec![
            (now() - chrono::Duration::minutes(50), 1.0),
            (now() - chrono::Duration::minutes(20), 4.0),
        ];
        let (o, _, _) = judge(
            &props("ActiveState=active\nSubState=running\nNRestarts=8\n"),
            &hist,
            now(),
            &cfg(),
        );
        assert_eq!(o.status, Status::Crit, "{}", o.message);
        assert!(o.message.contains("7 automatic restarts"), "{}", o.message);

        let (o, _, _) = judge(
            &props(
                "ActiveState=active\nSubState=running\nMemoryCurrent=460000000\nMemoryMax=500000000\n",
            ),
            &[],
            now(),
            &cfg(),
        );
        assert_eq!(o.status, Status::Crit, "{}", o.message);
        let (o, _, _) = judge(
            &props(
                "ActiveState=active\nSubState=running\nMemoryCurrent=460000000\nMemoryMax=infinity\n",
            ),
            &[],
            now(),
            &cfg(),
        );
        assert_eq!(o.status, Status::Ok, "{}", o.message);
    }
}
