//! Rendering for `status`: pure, from a gathered `Report` to the screen.

use std::fmt::Write as _;
use std::time::Duration;

use crate::probe::Status;
use crate::text::sanitize;
use crate::text::{ansi, human_bytes, human_duration};

use super::*;

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
    let bold = |t: &str| ansi::paint(color, ansi::BOLD, t);
    let _ = writeln!(o, "{} at {}", bold("grokmon status"), r.now);
    service(&mut o, r, color);
    checks(&mut o, r, color);
    alerts(&mut o, r, color);
    backups(&mut o, r, color);
    trends(&mut o, r, color);
    unknown(&mut o, r, color);
    o
}

/// The service: state, uptime, pid, restarts.
fn service(o: &mut String, r: &Report, color: bool) {
    let bold = |t: &str| ansi::paint(color, ansi::BOLD, t);
    let s = &r.service;
    let _ = write!(o, "\n{}  {} ({})", bold("service"), s.unit, s.scope);
    match &s.state {
        Some(state) => {
            let sub = s
                .sub_state
                .as_deref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default();
            let _ = write!(
                o,
                ": {}{sub}",
                ansi::paint(color, ansi::of_status(state), state)
            );
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
}

/// The last check and each probe's row.
fn checks(o: &mut String, r: &Report, color: bool) {
    let bold = |t: &str| ansi::paint(color, ansi::BOLD, t);
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
            ansi::paint(color, ansi::of_status(&p.status), &st),
            sanitize(&p.message)
        );
    }
}

/// Unreviewed alerts and the last lines.
fn alerts(o: &mut String, r: &Report, color: bool) {
    let bold = |t: &str| ansi::paint(color, ansi::BOLD, t);
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
                ansi::paint(color, ansi::YELLOW, &k.to_string())
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
            ansi::paint(
                color && !ansi::of_status(e.level).is_empty(),
                ansi::of_status(e.level),
                &line
            )
        );
    }
    for s in &r.silences {
        let _ = writeln!(o, "  silenced: {}", sanitize(s));
    }
}

/// The newest backup.
fn backups(o: &mut String, r: &Report, color: bool) {
    let bold = |t: &str| ansi::paint(color, ansi::BOLD, t);
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
}

/// 24 h sparklines with the disk forecast, and forecast warnings.
fn trends(o: &mut String, r: &Report, color: bool) {
    let bold = |t: &str| ansi::paint(color, ansi::BOLD, t);
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
                    ansi::paint(color, ansi::YELLOW, &text)
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
            ansi::paint(color, ansi::YELLOW, "forecast"),
            f.message
        );
    }
}

/// What could not be known.
fn unknown(o: &mut String, r: &Report, color: bool) {
    let bold = |t: &str| ansi::paint(color, ansi::BOLD, t);
    if !r.unknown.is_empty() {
        let _ = writeln!(o, "\n{}", bold("unknown"));
        for u in &r.unknown {
            let _ = writeln!(o, "  {}", sanitize(u));
        }
    }
}
