//! The status page at `/` of `grokmon run`: health at a glance, every sensor
//! with its 24 h chart, the recent alerts, the last check, the newest backup
//! and the last AI decision, as one self-contained HTML answer.
//!
//! Read-only and cheap for the API: the database, the alerts log, the state
//! database and the backups directory are read on the blocking pool, one
//! render at a time (`Page::gate`), so that a slow disk or many page
//! requests never hold the runtime thread that answers `/api/health`. A
//! render that cannot start or finish in time answers 503 at once instead
//! of piling up connections.

pub mod chart;
pub mod html;
pub mod sources;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::hub::{Hub, Phase, lock};
use crate::alerts::read::{self, Entry, Filter};
use crate::alerts::{AlertLog, sanitize};
use crate::state::{Read as _, State as StateDb, keys};

/// How many alert lines are shown: `alerts tail`'s default.
pub const ALERT_LINES: usize = 20;
/// Unreviewed alerts are counted up to this many ("1000+"): counting a whole
/// unreviewed log would read all of it on every refresh.
pub const UNREVIEWED_CAP: usize = 1000;
/// A page request waits this long for the render before it answers 503.
const WAIT: Duration = Duration::from_secs(10);

/// The headers every answer of `/` carries.
fn headers(ct: &'static str) -> [(header::HeaderName, &'static str); 6] {
    [
        (header::CONTENT_TYPE, ct),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, html::csp()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ]
}

fn busy(why: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        headers("text/plain; charset=utf-8"),
        format!("the status page is busy ({why}); /api/health answers meanwhile\n"),
    )
        .into_response()
}

/// `GET /`.
pub async fn handler(State(hub): State<Arc<Hub>>) -> Response {
    let gate = hub.page.gate();
    let permit = match tokio::time::timeout(WAIT, gate.acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => return busy("another render is still running"),
    };
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        html::render(&gather(&hub, Utc::now(), Instant::now()))
    });
    match tokio::time::timeout(WAIT, task).await {
        Ok(Ok(body)) => (StatusCode::OK, headers("text/html; charset=utf-8"), body).into_response(),
        Ok(Err(_)) => busy("the render failed"),
        Err(_) => busy("reading took too long"),
    }
}

/// Health at a glance, as `/api/health` judges it.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// healthy, degraded, starting, stopping.
    pub status: &'static str,
    /// What is wrong, one line each (already sanitized).
    pub problems: Vec<String>,
    pub uptime: Duration,
    pub sensors_ok: usize,
    pub sensors_total: usize,
    pub store_ok: bool,
    pub queued: usize,
    /// off, ok, failing.
    pub ai: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SensorView {
    pub name: String,
    pub unit: String,
    pub value: Option<f64>,
    pub age: Option<Duration>,
    /// ok, pending, stale, failing.
    pub status: &'static str,
    pub failures: u32,
    pub error: Option<String>,
    pub interval: Duration,
    pub chart: chart::Chart,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    /// The last lines, oldest first.
    pub lines: Vec<Entry>,
    /// Events after the review mark (capped at `UNREVIEWED_CAP` + 1).
    pub unreviewed: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub name: String,
    pub status: String,
    pub message: String,
    /// Not updated by the last check (history, not the current state).
    pub old: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub at: DateTime<Utc>,
    pub probes: Vec<Probe>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub name: String,
    pub time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub time: String,
    pub model: String,
    pub summary: String,
    pub dry_run: bool,
    /// (name, status, reason).
    pub actions: Vec<(String, String, String)>,
}

/// Everything the page shows. Each part read from a file is a `Result`: a
/// part that cannot be read says why, and the rest is still shown.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub now: DateTime<Utc>,
    pub host: String,
    pub health: Health,
    pub sensors: Vec<SensorView>,
    /// `Ok(false)`: no database yet.
    pub history: Result<bool, String>,
    pub alerts: Result<Alerts, String>,
    /// `Ok(None)`: no check has run yet.
    pub check: Result<Option<Check>, String>,
    pub backup: Result<Option<Backup>, String>,
    /// `None` when the AI is off.
    pub ai: Option<Option<Decision>>,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| sanitize(h.trim()))
        .unwrap_or_default()
}

/// Collects the view (blocking: runs on the blocking pool). Never fails.
pub fn gather(hub: &Hub, now: DateTime<Utc>, mono: Instant) -> View {
    let sensors_state = lock(&hub.sensors).clone();
    let store = lock(&hub.store).clone();
    let ai = lock(&hub.ai).clone();
    let names: Vec<String> = sensors_state.keys().cloned().collect();
    let history = lock(hub.page.history())
        .update(hub.page.database(), &names, now.timestamp_millis())
        .map_err(|e| sanitize(&e));

    let mut problems = Vec::new();
    let mut sensors = Vec::new();
    let mut ok = 0;
    {
        let h = lock(hub.page.history());
        for (name, s) in &sensors_state {
            let timeout = hub.timeout(name);
            let status = s.status(mono, timeout);
            let error = s.last_error.as_deref().map(sanitize);
            if matches!(status, "ok" | "pending") {
                ok += 1;
            } else {
                problems.push(format!(
                    "sensor {name} {status}: {}",
                    error.as_deref().unwrap_or("no reading for too long")
                ));
            }
            let series = h.series(name).cloned().unwrap_or_default();
            sensors.push(SensorView {
                name: name.clone(),
                unit: s.unit.as_deref().map(sanitize).unwrap_or_default(),
                value: s.value,
                age: s.updated.map(|(t, _)| mono.saturating_duration_since(t)),
                status,
                failures: s.failures,
                error,
                interval: s.interval,
                chart: chart::draw(
                    &series,
                    now.timestamp_millis(),
                    s.interval * 2 + timeout + Duration::from_secs(60),
                ),
            });
        }
    }
    let store_ok = store.open && store.failures == 0;
    if !store_ok {
        problems.push(format!(
            "store failing: {}",
            store
                .last_error
                .as_deref()
                .map(sanitize)
                .unwrap_or_else(|| "not open yet".into())
        ));
    }
    // As /api/health: sensors and store decide; a failing AI is listed,
    // but monitoring goes on without it.
    let status = match hub.phase() {
        Phase::Starting => "starting",
        Phase::Stopping => "stopping",
        Phase::Running if problems.is_empty() => "healthy",
        Phase::Running => "degraded",
    };
    let ai_state = match (hub.ai_enabled, ai.failures) {
        (false, _) => "off",
        (true, 0) => "ok",
        (true, _) => "failing",
    };
    if ai_state == "failing" {
        problems.push(format!(
            "ai failing ({} attempts): {}",
            ai.failures,
            ai.last_error.as_deref().map(sanitize).unwrap_or_default()
        ));
    }
    let health = Health {
        status,
        problems,
        uptime: hub.started.elapsed(),
        sensors_ok: ok,
        sensors_total: sensors_state.len(),
        store_ok,
        queued: hub.queue.len(),
        ai: ai_state,
    };

    let (check, acked) = read_state(hub.page.state());
    View {
        now,
        host: host(),
        health,
        sensors,
        history,
        alerts: read_alerts(&hub.alerts, acked),
        check,
        backup: newest_backup(hub.page.backups(), now),
        ai: hub
            .ai_enabled
            .then(|| ai.last_decision.as_ref().map(decision)),
    }
}

/// The last check and the review mark, from the state database.
fn read_state(path: &std::path::Path) -> (Result<Option<Check>, String>, Option<DateTime<Utc>>) {
    let st = match StateDb::open_existing(path) {
        Ok(Some(st)) => st,
        Ok(None) => return (Ok(None), None),
        Err(e) => return (Err(sanitize(&crate::text::chain(&e))), None),
    };
    let r = st.read();
    let acked = r.get_time(keys::ACKED_UNTIL).ok().flatten();
    let check = (|| {
        let Some(at) = r.get_time(keys::LAST_CHECK)? else {
            return Ok(None);
        };
        let probes = r
            .probe_rows()?
            .into_iter()
            .map(|p| Probe {
                name: sanitize(&match &p.target {
                    Some(t) => format!("{} {t}", p.probe),
                    None => p.probe.clone(),
                }),
                status: sanitize(&p.status),
                message: sanitize(&p.message),
                old: p.checked_at != at,
            })
            .collect();
        Ok(Some(Check { at, probes }))
    })()
    .map_err(|e: crate::state::StateError| sanitize(&crate::text::chain(&e)));
    (check, acked)
}

/// The last lines of the alerts log, read as `alerts tail` reads them, and
/// the events after the review mark.
fn read_alerts(log: &AlertLog, acked: Option<DateTime<Utc>>) -> Result<Alerts, String> {
    let read = || -> std::io::Result<Alerts> {
        let files = read::open_files(log)?;
        let lines = read::last_entries(&files, (0, 0), &Filter::default(), ALERT_LINES)?;
        // Lines have whole seconds: "after the mark" is "at or after it + 1 s".
        let from = acked.map(|t| t + chrono::Duration::seconds(1));
        let filter = Filter {
            from,
            ..Filter::default()
        };
        let start = read::locate(&files, from)?;
        let unreviewed = read::last_entries(&files, start, &filter, UNREVIEWED_CAP + 1)?.len();
        Ok(Alerts {
            lines,
            unreviewed: Some(unreviewed),
        })
    };
    read().map_err(|e| {
        sanitize(&format!(
            "cannot read alerts log {}: {e}",
            log.path().display()
        ))
    })
}

/// The newest backup not dated in the future.
fn newest_backup(dir: &std::path::Path, now: DateTime<Utc>) -> Result<Option<Backup>, String> {
    match crate::backup::naming::list(dir) {
        Ok(list) => Ok(list.into_iter().find(|b| b.time <= now).map(|b| Backup {
            name: b
                .path
                .file_name()
                .map(|n| sanitize(&n.to_string_lossy()))
                .unwrap_or_default(),
            time: b.time,
        })),
        Err(e) => Err(sanitize(&format!("cannot list backups: {e}"))),
    }
}

fn decision(v: &serde_json::Value) -> Decision {
    let s = |k: &str| sanitize(v[k].as_str().unwrap_or_default());
    Decision {
        time: s("time"),
        model: s("model"),
        summary: s("summary"),
        dry_run: v["dry_run"].as_bool().unwrap_or(false),
        actions: v["actions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        let f = |k: &str| sanitize(x[k].as_str().unwrap_or_default());
                        (f("name"), f("status"), f("reason"))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(dir: &std::path::Path) -> Hub {
        let env = crate::config::Env {
            home: Some(dir.to_path_buf()),
            ..Default::default()
        };
        let text = format!(
            "[paths]\nalerts_log = \"{}\"\n[ai]\nenabled = true\n[[sensor]]\nname = \"t\"\nkind = \"sim\"\n[[sensor]]\nname = \"h\"\nkind = \"sim\"\n",
            dir.join("alerts.log").display()
        );
        let cfg =
            crate::config::Config::parse(&text, crate::config::Source::Defaults, &env).unwrap();
        let hub = Hub::new(&cfg, 10);
        hub.set_phase(Phase::Running);
        lock(&hub.store).open = true;
        for s in lock(&hub.sensors).values_mut() {
            s.value = Some(20.0);
            s.updated = Some((Instant::now(), Utc::now()));
            s.reads_total = 1;
        }
        hub
    }

    #[test]
    fn health_is_judged_as_the_api_judges_it() {
        let d = tempfile::tempdir().unwrap();
        let hub = hub(d.path());
        let v = gather(&hub, Utc::now(), Instant::now());
        assert_eq!((v.health.status, v.health.sensors_ok), ("healthy", 2));
        assert_eq!(v.ai, Some(None), "AI on, no decision yet");
        assert_eq!(v.history, Ok(false), "no database yet");
        assert_eq!(v.check, Ok(None));
        assert_eq!(v.backup, Ok(None));
        // A failing AI is shown, but does not make the service degraded.
        {
            let mut ai = lock(&hub.ai);
            ai.failures = 2;
            ai.last_error = Some("timed out".into());
        }
        let v = gather(&hub, Utc::now(), Instant::now());
        assert_eq!((v.health.status, v.health.ai), ("healthy", "failing"));
        assert_eq!(v.health.problems, ["ai failing (2 attempts): timed out"]);
        // A failing sensor does, with its error.
        {
            let mut sensors = lock(&hub.sensors);
            let h = sensors.get_mut("h").unwrap();
            h.failures = 1;
            h.last_error = Some("bus \u{1b}[31merror".into());
        }
        let v = gather(&hub, Utc::now(), Instant::now());
        assert_eq!(v.health.status, "degraded");
        assert_eq!(v.health.problems[0], "sensor h stale: bus \\x1b[31merror");
        let h = v.sensors.iter().find(|s| s.name == "h").unwrap();
        assert_eq!((h.status, h.value), ("stale", Some(20.0)));
    }
}
