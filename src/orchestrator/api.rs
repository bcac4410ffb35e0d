//! The health API on `orchestrator.listen`:
//! - `GET /api/health`: healthy or degraded with components, 503 while
//!   starting or stopping, never cached;
//! - `GET /api/status`: the latest readings with age and staleness, with
//!   edge-cache headers so a CDN in front keeps answering during an origin
//!   restart (DESIGN.md, Layer 3); `no-store` while starting, so that no
//!   cache keeps (and serves for a day) a snapshot without readings;
//! - `GET /metrics`: Prometheus text format;
//! - `GET /`: the status page for people (`super::page`).
//!
//! `serve` is its accept loop: `axum::serve` has no header read timeout and
//! no connection limit, so clients that open connections and never finish a
//! request held them (and their file descriptors) forever.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::SecondsFormat;
use serde_json::{Value, json};

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use super::hub::{Hub, Phase, lock};
use super::shutdown::Shutdown;
use crate::text::prom_label;

/// A connection that has not sent a whole request head this long after it
/// opened (or after its previous answer: the idle keep-alive time) is
/// closed. A real client sends its head in milliseconds.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections kept open at once. A new connection beyond it is still
/// accepted and served, and the connection idle the longest is closed
/// (when none is idle, the oldest is closed after its current answer), so
/// that busy or idle keep-alive clients never starve a new one, such as
/// `grokmon check` probing `/api/health`.
pub const MAX_CONNECTIONS: usize = 256;

/// Connections open at once (not counting closing ones) from which even a
/// new connection may be closed for another: a flood of connections that send
/// nothing cannot hold the API.
pub const EVICT_NEW_FROM: usize = 2 * MAX_CONNECTIONS;

/// Descriptors the API may hold at all: beyond this, new connections wait
/// in the kernel's backlog. Below the usual soft `ulimit -n` of 1024, and
/// far above what eviction lets stay open, so that accepting never waits
/// in practice: a queue of thousands of connections in the backlog is what
/// made a fresh client wait there for seconds.
pub const MAX_OPEN: usize = 3 * MAX_CONNECTIONS;

/// The listening socket's accept queue (see `orchestrator::bind`).
pub const LISTEN_BACKLOG: i32 = 4096;

/// An evicted connection has this long to finish its answer (a client that
/// does not read it cannot hold the descriptor).
pub const EVICTED_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Requests answered on one keep-alive connection before it is closed, so
/// that no client holds a slot for ever.
pub const MAX_REQUESTS_PER_CONNECTION: u64 = 1000;

/// A connection this new is not closed for another (unless `EVICT_NEW_FROM`
/// are open): it has not had the time to send its request yet.
pub const EVICT_GRACE: Duration = Duration::from_secs(1);

/// `/api/status` may be served from a cache this long, then revalidated in
/// the background, and served stale for a day while the origin errors.
pub const STATUS_CACHE: &str =
    "public, max-age=10, stale-while-revalidate=60, stale-if-error=86400";

pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/status", get(status))
        .route("/metrics", get(metrics))
        .route("/", get(super::page::handler))
        .with_state(hub)
}

/// One open connection, as the accept loop sees it.
struct Conn {
    accepted: Instant,
    /// Microseconds after `epoch` when it last became idle (accepted, or
    /// its last answer given); 0 while it is answering a request.
    idle_since: AtomicU64,
    /// Asked to close (evicted, or at its request cap).
    closing: AtomicBool,
    close: Notify,
    served: AtomicU64,
}

impl Conn {
    /// Counts a request; returns how many this connection has had.
    fn served_one(&self) -> u64 {
        self.served.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn evict(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.close.notify_one();
    }
}

/// What the choice of a connection to close looks at.
#[derive(Debug, Clone, Copy)]
pub struct ConnView {
    pub accepted: Instant,
    /// `None` while it is answering a request.
    pub idle_since: Option<Instant>,
    pub closing: bool,
}

/// The connection to close for a new one (pure): the one idle the longest,
/// among those past `grace`; when none is idle, the oldest busy one (it
/// finishes its answer first). `None` when every open connection is new or
/// already closing.
pub fn pick_victim(conns: &[ConnView], now: Instant, grace: Duration) -> Option<usize> {
    let open = |c: &&ConnView| !c.closing;
    let idle = conns
        .iter()
        .enumerate()
        .filter(|(_, c)| open(c))
        .filter(|(_, c)| now.saturating_duration_since(c.accepted) >= grace)
        .filter_map(|(i, c)| c.idle_since.map(|t| (i, t)))
        .min_by_key(|(_, t)| *t);
    if let Some((i, _)) = idle {
        return Some(i);
    }
    conns
        .iter()
        .enumerate()
        .filter(|(_, c)| open(c) && c.idle_since.is_none())
        .min_by_key(|(_, c)| c.accepted)
        .map(|(i, _)| i)
}

/// Serves `app` on `listener` until `shutdown` fires, then asks every open
/// connection to finish its answer and close, and returns when all have.
pub async fn serve(listener: TcpListener, app: Router, mut shutdown: Shutdown) {
    let limit = Arc::new(Semaphore::new(MAX_OPEN));
    let epoch = Instant::now();
    let registry: Arc<Mutex<HashMap<u64, Arc<Conn>>>> = Arc::default();
    let mut next_id = 0u64;
    let mut conns = JoinSet::new();
    loop {
        // Reap finished connections so that the set does not grow.
        while conns.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
            _ = shutdown.wait() => break,
        };
        let sock = tokio::select! {
            r = listener.accept() => match r {
                Ok((sock, _)) => sock,
                Err(e) => {
                    // Out of descriptors (or memory): wait instead of spinning,
                    // as axum::serve does; errors of one connection need none.
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::ConnectionRefused
                    ) {
                        crate::errln!("health API: cannot accept a connection: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        let now = Instant::now();
        let conn = Arc::new(Conn {
            accepted: now,
            idle_since: AtomicU64::new(micros(epoch, now)),
            closing: AtomicBool::new(false),
            close: Notify::new(),
            served: AtomicU64::new(0),
        });
        next_id += 1;
        let id = next_id;
        {
            let mut reg = lock(&registry);
            reg.insert(id, conn.clone());
            make_room(&reg, epoch, now);
        }
        let service = TowerToHyperService::new(app.clone());
        let mut stop = shutdown.clone();
        let registry = registry.clone();
        conns.spawn(async move {
            let _permit = permit;
            let state = conn.clone();
            let svc = service_fn(move |req| {
                let state = state.clone();
                state.idle_since.store(0, Ordering::Relaxed);
                let served = state.served_one();
                if served >= MAX_REQUESTS_PER_CONNECTION {
                    state.evict();
                }
                let answer = hyper::service::Service::call(&service, req);
                async move {
                    let r = answer.await;
                    state
                        .idle_since
                        .store(micros(epoch, Instant::now()), Ordering::Relaxed);
                    r
                }
            });
            let c = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(sock), svc);
            tokio::pin!(c);
            // A connection's errors (timeouts, resets) are the client's.
            tokio::select! {
                _ = c.as_mut() => {}
                _ = conn.close.notified() => {
                    c.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(EVICTED_CLOSE_TIMEOUT, c).await;
                }
                _ = stop.wait() => {
                    c.as_mut().graceful_shutdown();
                    let _ = c.await;
                }
            }
            lock(&registry).remove(&id);
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// `t` as microseconds after `epoch`, never 0 (0 means busy).
fn micros(epoch: Instant, t: Instant) -> u64 {
    t.duration_since(epoch).as_micros() as u64 + 1
}

/// Closes a connection when more than `MAX_CONNECTIONS` are open and not
/// already closing; from `EVICT_NEW_FROM` open, even a new one.
fn make_room(reg: &HashMap<u64, Arc<Conn>>, epoch: Instant, now: Instant) {
    if reg.len() <= MAX_CONNECTIONS {
        return;
    }
    let conns: Vec<&Arc<Conn>> = reg.values().collect();
    let views: Vec<ConnView> = conns
        .iter()
        .map(|c| ConnView {
            accepted: c.accepted,
            idle_since: match c.idle_since.load(Ordering::Relaxed) {
                0 => None,
                us => Some(epoch + Duration::from_micros(us - 1)),
            },
            closing: c.closing.load(Ordering::Relaxed),
        })
        .collect();
    let open = views.iter().filter(|v| !v.closing).count();
    if open <= MAX_CONNECTIONS {
        return;
    }
    let victim = pick_victim(&views, now, EVICT_GRACE).or_else(|| {
        (open >= EVICT_NEW_FROM)
            .then(|| pick_victim(&views, now, Duration::ZERO))
            .flatten()
    });
    if let Some(i) = victim {
        conns[i].evict();
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

/// The sensors' component: the whole, and the sensors that are not ok.
fn sensors_json(hub: &Hub, now: Instant) -> (bool, Value) {
    let sensors = lock(&hub.sensors);
    let mut problems = serde_json::Map::new();
    let mut ok = 0;
    for (name, s) in sensors.iter() {
        let st = s.status(now, hub.timeout(name));
        if matches!(st, "ok" | "pending") {
            ok += 1;
        } else {
            problems.insert(
                name.clone(),
                json!({"status": st, "failures": s.failures, "error": s.last_error}),
            );
        }
    }
    let all_ok = problems.is_empty();
    let status = if all_ok { "ok" } else { "degraded" };
    (
        all_ok,
        json!({"status": status, "ok": ok, "total": sensors.len(), "problems": problems}),
    )
}

fn store_json(hub: &Hub) -> (bool, Value) {
    let s = lock(&hub.store).clone();
    let ok = s.open && s.failures == 0;
    (
        ok,
        json!({
            "status": if ok { "ok" } else { "failing" },
            "queued": hub.queue.len(),
            "dropped": hub.queue.dropped.load(Ordering::Relaxed),
            "error": s.last_error,
        }),
    )
}

fn ai_json(hub: &Hub) -> Value {
    if !hub.ai_enabled {
        return json!({"status": "off"});
    }
    let a = lock(&hub.ai).clone();
    json!({
        "status": if a.failures == 0 { "ok" } else { "failing" },
        "failures": a.failures,
        "error": a.last_error,
        "decisions": a.decisions_total,
    })
}

async fn health(State(hub): State<Arc<Hub>>) -> Response {
    let now = Instant::now();
    let (sensors_ok, sensors) = sensors_json(&hub, now);
    let (store_ok, store) = store_json(&hub);
    let (code, status) = match hub.phase() {
        Phase::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        Phase::Stopping => (StatusCode::SERVICE_UNAVAILABLE, "stopping"),
        Phase::Running if sensors_ok && store_ok => (StatusCode::OK, "healthy"),
        Phase::Running => (StatusCode::OK, "degraded"),
    };
    let body = json!({
        "status": status,
        "uptime_s": hub.started.elapsed().as_secs(),
        "components": {"sensors": sensors, "store": store, "ai": ai_json(&hub)},
    });
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

async fn status(State(hub): State<Arc<Hub>>) -> Response {
    let now = Instant::now();
    let mut readings = serde_json::Map::new();
    let mut any_reading = false;
    for (name, s) in lock(&hub.sensors).iter() {
        any_reading |= s.updated.is_some();
        let timeout = hub.timeout(name);
        readings.insert(
            name.clone(),
            json!({
                "value": s.value,
                "unit": s.unit,
                "stale": s.stale(now, timeout),
                "status": s.status(now, timeout),
                "age_s": s.updated.map(|(t, _)| round(now.duration_since(t).as_secs_f64(), 1)),
                "read_at": s.updated.map(|(_, t)| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
                "failures": s.failures,
                "error": s.last_error,
            }),
        );
    }
    let body = json!({
        "time": crate::clock::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "uptime_s": hub.started.elapsed().as_secs(),
        "sensors": readings,
        "ai": {
            "enabled": hub.ai_enabled,
            "last_decision": lock(&hub.ai).last_decision.clone(),
        },
    });
    // A snapshot from before the first reading must not be cached: with
    // stale-if-error a CDN would serve it for a day during an outage.
    let cache = if hub.phase() == Phase::Starting || !any_reading {
        "no-store"
    } else {
        STATUS_CACHE
    };
    ([(header::CACHE_CONTROL, cache)], axum::Json(body)).into_response()
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Renders the metrics (pure apart from reading the hub).
pub fn render_metrics(hub: &Hub) -> String {
    let now = Instant::now();
    let sensors = lock(&hub.sensors).clone();
    let mut out = String::new();
    family(
        &mut out,
        "grokmon_up",
        "gauge",
        "1 while grokmon run is serving.",
    );
    let _ = writeln!(out, "grokmon_up 1");
    family(
        &mut out,
        "grokmon_uptime_seconds",
        "gauge",
        "Seconds since grokmon run started.",
    );
    let _ = writeln!(
        out,
        "grokmon_uptime_seconds {}",
        hub.started.elapsed().as_secs()
    );
    family(
        &mut out,
        "grokmon_sensor_value",
        "gauge",
        "Last known value of each sensor.",
    );
    for (n, s) in &sensors {
        if let Some(v) = s.value {
            let unit = prom_label(s.unit.as_deref().unwrap_or(""));
            let _ = writeln!(
                out,
                "grokmon_sensor_value{{sensor=\"{}\",unit=\"{unit}\"}} {v}",
                prom_label(n)
            );
        }
    }
    family(
        &mut out,
        "grokmon_sensor_stale",
        "gauge",
        "1 when the sensor's value is stale (last read failed).",
    );
    for (n, s) in &sensors {
        let _ = writeln!(
            out,
            "grokmon_sensor_stale{{sensor=\"{}\"}} {}",
            prom_label(n),
            s.stale(now, hub.timeout(n)) as u8
        );
    }
    family(
        &mut out,
        "grokmon_sensor_age_seconds",
        "gauge",
        "Seconds since the last successful read.",
    );
    for (n, s) in &sensors {
        if let Some((t, _)) = s.updated {
            let _ = writeln!(
                out,
                "grokmon_sensor_age_seconds{{sensor=\"{}\"}} {:.3}",
                prom_label(n),
                now.duration_since(t).as_secs_f64()
            );
        }
    }
    type Counter = fn(&super::hub::SensorState) -> u64;
    let counters: [(&str, &str, Counter); 4] = [
        ("grokmon_sensor_reads_total", "Successful reads.", |s| {
            s.reads_total
        }),
        ("grokmon_sensor_read_failures_total", "Failed reads.", |s| {
            s.failures_total
        }),
        (
            "grokmon_sensor_reconnects_total",
            "Reconnections after repeated failures.",
            |s| s.reconnects_total,
        ),
        (
            "grokmon_sensor_restarts_total",
            "Restarts of the sensor's task after a panic.",
            |s| s.restarts_total,
        ),
    ];
    for (name, help, get) in counters {
        family(&mut out, name, "counter", help);
        for (n, s) in &sensors {
            let _ = writeln!(out, "{name}{{sensor=\"{}\"}} {}", prom_label(n), get(s));
        }
    }
    let store = lock(&hub.store).clone();
    family(
        &mut out,
        "grokmon_store_up",
        "gauge",
        "1 while the store is open and writing.",
    );
    let _ = writeln!(
        out,
        "grokmon_store_up {}",
        (store.open && store.failures == 0) as u8
    );
    family(
        &mut out,
        "grokmon_store_queue_length",
        "gauge",
        "Records waiting for the store.",
    );
    let _ = writeln!(out, "grokmon_store_queue_length {}", hub.queue.len());
    family(
        &mut out,
        "grokmon_store_written_total",
        "counter",
        "Records written to the store.",
    );
    let _ = writeln!(out, "grokmon_store_written_total {}", store.written_total);
    family(
        &mut out,
        "grokmon_store_write_failures_total",
        "counter",
        "Failed store writes.",
    );
    let _ = writeln!(
        out,
        "grokmon_store_write_failures_total {}",
        store.failures_total
    );
    family(
        &mut out,
        "grokmon_store_dropped_total",
        "counter",
        "Records dropped because the store queue was full.",
    );
    let _ = writeln!(
        out,
        "grokmon_store_dropped_total {}",
        hub.queue.dropped.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "grokmon_alerts_dropped_total",
        "counter",
        "Alert lines not written because the alerts log queue was full.",
    );
    let _ = writeln!(
        out,
        "grokmon_alerts_dropped_total {}",
        hub.alerts_dropped.load(Ordering::Relaxed)
    );
    let last_check = hub.last_check.load(Ordering::Relaxed);
    if last_check > 0 {
        family(
            &mut out,
            "grokmon_check_last_run_timestamp_seconds",
            "gauge",
            "Unix time of the last grokmon check, from the state database.",
        );
        let _ = writeln!(out, "grokmon_check_last_run_timestamp_seconds {last_check}");
    }
    let ai = lock(&hub.ai).clone();
    family(
        &mut out,
        "grokmon_ai_enabled",
        "gauge",
        "1 when AI decisions are enabled.",
    );
    let _ = writeln!(out, "grokmon_ai_enabled {}", hub.ai_enabled as u8);
    family(
        &mut out,
        "grokmon_ai_decisions_total",
        "counter",
        "AI decisions received and validated.",
    );
    let _ = writeln!(out, "grokmon_ai_decisions_total {}", ai.decisions_total);
    family(
        &mut out,
        "grokmon_ai_failures_total",
        "counter",
        "Failed AI decision attempts.",
    );
    let _ = writeln!(out, "grokmon_ai_failures_total {}", ai.failures_total);
    family(
        &mut out,
        "grokmon_ai_actions_total",
        "counter",
        "Actions chosen by the AI, by outcome.",
    );
    for ((name, status), n) in &ai.actions_total {
        let _ = writeln!(
            out,
            "grokmon_ai_actions_total{{action=\"{}\",outcome=\"{status}\"}} {n}",
            prom_label(name)
        );
    }
    out
}

async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render_metrics(&hub),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_control(r: &Response) -> String {
        r.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn status_is_not_cached_while_starting_or_before_the_first_reading() {
        let dir = tempfile::tempdir().unwrap();
        let env = crate::config::Env {
            home: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let text = "[[sensor]]\nname = \"t\"\nkind = \"sim\"\n";
        let cfg =
            crate::config::Config::parse(text, crate::config::Source::Defaults, &env).unwrap();
        let hub = Arc::new(Hub::new(&cfg, 10));
        // Starting, no reading.
        let r = status(State(hub.clone())).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(cache_control(&r), "no-store");
        // Running, still no reading.
        hub.set_phase(Phase::Running);
        assert_eq!(cache_control(&status(State(hub.clone())).await), "no-store");
        // A reading, but still starting.
        hub.set_phase(Phase::Starting);
        {
            let mut sensors = lock(&hub.sensors);
            let s = sensors.get_mut("t").unwrap();
            s.value = Some(20.5);
            s.updated = Some((Instant::now(), crate::clock::now()));
        }
        assert_eq!(cache_control(&status(State(hub.clone())).await), "no-store");
        // Running with a reading: the public edge-cache headers.
        hub.set_phase(Phase::Running);
        let r = status(State(hub.clone())).await;
        assert_eq!(r.status(), StatusCode::OK);
        let cc = cache_control(&r);
        assert_eq!(cc, STATUS_CACHE);
        assert!(
            cc.contains("public") && cc.contains("stale-if-error"),
            "{cc}"
        );
    }

    #[test]
    fn the_connection_closed_for_a_new_one() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(10);
        let s = Duration::from_secs;
        let v = |accepted: u64, idle: Option<u64>, closing: bool| ConnView {
            accepted: t0 + s(accepted),
            idle_since: idle.map(|i| t0 + s(i)),
            closing,
        };
        let grace = Duration::from_secs(1);
        // The one idle the longest, not the oldest.
        let conns = [
            v(0, Some(8), false),
            v(1, Some(3), false),
            v(2, None, false),
        ];
        assert_eq!(pick_victim(&conns, now, grace), Some(1));
        // One already closing is not chosen twice.
        let conns = [v(0, Some(8), false), v(1, Some(3), true)];
        assert_eq!(pick_victim(&conns, now, grace), Some(0));
        // A new connection (within grace) is spared while idle...
        let conns = [v(10, Some(10), false), v(5, None, false), v(3, None, false)];
        assert_eq!(pick_victim(&conns, now, grace), Some(2));
        // ...unless there is nothing else (from EVICT_NEW_FROM, grace zero).
        let conns = [v(10, Some(10), false)];
        assert_eq!(pick_victim(&conns, now, grace), None);
        assert_eq!(pick_victim(&conns, now, Duration::ZERO), Some(0));
        assert_eq!(pick_victim(&[], now, grace), None);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(prom_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
