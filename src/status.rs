//! `grokmon status`: one screen for a person. The service's state and
//! uptime, restarts in the last hour and day, the last check and each
//! probe's status, unreviewed alerts, the newest backup, and 24 h trends from
//! the samples `check` stores, as sparklines, with the disk-full forecast.
//!
//! It reads only: gathering (`gather`) collects facts and says what could not
//! be known (no state database yet, no systemd); rendering is pure. A missing
//! piece never fails the command: it is reported as unknown.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::Ctx;
use crate::alerts::{AlertLog, Event, events_after, sanitize};
use crate::cli::StatusArgs;
use crate::config::{Config, Scope};
use crate::forecast::{self, Forecast};
use crate::probe::{Status, human_bytes, human_duration, service};
use crate::state::{Read as _, State, keys};
use crate::systemd::{Systemctl, SystemctlError, parse_unix_timestamp};

/// How many recent unreviewed alerts are listed.
const LAST_ALERTS: usize = 5;
/// Sparkline width: one cell per hour of the last day.
const CELLS: usize = 24;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> Duration {
    (now - t).to_std().unwrap_or_default()
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceInfo {
    pub unit: String,
    pub scope: &'static str,
    /// ActiveState (active, failed…); none when systemd could not be asked.
    pub state: Option<String>,
    pub sub_state: Option<String>,
    pub active_since: Option<String>,
    pub uptime_seconds: Option<u64>,
    pub main_pid: Option<u32>,
    pub restarts_last_hour: Option<u64>,
    pub restarts_last_day: Option<u64>,
    /// Why something is unknown (no systemd, unit not installed).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeInfo {
    pub probe: String,
    pub target: Option<String>,
    pub status: String,
    pub message: String,
    pub checked_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertInfo {
    pub ts: String,
    pub level: &'static str,
    pub source: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alerts {
    pub log: String,
    /// Events after the review mark (all events when nothing was reviewed).
    pub unreviewed: Option<usize>,
    pub reviewed_until: Option<String>,
    /// The newest unreviewed ones, oldest first.
    pub last: Vec<AlertInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub dir: String,
    pub count: usize,
    pub newest: Option<String>,
    pub newest_time: Option<String>,
    pub newest_age_seconds: Option<u64>,
    /// The directory could not be listed: "none yet" would not be true.
    #[serde(skip)]
    pub unreadable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    /// The sample name (`load_per_core`, `memory`, `disk:/`, `database_bytes`).
    pub metric: String,
    pub label: String,
    pub unit: &'static str,
    pub samples: usize,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub last: Option<f64>,
    pub sparkline: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskForecast {
    pub mountpoint: String,
    pub status: Status,
    pub message: String,
    pub days_to_full: Option<f64>,
}

/// Everything the screen shows; `--json` prints this.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub now: String,
    pub service: ServiceInfo,
    pub last_check: Option<String>,
    pub last_check_age_seconds: Option<u64>,
    /// Set when no check ran for 3 × `check.interval` (the timer stopped?).
    pub checks_stopped: Option<String>,
    pub probes: Vec<ProbeInfo>,
    pub alerts: Alerts,
    pub backups: BackupInfo,
    pub trends: Vec<Trend>,
    pub forecasts: Vec<DiskForecast>,
    /// What could not be known, for a person.
    pub unknown: Vec<String>,
    /// The state database exists but could not be read: "no check has run
    /// yet" would not be true.
    #[serde(skip)]
    pub state_unreadable: bool,
}

/// Renders a sparkline of `samples` (oldest first) over `[now - span, now]`:
/// each cell is the mean of its samples, scaled between the minimum and the
/// maximum; a cell without samples is a space. Flat data is a flat line.
pub fn sparkline(
    samples: &[(DateTime<Utc>, f64)],
    now: DateTime<Utc>,
    span: Duration,
    cells: usize,
) -> String {
    let span_s = span.as_secs_f64().max(1.0);
    let mut sums = vec![(0.0f64, 0usize); cells];
    for (t, v) in samples.iter().filter(|(_, v)| v.is_finite()) {
        let back = (now - *t).num_seconds() as f64;
        if back < 0.0 || back > span_s {
            continue;
        }
        let i = (((span_s - back) / span_s) * cells as f64) as usize;
        let c = &mut sums[i.min(cells - 1)];
        c.0 += v;
        c.1 += 1;
    }
    let means: Vec<Option<f64>> = sums
        .iter()
        .map(|(s, n)| (*n > 0).then(|| s / *n as f64))
        .collect();
    let (lo, hi) = means
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    means
        .iter()
        .map(|m| match m {
            None => ' ',
            Some(_) if hi - lo < 1e-9 => BARS[3],
            Some(v) => {
                let k = ((v - lo) / (hi - lo) * (BARS.len() - 1) as f64).round() as usize;
                BARS[k.min(BARS.len() - 1)]
            }
        })
        .collect()
}

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::User => "user",
        Scope::System => "system",
    }
}

/// Asks systemd about the unit; restarts come from the NRestarts history.
fn service_info(cfg: &Config, now: DateTime<Utc>, st: Option<&State>) -> ServiceInfo {
    let mut info = ServiceInfo {
        unit: cfg.service.unit.clone(),
        scope: scope_name(cfg.service.scope),
        state: None,
        sub_state: None,
        active_since: None,
        uptime_seconds: None,
        main_pid: None,
        restarts_last_hour: None,
        restarts_last_day: None,
        note: None,
    };
    let mut current: Option<u64> = None;
    match Systemctl::new(cfg.service.scope).show(&cfg.service.unit, service::PROPS) {
        Ok(p) => {
            let get = |k: &str| p.get(k).filter(|v| !v.is_empty()).cloned();
            if get("LoadState").as_deref() == Some("not-found") {
                info.note = Some(format!(
                    "unit {} not found: is it installed? (grokmon units install)",
                    cfg.service.unit
                ));
            } else {
                info.state = get("ActiveState").map(|s| sanitize(&s));
                info.sub_state = get("SubState").map(|s| sanitize(&s));
                if info.state.as_deref() == Some("active") {
                    let since =
                        parse_unix_timestamp(&get("ActiveEnterTimestamp").unwrap_or_default());
                    info.active_since = since.map(ts);
                    info.uptime_seconds = since.map(|s| age(now, s).as_secs());
                    info.main_pid = get("MainPID")
                        .and_then(|v| v.parse().ok())
                        .filter(|p| *p > 0);
                }
                current = get("NRestarts").and_then(|v| v.parse().ok());
            }
        }
        Err(SystemctlError::Unavailable(note)) => {
            info.note = Some(format!("no systemd: {note}"));
        }
        Err(e) => info.note = Some(format!("{e}")),
    }
    if let Some(st) = st {
        let r = st.read();
        for (window, slot) in [
            (chrono::Duration::hours(1), &mut info.restarts_last_hour),
            (chrono::Duration::days(1), &mut info.restarts_last_day),
        ] {
            if let Ok(h) = r.samples("service.nrestarts", now - window) {
                // Without systemd now, the newest sample stands for the present.
                let cur = current.or_else(|| h.last().map(|(_, v)| *v as u64));
                if let Some(c) = cur {
                    *slot = Some(service::restarts_in(&h, c));
                }
            }
        }
    }
    info
}

/// Collects the report. Never fails: what cannot be read is listed in `unknown`.
pub fn gather(cfg: &Config, now: DateTime<Utc>) -> Report {
    let mut unknown = Vec::new();
    let mut state_unreadable = false;
    let st = match State::open_existing(&cfg.paths.state) {
        Ok(Some(s)) => Some(s),
        Ok(None) => {
            unknown.push(format!(
                "no state database at {} yet (no check has run): last check, probe results, restarts, trends and the review mark are unknown; run `grokmon check`",
                cfg.paths.state.display()
            ));
            None
        }
        Err(e) => {
            unknown.push(format!("{e}"));
            state_unreadable = true;
            None
        }
    };
    let service = service_info(cfg, now, st.as_ref());
    if let Some(n) = &service.note {
        unknown.push(format!("service state: {n}"));
    }

    let (mut last_check, mut probes, mut acked, mut trends, mut forecasts) =
        (None, Vec::new(), None, Vec::new(), Vec::new());
    if let Some(st) = &st {
        let r = st.read();
        let mut note = |what: &str, e: crate::state::StateError| {
            unknown.push(format!("{what}: {e}"));
        };
        match r.get_time(keys::LAST_CHECK) {
            Ok(t) => last_check = t,
            Err(e) => note("last check", e),
        }
        match r.get_time(keys::ACKED_UNTIL) {
            Ok(t) => acked = t,
            Err(e) => note("review mark", e),
        }
        let rows = match r.probe_rows() {
            Ok(rows) => rows,
            Err(e) => {
                note("probe results", e);
                Vec::new()
            }
        };
        let disks: Vec<String> = rows
            .iter()
            .filter(|r| r.probe == "disk")
            .filter_map(|r| r.target.clone())
            .collect();
        probes = rows
            .into_iter()
            .map(|r| ProbeInfo {
                probe: r.probe,
                target: r.target,
                status: r.status,
                message: r.message,
                checked_at: ts(r.checked_at),
            })
            .collect();
        let day = now - chrono::Duration::days(1);
        let mut metrics: Vec<(String, String, &'static str)> = vec![
            ("load_per_core".into(), "load/core".into(), ""),
            ("cpu".into(), "cpu".into(), "%"),
            ("memory".into(), "memory".into(), "%"),
        ];
        for d in &disks {
            metrics.push((format!("disk:{d}"), format!("disk {d}"), "%"));
        }
        metrics.push(("database_bytes".into(), "database".into(), "B"));
        for (metric, label, unit) in metrics {
            let s = match r.samples(&metric, day) {
                Ok(s) => s,
                Err(e) => {
                    note("trends", e);
                    break;
                }
            };
            let vals = s.iter().map(|(_, v)| *v).filter(|v| v.is_finite());
            trends.push(Trend {
                sparkline: sparkline(&s, now, Duration::from_secs(86400), CELLS),
                metric,
                label,
                unit,
                samples: s.len(),
                min: vals.clone().reduce(f64::min),
                max: vals.reduce(f64::max),
                last: s.last().map(|(_, v)| *v),
            });
        }
        let window = chrono::Duration::from_std(forecast::WINDOW.min(cfg.check.keep_samples))
            .unwrap_or(chrono::Duration::days(7));
        for d in &disks {
            if let Ok(s) = r.samples(&format!("disk:{d}"), now - window) {
                let f = forecast::fit(&s, now);
                let o = forecast::judge(d, &f, cfg.check.forecast_horizon);
                forecasts.push(DiskForecast {
                    mountpoint: d.clone(),
                    status: o.status,
                    message: o.message,
                    days_to_full: match f {
                        Forecast::Full { within, .. } => Some(within.as_secs_f64() / 86400.0),
                        _ => None,
                    },
                });
            }
        }
    }

    let log = AlertLog::from_config(cfg);
    let alerts = match events_after(&log, acked, LAST_ALERTS) {
        Ok((n, last)) => Alerts {
            log: log.path().display().to_string(),
            unreviewed: Some(n),
            reviewed_until: acked.map(ts),
            last: last.iter().map(alert_info).collect(),
        },
        Err(e) => {
            unknown.push(format!(
                "alerts log {}: {}",
                log.path().display(),
                sanitize(&e.to_string())
            ));
            Alerts {
                log: log.path().display().to_string(),
                unreviewed: None,
                reviewed_until: acked.map(ts),
                last: Vec::new(),
            }
        }
    };

    let backups = match crate::backup::naming::list(&cfg.paths.backups) {
        Ok(list) => {
            // As in `check`: one dated in the future (clock trouble) is not
            // the newest backup, and not "0s old".
            for b in list.iter().take_while(|b| b.time > now) {
                unknown.push(format!(
                    "backup {} is dated in the future ({}): check the clock",
                    b.path.display(),
                    ts(b.time)
                ));
            }
            let newest = list.iter().find(|b| b.time <= now);
            BackupInfo {
                dir: cfg.paths.backups.display().to_string(),
                count: list.len(),
                newest: newest.map(|b| b.path.display().to_string()),
                newest_time: newest.map(|b| ts(b.time)),
                newest_age_seconds: newest.map(|b| age(now, b.time).as_secs()),
                unreadable: false,
            }
        }
        Err(e) => {
            unknown.push(format!(
                "backups in {}: {}",
                cfg.paths.backups.display(),
                sanitize(&e.to_string())
            ));
            BackupInfo {
                dir: cfg.paths.backups.display().to_string(),
                count: 0,
                newest: None,
                newest_time: None,
                newest_age_seconds: None,
                unreadable: true,
            }
        }
    };

    Report {
        now: ts(now),
        service,
        last_check: last_check.map(ts),
        last_check_age_seconds: last_check.map(|t| age(now, t).as_secs()),
        checks_stopped: last_check.and_then(|t| {
            crate::check::stopped::overdue(Some(t), t, now, cfg.check.interval).map(|a| {
                crate::check::stopped::message(a, cfg.check.interval, Some(t), cfg.service.scope)
            })
        }),
        probes,
        alerts,
        backups,
        trends,
        forecasts,
        unknown,
        state_unreadable,
    }
}

fn alert_info(e: &Event) -> AlertInfo {
    AlertInfo {
        ts: ts(e.ts),
        level: e.level.as_str(),
        source: e.source.clone(),
        message: e.message.clone(),
    }
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("{code}{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn status_colour(s: &str) -> &'static str {
    match s {
        "ok" | "active" => "\x1b[32m",
        "warn" | "starting" | "activating" | "deactivating" | "reloading" => "\x1b[33m",
        "crit" | "failed" | "inactive" => "\x1b[31m",
        _ => "\x1b[2m",
    }
}

fn level_colour(l: &str) -> &'static str {
    match l {
        "CRIT" => "\x1b[31m",
        "WARN" => "\x1b[33m",
        "OK" => "\x1b[32m",
        _ => "",
    }
}

fn value(v: f64, unit: &str) -> String {
    match unit {
        "B" => human_bytes(v),
        "%" => format!("{v:.0}%"),
        _ => format!("{v:.2}"),
    }
}

/// The screen (pure).
pub fn human(r: &Report, color: bool) -> String {
    let mut o = String::new();
    let bold = |t: &str| paint(color, "\x1b[1m", t);
    let _ = writeln!(o, "{} at {}", bold("grokmon status"), r.now);

    // Service.
    let s = &r.service;
    let _ = write!(o, "\n{}  {} ({})", bold("service"), s.unit, s.scope);
    match &s.state {
        Some(state) => {
            let sub = s
                .sub_state
                .as_deref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default();
            let _ = write!(o, ": {}{sub}", paint(color, status_colour(state), state));
            if let Some(u) = s.uptime_seconds {
                let _ = write!(o, ", up {}", human_duration(Duration::from_secs(u)));
            }
            if let Some(p) = s.main_pid {
                let _ = write!(o, ", pid {p}");
            }
            o.push('\n');
        }
        None => {
            let _ = writeln!(
                o,
                ": unknown ({})",
                s.note.as_deref().unwrap_or("not asked")
            );
        }
    }
    let n = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    let _ = writeln!(
        o,
        "  restarts: {} in the last hour, {} in the last day",
        n(s.restarts_last_hour),
        n(s.restarts_last_day)
    );

    // Checks.
    match (&r.last_check, r.last_check_age_seconds) {
        (Some(t), Some(a)) => {
            let _ = writeln!(
                o,
                "\n{}  last check {} ago ({t})",
                bold("checks"),
                human_duration(Duration::from_secs(a))
            );
            if let Some(m) = &r.checks_stopped {
                let _ = writeln!(o, "  WARN {m}");
            }
        }
        _ if r.state_unreadable => {
            let _ = writeln!(
                o,
                "\n{}  unknown (state database unreadable)",
                bold("checks")
            );
        }
        _ => {
            let _ = writeln!(o, "\n{}  no check has run yet", bold("checks"));
        }
    }
    let width = r
        .probes
        .iter()
        .map(|p| p.probe.len() + p.target.as_ref().map_or(0, |t| t.chars().count() + 1))
        .max()
        .unwrap_or(0);
    for p in &r.probes {
        let label = match &p.target {
            Some(t) => format!("{} {t}", p.probe),
            None => p.probe.clone(),
        };
        let st = format!("{:<8}", p.status.to_uppercase());
        // A row the last check did not update (a probe taken out of
        // check.probes, a filesystem no longer used, kept while alerted)
        // is history, not the current state.
        let stale = match &r.last_check {
            Some(lc) if *lc != p.checked_at => {
                format!(" (not in the last check; as of {})", p.checked_at)
            }
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "  {label:<width$}  {}  {}{stale}",
            paint(color, status_colour(&p.status), &st),
            sanitize(&p.message)
        );
    }

    // Alerts.
    let a = &r.alerts;
    match a.unreviewed {
        Some(0) => {
            let _ = writeln!(o, "\n{}  no unreviewed alerts", bold("alerts"));
        }
        Some(k) => {
            let _ = writeln!(
                o,
                "\n{}  {} unreviewed (grokmon alerts tail --unreviewed; grokmon alerts ack)",
                bold("alerts"),
                paint(color, "\x1b[33m", &k.to_string())
            );
        }
        None => {
            let _ = writeln!(
                o,
                "\n{}  unknown (log {} unreadable)",
                bold("alerts"),
                a.log
            );
        }
    }
    for e in &a.last {
        let line = format!(
            "{} {:<4} {}: {}",
            e.ts,
            e.level,
            e.source,
            sanitize(&e.message)
        );
        let _ = writeln!(
            o,
            "  {}",
            paint(
                color && !level_colour(e.level).is_empty(),
                level_colour(e.level),
                &line
            )
        );
    }

    // Backups.
    let b = &r.backups;
    match (&b.newest, b.newest_age_seconds) {
        (Some(p), Some(a)) => {
            let name = std::path::Path::new(p)
                .file_name()
                .map_or(p.clone(), |n| n.to_string_lossy().into_owned());
            let _ = writeln!(
                o,
                "\n{}  newest {name}, {} old ({} in {})",
                bold("backups"),
                human_duration(Duration::from_secs(a)),
                b.count,
                b.dir
            );
        }
        _ if b.unreadable => {
            let _ = writeln!(o, "\n{}  unknown ({} unreadable)", bold("backups"), b.dir);
        }
        _ => {
            let _ = writeln!(
                o,
                "\n{}  none yet in {} (grokmon backup)",
                bold("backups"),
                b.dir
            );
        }
    }

    // Trends.
    if !r.trends.is_empty() {
        let _ = writeln!(o, "\n{}  last 24 h", bold("trends"));
        let width = r
            .trends
            .iter()
            .map(|t| t.label.chars().count())
            .max()
            .unwrap_or(0);
        for t in &r.trends {
            match (t.min, t.max, t.last) {
                (Some(lo), Some(hi), Some(last)) => {
                    let _ = write!(
                        o,
                        "  {:<width$}  {}  now {}, {}–{}",
                        t.label,
                        t.sparkline,
                        value(last, t.unit),
                        value(lo, t.unit),
                        value(hi, t.unit)
                    );
                }
                _ => {
                    let _ = write!(o, "  {:<width$}  {:<CELLS$}  no samples", t.label, "");
                }
            }
            if let Some(mp) = t.metric.strip_prefix("disk:")
                && let Some(f) = r.forecasts.iter().find(|f| f.mountpoint == mp)
                && f.days_to_full.is_some()
            {
                let text = f
                    .message
                    .trim_start_matches(&format!("disk {mp}: "))
                    .to_string();
                let text = if f.status == Status::Warn {
                    paint(color, "\x1b[33m", &text)
                } else {
                    text
                };
                let _ = write!(o, "  {text}");
            }
            o.push('\n');
        }
    }
    for f in r.forecasts.iter().filter(|f| f.status == Status::Warn) {
        let _ = writeln!(
            o,
            "\n{}  {}",
            paint(color, "\x1b[33m", "forecast"),
            f.message
        );
    }

    if !r.unknown.is_empty() {
        let _ = writeln!(o, "\n{}", bold("unknown"));
        for u in &r.unknown {
            let _ = writeln!(o, "  {}", sanitize(u));
        }
    }
    o
}

pub fn run(args: &StatusArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let report = gather(&ctx.config, ctx.now);
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&report)?;
        s.push('\n');
        s
    } else {
        human(&report, ctx.color)
    };
    crate::print_stdout(&text)?;
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn sparkline_scales_buckets_and_leaves_gaps() {
        let h = |n: i64| now() - chrono::Duration::hours(n);
        // One sample in the middle of each hour.
        let s: Vec<_> = (0..24)
            .map(|i| {
                (
                    now() - chrono::Duration::minutes(60 * (24 - i) - 30),
                    i as f64,
                )
            })
            .collect();
        let line = sparkline(&s, now(), Duration::from_secs(86400), 24);
        assert_eq!(line.chars().count(), 24);
        assert_eq!(line.chars().next(), Some('▁'));
        assert_eq!(line.chars().last(), Some('█'));
        // Flat data is a flat line; missing hours are blank.
        let flat = [(h(20), 5.0), (h(1), 5.0)];
        let line = sparkline(&flat, now(), Duration::from_secs(86400), 24);
        assert_eq!(line.chars().filter(|c| *c == '▄').count(), 2);
        assert_eq!(line.chars().filter(|c| *c == ' ').count(), 22);
        assert_eq!(sparkline(&[], now(), Duration::from_secs(86400), 4), "    ");
        // Out-of-window and non-finite samples are ignored.
        let odd = [(h(48), 1e9), (h(2), f64::NAN), (h(1), 1.0)];
        assert_eq!(sparkline(&odd, now(), Duration::from_secs(86400), 2), " ▄");
    }
}
