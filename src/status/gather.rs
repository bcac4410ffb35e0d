//! Gathering for `status`: reads the state database, systemd, the alerts log
//! and the backup directory, and says what could not be known.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::alerts::{AlertLog, Event};
use crate::config::Config;
use crate::forecast::{self, Forecast};
use crate::probe::service;
use crate::state::{Read as _, State, keys};
use crate::systemd::{Systemctl, SystemctlError, parse_unix_timestamp};
use crate::text::{chain, sanitize};

use super::*;

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

/// Asks systemd about the unit; restarts come from the NRestarts history.
fn service_info(cfg: &Config, now: DateTime<Utc>, st: Option<&State>) -> ServiceInfo {
    let mut info = ServiceInfo {
        unit: cfg.service.unit.clone(),
        scope: cfg.service.scope.as_str(),
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
        Err(e) => info.note = Some(chain(&e)),
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
            unknown.push(chain(&e));
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
    let mut silences = Vec::new();
    if let Some(st) = &st {
        let r = st.read();
        match crate::alerts::silence::load(&r) {
            Ok(list) => {
                let text = crate::alerts::silence::render_list(&list, now);
                silences = text
                    .lines()
                    .filter(|l| l.starts_with('#'))
                    .map(String::from)
                    .collect();
            }
            Err(e) => unknown.push(format!("silences: {e}")),
        }
        let mut note = |what: &str, e: crate::state::StateError| {
            unknown.push(format!("{what}: {}", chain(&e)));
        };
        match r.get_time(keys::LAST_CHECK) {
            Ok(t) => last_check = t,
            Err(e) => note("last check", e),
        }
        match crate::alerts::ack::Review::read(&r) {
            Ok(rv) => acked = Some(rv),
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
        let (t, err) = trends_of(&r, &disks, now);
        trends = t;
        if let Some(e) = err {
            note("trends", e);
        }
        forecasts = forecasts_of(&r, &disks, cfg, now);
    }

    let log = AlertLog::from_config(cfg);
    let review = acked.clone().unwrap_or_default();
    let acked = review.until;
    let alerts = match crate::alerts::ack::unreviewed(&log, &review, LAST_ALERTS) {
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

    let backups = backup_info(cfg, now, &mut unknown);

    Report {
        now: ts(now),
        service,
        last_check: last_check.map(ts),
        last_check_age_seconds: last_check.map(|t| age(now, t).as_secs()),
        silences,
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

/// 24 h of samples per metric (load, CPU, memory, each disk, database size)
/// as sparklines with min, max and last. The first unreadable metric ends
/// the list: the trends before it, and its error.
fn trends_of(
    r: &crate::state::Reader<'_>,
    disks: &[String],
    now: DateTime<Utc>,
) -> (Vec<Trend>, Option<crate::state::StateError>) {
    let mut trends = Vec::new();
    let day = now - chrono::Duration::days(1);
    let mut metrics: Vec<(String, String, &'static str)> = vec![
        ("load_per_core".into(), "load/core".into(), ""),
        ("cpu".into(), "cpu".into(), "%"),
        ("memory".into(), "memory".into(), "%"),
    ];
    for d in disks {
        metrics.push((format!("disk:{d}"), format!("disk {d}"), "%"));
    }
    metrics.push(("database_bytes".into(), "database".into(), "B"));
    for (metric, label, unit) in metrics {
        let s = match r.samples(&metric, day) {
            Ok(s) => s,
            Err(e) => return (trends, Some(e)),
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
    (trends, None)
}

/// The disk-full forecast of each disk the last check saw.
fn forecasts_of(
    r: &crate::state::Reader<'_>,
    disks: &[String],
    cfg: &Config,
    now: DateTime<Utc>,
) -> Vec<DiskForecast> {
    let mut forecasts = Vec::new();
    let window = chrono::Duration::from_std(forecast::WINDOW.min(cfg.check.keep_samples))
        .unwrap_or(chrono::Duration::days(7));
    for d in disks {
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
    forecasts
}

/// The backup directory: how many, the newest not dated in the future.
fn backup_info(cfg: &Config, now: DateTime<Utc>, unknown: &mut Vec<String>) -> BackupInfo {
    match crate::backup::naming::list(&cfg.paths.backups) {
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
    }
}
