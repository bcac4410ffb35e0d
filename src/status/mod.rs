//! `grokmon status`: one screen for a person. The service's state and
//! uptime, restarts in the last hour and day, the last check and each
//! probe's status, unreviewed alerts, the newest backup, and 24 h trends from
//! the samples `check` stores, as sparklines, with the disk-full forecast.
//!
//! It reads only: gathering (`gather`) collects facts and says what could not
//! be known (no state database yet, no systemd); rendering is pure. A missing
//! piece never fails the command: it is reported as unknown.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

mod gather;
mod render;

pub use gather::{gather, sparkline};
pub use render::human;

use crate::Ctx;
use crate::cli::StatusArgs;
use crate::probe::Status;

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
    #[serde(serialize_with = "crate::probe::ser_escaped")]
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
    /// The active silences, one line each (`grokmon alerts silence --list`).
    pub silences: Vec<String>,
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
