//! The orchestrator's shared picture of itself: the latest reading of every
//! sensor, the store's health, the queue of records waiting for the store,
//! the progress of every loop (for the watchdog) and the sensor children
//! alive (to kill them on a forced exit). The API, the watchdog and the
//! STATUS line read it; the loops write it. Locks are held only for a copy,
//! never across an await.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::process::{Children, stop_shepherd};
pub use super::record::{Reading, Record};
use crate::alerts::{AlertLog, Event, Level};
use crate::text::sanitize;

/// Where the process is in its life; the health API answers 503 outside `Running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting = 0,
    Running = 1,
    Stopping = 2,
}

/// Locks a mutex, ignoring poisoning: a panicking sensor task must not take
/// the shared picture down with it (the data is plain values, always valid).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One sensor as the API shows it.
#[derive(Debug, Clone, Default)]
pub struct SensorState {
    pub unit: Option<String>,
    pub interval: Duration,
    /// The last good value and when it was read.
    pub value: Option<f64>,
    pub updated: Option<(Instant, DateTime<Utc>)>,
    /// Consecutive failed reads (0 after a success).
    pub failures: u32,
    pub last_error: Option<String>,
    /// The WARN line was written and no OK line yet.
    pub alerted: bool,
    pub failing_since: Option<DateTime<Utc>>,
    pub reads_total: u64,
    pub failures_total: u64,
    pub reconnects_total: u64,
    pub restarts_total: u64,
}

impl SensorState {
    /// A value is stale when the last read failed, or when no read succeeded
    /// for a while (a stuck loop).
    pub fn stale(&self, now: Instant, timeout: Duration) -> bool {
        match self.updated {
            None => self.failures > 0,
            Some((t, _)) => {
                self.failures > 0 || now.duration_since(t) > self.interval * 2 + timeout
            }
        }
    }

    /// `ok`, `pending` (no read yet), `stale` (a last value is served), `failing`.
    pub fn status(&self, now: Instant, timeout: Duration) -> &'static str {
        match (self.updated.is_some(), self.stale(now, timeout)) {
            (_, false) if self.reads_total == 0 && self.failures == 0 => "pending",
            (_, false) => "ok",
            (true, true) => "stale",
            (false, true) => "failing",
        }
    }
}

/// The store's health.
#[derive(Debug, Clone, Default)]
pub struct StoreState {
    pub open: bool,
    /// Consecutive failed writes or opens (0 when healthy).
    pub failures: u32,
    pub last_error: Option<String>,
    pub alerted: bool,
    pub written_total: u64,
    pub failures_total: u64,
}

/// The AI part's health and last decision.
#[derive(Debug, Clone, Default)]
pub struct AiState {
    /// Consecutive failed attempts (0 after a decision).
    pub failures: u32,
    pub failures_total: u64,
    pub decisions_total: u64,
    pub last_error: Option<String>,
    pub alerted: bool,
    /// The last decision and its actions, as `/api/status` shows it.
    pub last_decision: Option<serde_json::Value>,
    /// Chosen actions by (name, outcome).
    pub actions_total: BTreeMap<(String, &'static str), u64>,
}

/// The bounded queue in front of the store: when the store is down for long,
/// the oldest records are dropped (and counted) instead of growing without bound.
pub struct Queue {
    items: Mutex<VecDeque<Record>>,
    cap: usize,
    pub dropped: AtomicU64,
}

impl Queue {
    pub fn new(cap: usize) -> Queue {
        Queue {
            items: Mutex::new(VecDeque::new()),
            cap: cap.max(1),
            dropped: AtomicU64::new(0),
        }
    }

    /// Appends, dropping the oldest record when full; returns how many were
    /// dropped so far when this push dropped one.
    pub fn push(&self, r: Record) -> Option<u64> {
        let mut q = lock(&self.items);
        let mut dropped = None;
        if q.len() >= self.cap {
            q.pop_front();
            dropped = Some(self.dropped.fetch_add(1, Ordering::Relaxed) + 1);
        }
        q.push_back(r);
        dropped
    }

    /// Takes up to `max` records, oldest first.
    pub fn take(&self, max: usize) -> Vec<Record> {
        let mut q = lock(&self.items);
        let n = q.len().min(max);
        q.drain(..n).collect()
    }

    /// Puts a batch that could not be written back in front, still bounded
    /// (the oldest go first).
    pub fn requeue(&self, batch: Vec<Record>) {
        let mut q = lock(&self.items);
        for r in batch.into_iter().rev() {
            if q.len() >= self.cap {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            q.push_front(r);
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A loop's last sign of life and how long it may stay silent.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub at: Instant,
    pub deadline: Duration,
}

/// The shared picture.
pub struct Hub {
    pub started: Instant,
    phase: AtomicU8,
    pub sensors: Mutex<BTreeMap<String, SensorState>>,
    /// Read timeouts by sensor, fixed at start.
    pub timeouts: BTreeMap<String, Duration>,
    pub store: Mutex<StoreState>,
    pub ai: Mutex<AiState>,
    pub queue: Queue,
    progress: Mutex<BTreeMap<String, Progress>>,
    /// Process groups of sensor and action commands still running.
    children: Mutex<HashSet<i32>>,
    pub alerts: AlertLog,
    /// Whether the AI part is enabled ("off" in health otherwise).
    pub ai_enabled: bool,
    /// The variable holding the AI key (`ai.api_key_env`): removed from the
    /// environment of sensor and action commands, whose output is shown.
    pub key_env: Option<String>,
    /// Alert lines for `[[notify]]`, sent by `notify_loop` so that a slow
    /// webhook never delays the loop that wrote the line.
    notify_tx: Option<tokio::sync::mpsc::Sender<Event>>,
    notify_rx: Mutex<Option<tokio::sync::mpsc::Receiver<Event>>>,
    /// Alert lines for the alerts log, written by `appender_loop` so that a
    /// hung filesystem never stalls the loop that raised the line.
    alert_tx: tokio::sync::mpsc::Sender<Event>,
    alert_rx: Mutex<Option<tokio::sync::mpsc::Receiver<Event>>>,
    /// Alert lines dropped because the appender's queue was full (or the
    /// appender had stopped).
    pub alerts_dropped: AtomicU64,
    /// Unix time of the last `grokmon check` (0: none seen yet), from
    /// `checkwatch_loop`.
    pub last_check: AtomicI64,
    /// The state database, whose silences the appender applies.
    pub state_path: std::path::PathBuf,
    /// What the status page at `/` reads, and its chart cache.
    pub page: super::page::sources::Page,
}

/// Alert lines waiting for their notification; more are dropped (counted on
/// stderr): a flood must not grow memory while a webhook is down.
pub const NOTIFY_QUEUE: usize = 64;

/// Alert lines waiting for the alerts log; more are dropped (counted): a
/// hung filesystem must not grow memory or stall the loops.
pub const ALERT_QUEUE: usize = 256;

/// Capacity of the store queue: a day of 10 sensors at 1 minute is 14 400.
pub const QUEUE_CAP: usize = 20_000;

impl Hub {
    pub fn new(cfg: &crate::config::Config, queue_cap: usize) -> Hub {
        let sensors = cfg
            .sensors
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    SensorState {
                        unit: s.unit.clone(),
                        interval: s.interval,
                        ..SensorState::default()
                    },
                )
            })
            .collect();
        let (notify_tx, notify_rx) = if cfg.notify.is_empty() {
            (None, None)
        } else {
            let (tx, rx) = tokio::sync::mpsc::channel(NOTIFY_QUEUE);
            (Some(tx), Some(rx))
        };
        let (alert_tx, alert_rx) = tokio::sync::mpsc::channel(ALERT_QUEUE);
        Hub {
            started: Instant::now(),
            phase: AtomicU8::new(Phase::Starting as u8),
            sensors: Mutex::new(sensors),
            timeouts: cfg
                .sensors
                .iter()
                .map(|s| (s.name.clone(), s.timeout))
                .collect(),
            store: Mutex::new(StoreState::default()),
            ai: Mutex::new(AiState::default()),
            queue: Queue::new(queue_cap),
            progress: Mutex::new(BTreeMap::new()),
            children: Mutex::new(HashSet::new()),
            alerts: AlertLog::from_config(cfg),
            ai_enabled: cfg.ai.enabled,
            key_env: cfg.ai.api_key_env.clone(),
            notify_tx,
            notify_rx: Mutex::new(notify_rx),
            alert_tx,
            alert_rx: Mutex::new(Some(alert_rx)),
            alerts_dropped: AtomicU64::new(0),
            last_check: AtomicI64::new(0),
            state_path: cfg.paths.state.clone(),
            page: super::page::sources::Page::new(cfg),
        }
    }

    /// The receiving end of the notification queue, for `notify_loop`
    /// (`None` without `[[notify]]`, or once taken).
    pub fn take_notify_rx(&self) -> Option<tokio::sync::mpsc::Receiver<Event>> {
        lock(&self.notify_rx).take()
    }

    /// The receiving end of the alerts-log queue, for `appender_loop`
    /// (`None` once taken).
    pub fn take_alert_rx(&self) -> Option<tokio::sync::mpsc::Receiver<Event>> {
        lock(&self.alert_rx).take()
    }

    /// Alert lines waiting for the appender.
    pub fn alerts_queued(&self) -> usize {
        ALERT_QUEUE - self.alert_tx.capacity()
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Starting,
            1 => Phase::Running,
            _ => Phase::Stopping,
        }
    }

    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::SeqCst);
    }

    /// A loop says it is alive and may stay silent for `deadline`.
    pub fn progress(&self, name: &str, deadline: Duration) {
        lock(&self.progress).insert(
            name.to_string(),
            Progress {
                at: Instant::now(),
                deadline,
            },
        );
    }

    /// Loops that have been silent past their deadline.
    pub fn stalled(&self, now: Instant) -> Vec<(String, Duration)> {
        lock(&self.progress)
            .iter()
            .filter_map(|(k, p)| {
                let silent = now.saturating_duration_since(p.at);
                (silent > p.deadline).then(|| (k.clone(), silent))
            })
            .collect()
    }

    pub fn add_child(&self, pgid: i32) {
        lock(&self.children).insert(pgid);
    }

    pub fn remove_child(&self, pgid: i32) {
        lock(&self.children).remove(&pgid);
    }

    /// Stops every command still registered (a forced exit): each one's
    /// shepherd kills what is below it (and would when `run` exits anyway).
    pub fn kill_children(&self) {
        for pgid in lock(&self.children).drain() {
            stop_shepherd(pgid);
        }
    }

    /// Queues a record for the store, reporting (rarely) when the queue
    /// overflowed.
    pub fn enqueue(&self, r: Record) {
        if let Some(n) = self.queue.push(r)
            && n.is_power_of_two()
        {
            crate::errln!(
                "store queue full ({} records): dropped the oldest, {n} dropped so far",
                self.queue.cap
            );
        }
    }

    /// An event: a journal line at once, an alerts log line (for WARN, CRIT,
    /// OK) queued for `appender_loop`, and a row in the store. Never waits on
    /// the file (async only so that callers keep their shape): a hung
    /// filesystem stalls the appender alone, and a full queue drops the line
    /// (counted in `alerts_dropped`, reported on stderr).
    pub async fn event(&self, level: Level, source: &str, message: String) {
        let ev = Event::new(crate::clock::now(), level, source, message);
        crate::errln!("{} {}: {}", ev.level, ev.source, sanitize(&ev.message));
        if level != Level::Info {
            self.queue_alert(ev.clone());
        }
        self.enqueue(Record::Event(ev));
    }

    fn queue_alert(&self, ev: Event) {
        use tokio::sync::mpsc::error::TrySendError;
        let (why, ev) = match self.alert_tx.try_send(ev) {
            Ok(()) => return,
            Err(TrySendError::Full(ev)) => ("alerts log queue full", ev),
            Err(TrySendError::Closed(ev)) => ("alerts log writer stopped", ev),
        };
        let n = self.alerts_dropped.fetch_add(1, Ordering::Relaxed) + 1;
        crate::errln!(
            "{why} ({ALERT_QUEUE} lines): {} {} not written, {n} dropped so far",
            ev.level,
            ev.source
        );
    }

    /// Hands lines now safe on disk to the notification queue (only those
    /// are notified, as `check` does).
    pub fn notify_written(&self, events: Vec<Event>) {
        let Some(tx) = &self.notify_tx else { return };
        for ev in events {
            if tx.try_send(ev.clone()).is_err() {
                crate::errln!(
                    "notification queue full: {} {} not sent",
                    ev.level,
                    ev.source
                );
            }
        }
    }

    /// The one-line summary for systemd's STATUS=.
    pub fn summary(&self) -> String {
        let now = Instant::now();
        let sensors = lock(&self.sensors);
        let ok = sensors
            .iter()
            .filter(|(k, s)| !s.stale(now, self.timeout(k)))
            .count();
        let total = sensors.len();
        drop(sensors);
        let store = if self.store_ok() { "ok" } else { "failing" };
        let ai = match (self.ai_enabled, lock(&self.ai).failures) {
            (false, _) => "off",
            (true, 0) => "ok",
            (true, _) => "failing",
        };
        format!("{ok}/{total} sensors ok, store {store}, ai {ai}")
    }

    pub fn timeout(&self, sensor: &str) -> Duration {
        self.timeouts.get(sensor).copied().unwrap_or_default()
    }

    pub fn store_ok(&self) -> bool {
        let s = lock(&self.store);
        s.open && s.failures == 0
    }
}

impl Children for Hub {
    fn add_child(&self, pgid: i32) {
        Hub::add_child(self, pgid)
    }
    fn remove_child(&self, pgid: i32) {
        Hub::remove_child(self, pgid)
    }
    fn hidden_env(&self) -> Option<&str> {
        self.key_env.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(v: f64) -> Record {
        Record::Reading(Reading {
            ts: DateTime::UNIX_EPOCH,
            sensor: "t".into(),
            value: v,
            unit: None,
            stale: false,
        })
    }

    #[test]
    fn queue_drops_the_oldest_and_counts() {
        let q = Queue::new(3);
        for v in 0..5 {
            q.push(reading(v as f64));
        }
        assert_eq!(q.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(q.take(10), vec![reading(2.0), reading(3.0), reading(4.0)]);
        assert!(q.is_empty());
    }

    #[test]
    fn requeue_keeps_order_and_bound() {
        let q = Queue::new(3);
        q.push(reading(1.0));
        q.push(reading(2.0));
        let batch = q.take(10);
        q.push(reading(3.0));
        q.requeue(batch);
        assert_eq!(q.take(10), vec![reading(1.0), reading(2.0), reading(3.0)]);
        q.push(reading(9.0));
        q.push(reading(9.0));
        q.requeue(vec![reading(1.0), reading(2.0)]);
        assert_eq!(q.len(), 3);
        assert_eq!(q.dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_loop_silent_past_its_deadline_is_stalled() {
        let dir = tempfile::tempdir().unwrap();
        let env = crate::config::Env {
            home: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let cfg = crate::config::Config::defaults(&env);
        let hub = Hub::new(&cfg, 10);
        hub.progress("sensor.a", Duration::from_secs(60));
        hub.progress("store", Duration::from_secs(5));
        let now = Instant::now();
        assert!(hub.stalled(now).is_empty());
        let later = now + Duration::from_secs(10);
        let names: Vec<String> = hub.stalled(later).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["store"]);
    }

    #[test]
    fn staleness() {
        let now = Instant::now();
        let mut s = SensorState {
            interval: Duration::from_secs(10),
            ..SensorState::default()
        };
        assert_eq!(s.status(now, Duration::from_secs(1)), "pending");
        s.failures = 1;
        assert_eq!(s.status(now, Duration::from_secs(1)), "failing");
        s.value = Some(1.0);
        s.updated = Some((now, crate::clock::now()));
        assert_eq!(s.status(now, Duration::from_secs(1)), "stale");
        s.failures = 0;
        s.reads_total = 2;
        assert_eq!(s.status(now, Duration::from_secs(1)), "ok");
        let later = now + Duration::from_secs(22);
        assert_eq!(s.status(later, Duration::from_secs(1)), "stale");
    }
}
