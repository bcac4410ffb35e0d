//! The store: `paths.database` (grokmon.db), SQLite in WAL mode with a busy
//! timeout. Readings and events, a schema versioned by `PRAGMA user_version`
//! with forward-only migrations, and a daily retention so the file stays
//! bounded.
//!
//! The store loop owns the connection and writes in batches off the runtime
//! thread. A failed write (disk full, locked by another process) puts its
//! batch back in the bounded queue and is retried after backoff, so a store
//! outage loses nothing unless it outlasts the queue (then the oldest
//! records go, counted).
//!
//! The loop also notices when `grokmon.db` is removed or replaced under it
//! (a restored backup, a person deleting it): it compares the path's
//! (device, inode) with the file it opened and reopens when they differ, so
//! writes do not go on into an unlinked file while `/api/health` says ok.
//! Repeated write failures also drop the connection, so the next attempt
//! starts from a fresh open.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

use super::backoff::retry_delay;
use super::hub::{Hub, Record, lock};
use super::shutdown::Shutdown;
use crate::alerts::Level;
use crate::text::sanitize;

/// How long a write waits for another process's lock before the attempt
/// fails and is retried later (short, so the loop keeps reporting).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How often queued records are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// The most records written in one transaction.
const BATCH: usize = 2000;
/// Consecutive failed writes after which the connection is closed, so
/// that the next attempt opens the database afresh.
const REOPEN_AFTER: u32 = 3;
/// How often the retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(86400);

/// Forward-only migrations; `user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: readings and events.
    "CREATE TABLE readings (
        ts INTEGER NOT NULL,      -- unix milliseconds
        sensor TEXT NOT NULL,
        value REAL NOT NULL,
        unit TEXT,
        stale INTEGER NOT NULL DEFAULT 0  -- 1: the last known value, served while reads fail
    );
    CREATE INDEX readings_sensor_ts ON readings (sensor, ts);
    CREATE INDEX readings_ts ON readings (ts);
    CREATE TABLE events (
        ts INTEGER NOT NULL,      -- unix milliseconds
        level TEXT NOT NULL,
        source TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX events_ts ON events (ts);",
    // 2: AI decisions and the actions they chose.
    "CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,      -- unix milliseconds
        model TEXT NOT NULL,
        summary TEXT NOT NULL,
        readings TEXT NOT NULL,   -- JSON: the readings the decision was based on
        latency_ms INTEGER NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        total_tokens INTEGER,
        dry_run INTEGER NOT NULL
    );
    CREATE INDEX decisions_ts ON decisions (ts);
    CREATE TABLE action_runs (
        decision_id INTEGER NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
        ts INTEGER NOT NULL,
        name TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,     -- ran failed timed_out skipped rejected dry_run
        exit_code INTEGER,
        detail TEXT NOT NULL,
        duration_ms INTEGER NOT NULL
    );
    CREATE INDEX action_runs_decision ON action_runs (decision_id);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Why the store failed, for the journal and `/api/health`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "database {path}: schema version {found} is newer than this grokmon knows ({SCHEMA_VERSION}): it was written by a newer grokmon; upgrade grokmon or restore a backup"
    )]
    TooNew { path: PathBuf, found: i64 },
    #[error("cannot create the directory of database {path}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database task failed: {0}")]
    Task(String),
    #[error("database {path}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// The message with its cause (`database PATH: disk I/O error`), for the
    /// journal, the alerts log and `/api/health`. The cause is kept as
    /// `source()` and said once, here, not again in the message.
    pub fn full(&self) -> String {
        match std::error::Error::source(self) {
            Some(cause) => format!("{self}: {cause}"),
            None => self.to_string(),
        }
    }
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// (device, inode) of the file opened, to notice when the path is
    /// removed or replaced.
    id: (u64, u64),
}

/// (device, inode) of the file at `path`.
fn file_id(path: &Path) -> std::io::Result<(u64, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store {
    /// Opens (creating it and its directory) and migrates the database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let sql = |source| StoreError::Sql {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        // A filesystem without WAL support keeps its journal mode.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        migrate(&mut conn, path)?;
        // Taken after the open created the file; if it was swapped between
        // the open and here, the next check sees a mismatch and reopens.
        let id = file_id(path).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            id,
        })
    }

    /// Whether the path no longer names the file this store has open
    /// (removed, or replaced by another file): then it must be reopened.
    pub fn replaced(&self) -> bool {
        file_id(&self.path).map_or(true, |id| id != self.id)
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes a batch in one transaction: all or nothing.
    pub fn write(&mut self, batch: &[Record]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::Sql {
                path: self.path.clone(),
                source: e,
            })?;
        {
            let mut reading = tx
                .prepare_cached(
                    "INSERT INTO readings (ts, sensor, value, unit, stale) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| StoreError::Sql {
                    path: self.path.clone(),
                    source: e,
                })?;
            let mut event = tx
                .prepare_cached(
                    "INSERT INTO events (ts, level, source, message) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| StoreError::Sql {
                    path: self.path.clone(),
                    source: e,
                })?;
            for r in batch {
                let res = match r {
                    Record::Reading(r) => reading.execute(params![
                        ms(r.ts),
                        r.sensor,
                        r.value,
                        r.unit,
                        r.stale as i64
                    ]),
                    Record::Event(e) => {
                        event.execute(params![ms(e.ts), e.level.as_str(), e.source, e.message])
                    }
                    Record::Decision(d) => write_decision(&tx, d),
                };
                res.map_err(|e| StoreError::Sql {
                    path: self.path.clone(),
                    source: e,
                })?;
            }
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Deletes readings and events older than `before`; how many rows went.
    /// The time of the newest stored reading.
    pub fn newest_reading(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.conn
            .query_row("SELECT max(ts) FROM readings", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|v| v.and_then(DateTime::from_timestamp_millis))
            .map_err(|e| self.sql(e))
    }

    pub fn prune(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let cut = ms(before);
        let a = self
            .conn
            .execute("DELETE FROM readings WHERE ts < ?1", [cut])
            .map_err(|e| self.sql(e))?;
        let b = self
            .conn
            .execute("DELETE FROM events WHERE ts < ?1", [cut])
            .map_err(|e| self.sql(e))?;
        let c = self
            .conn
            .execute(
                "DELETE FROM action_runs WHERE decision_id IN (SELECT id FROM decisions WHERE ts < ?1)",
                [cut],
            )
            .map_err(|e| self.sql(e))?;
        let d = self
            .conn
            .execute("DELETE FROM decisions WHERE ts < ?1", [cut])
            .map_err(|e| self.sql(e))?;
        Ok(a + b + c + d)
    }
}

/// When each action last ran (name, time since), read from an existing
/// database; empty when there is none yet or it cannot be read.
pub fn last_action_runs(path: &Path, now: DateTime<Utc>) -> Vec<(String, Duration)> {
    if !path.exists() {
        return Vec::new();
    }
    let read = || -> rusqlite::Result<Vec<(String, Duration)>> {
        let c = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        c.busy_timeout(BUSY_TIMEOUT)?;
        let mut st = c.prepare(
            "SELECT name, max(ts) FROM action_runs WHERE status = 'ran' OR status = 'failed' OR status = 'timed_out' GROUP BY name",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for r in rows {
            let (name, ts) = r?;
            let ago = (now.timestamp_millis() - ts).max(0) as u64;
            out.push((name, Duration::from_millis(ago)));
        }
        Ok(out)
    };
    // A database from before the AI migration has no such table: no history.
    read().unwrap_or_default()
}

fn write_decision(
    tx: &rusqlite::Transaction<'_>,
    d: &super::ai::DecisionRecord,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT INTO decisions (ts, model, summary, readings, latency_ms, prompt_tokens, completion_tokens, total_tokens, dry_run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        ms(d.ts),
        d.model,
        d.summary,
        d.readings,
        d.latency_ms as i64,
        d.usage.prompt_tokens,
        d.usage.completion_tokens,
        d.usage.total_tokens,
        d.dry_run as i64
    ])?;
    let id = tx.last_insert_rowid();
    let mut st = tx.prepare_cached(
        "INSERT INTO action_runs (decision_id, ts, name, reason, status, exit_code, detail, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for a in &d.actions {
        st.execute(params![
            id,
            ms(d.ts),
            a.name,
            a.reason,
            a.status.as_str(),
            a.exit_code,
            a.detail,
            a.duration_ms as i64
        ])?;
    }
    Ok(1)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql = |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    };
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    if v > SCHEMA_VERSION as i64 {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: v,
        });
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(v.max(0) as usize) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        tx.execute_batch(m).map_err(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
    }
    Ok(())
}

/// Records a store failure; a WARN line once it has failed `alert_after` times in a row.
async fn failed(hub: &Hub, e: &StoreError, alert_after: u32, delay: Duration) {
    let msg = sanitize(&e.full());
    let (n, alert) = {
        let mut s = lock(&hub.store);
        s.failures += 1;
        s.failures_total += 1;
        s.last_error = Some(msg.clone());
        let alert = s.failures == alert_after && !s.alerted;
        if alert {
            s.alerted = true;
        }
        (s.failures, alert)
    };
    crate::errln!(
        "Store write failed: {msg} (failure {n}, {} records queued; retry in {}s)",
        hub.queue.len(),
        delay.as_secs_f64()
    );
    if alert {
        hub.event(
            Level::Warn,
            "store",
            // Raw: the log line and the journal line escape it once.
            format!(
                "writes failing {n} times in a row: {}; readings are queued in memory",
                e.full()
            ),
        )
        .await;
    }
}

async fn succeeded(hub: &Hub, written: usize) {
    let recovered = {
        let mut s = lock(&hub.store);
        s.written_total += written as u64;
        let prev = (s.failures, s.alerted);
        s.failures = 0;
        s.last_error = None;
        s.alerted = false;
        prev
    };
    if recovered.0 > 0 {
        let msg = format!("recovered after {} failed attempts", recovered.0);
        if recovered.1 {
            hub.event(Level::Ok, "store", msg).await;
        } else {
            crate::errln!("store: {msg}");
        }
    }
}

/// Settings of the store loop.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    pub keep: Duration,
    pub steps: Vec<Duration>,
    pub alert_after: u32,
}

/// One attempt: open (or reopen) if needed, prune when due, write one batch.
/// The last prune of a run, and the time its ages are judged against.
#[derive(Debug, Clone, Copy)]
pub struct Pruned {
    at: Instant,
    /// A trusted wall-clock time and the monotonic instant it was taken at.
    anchor: (DateTime<Utc>, Instant),
}

async fn step(
    hub: &Arc<Hub>,
    cfg: &StoreConfig,
    store: &mut Option<Store>,
    last_prune: &mut Option<Pruned>,
) -> Result<(), StoreError> {
    // The stat behind `replaced` runs on the blocking pool: a hung
    // filesystem must not stall the API and the signals.
    let (current, old) = match store.take() {
        Some(s) => tokio::task::spawn_blocking(move || {
            if s.replaced() {
                (None, Some(s))
            } else {
                (Some(s), None)
            }
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?,
        None => (None, None),
    };
    let mut s = match current {
        Some(s) => s,
        None => {
            if old.is_some() {
                crate::errln!(
                    "store: {} was removed or replaced; reopening it",
                    cfg.path.display()
                );
            }
            lock(&hub.store).open = false;
            let path = cfg.path.clone();
            let s = tokio::task::spawn_blocking(move || {
                // Close the old connection first: its close checkpoints into
                // the old file and removes the -wal/-shm it owned, which must
                // not happen under the new connection.
                drop(old);
                Store::open(&path)
            })
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
            lock(&hub.store).open = true;
            s
        }
    };
    let prune_due = last_prune
        .as_ref()
        .is_none_or(|p| p.at.elapsed() >= PRUNE_EVERY);
    let anchor = last_prune.as_ref().map(|p| p.anchor);
    let batch = hub.queue.take(BATCH);
    if batch.is_empty() && !prune_due {
        *store = Some(s);
        succeeded(hub, 0).await;
        return Ok(());
    }
    let keep = cfg.keep;
    let (s, batch, res, pruned, anchor) = tokio::task::spawn_blocking(move || {
        let mut anchor = anchor;
        let pruned = if prune_due {
            // Ages are judged against a time that a clock jump cannot move:
            // at the first prune, the wall clock or the newest stored
            // reading, whichever is earlier (a clock 100 days ahead at start
            // must not make every reading 100 days old); from then on, that
            // time plus the monotonic time since.
            let now = crate::clock::now();
            let (t0, i0) = *anchor.get_or_insert_with(|| {
                let newest = s.newest_reading().ok().flatten();
                (newest.map_or(now, |n| n.min(now)), Instant::now())
            });
            let trusted = chrono::Duration::from_std(i0.elapsed())
                .ok()
                .and_then(|e| t0.checked_add_signed(e))
                .map_or(t0, |t| t.min(now));
            // A retention reaching before chrono's first date keeps everything
            // (a plain subtraction would panic here and lose the batch).
            let before = chrono::Duration::from_std(keep)
                .ok()
                .and_then(|k| trusted.checked_sub_signed(k));
            Some(before.map_or(Ok(0), |b| s.prune(b)))
        } else {
            None
        };
        let res = if batch.is_empty() {
            Ok(())
        } else {
            s.write(&batch)
        };
        (s, batch, res, pruned, anchor)
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?;
    // After repeated failures the connection itself may be the problem
    // (a file gone bad under it): the next attempt opens afresh.
    if res.is_err() && lock(&hub.store).failures + 1 >= REOPEN_AFTER {
        lock(&hub.store).open = false;
        // Closing may checkpoint (I/O): off the runtime thread. A panic
        // there must not lose the batch, which is requeued below.
        let _ = tokio::task::spawn_blocking(move || drop(s)).await;
    } else {
        *store = Some(s);
    }
    match pruned {
        Some(Ok(n)) => {
            if let Some(anchor) = anchor {
                *last_prune = Some(Pruned {
                    at: Instant::now(),
                    anchor,
                });
            }
            if n > 0 {
                crate::errln!(
                    "store: retention removed {n} rows older than {}",
                    humantime::format_duration(keep)
                );
            }
        }
        Some(Err(e)) => crate::errln!("store: retention failed: {}", sanitize(&e.full())),
        None => {}
    }
    match res {
        Ok(()) => {
            succeeded(hub, batch.len()).await;
            Ok(())
        }
        Err(e) => {
            hub.queue.requeue(batch);
            Err(e)
        }
    }
}

/// The store loop: writes queued records every `FLUSH_EVERY`, retries with
/// backoff, and flushes what is left at shutdown. `opened` fires after the
/// first open attempt (READY=1 waits for it): with the error if the database
/// is newer than this grokmon, which no retry can fix, and the loop ends;
/// with `Ok` otherwise, failures included, which the loop retries.
pub async fn store_loop(
    hub: Arc<Hub>,
    cfg: StoreConfig,
    mut shutdown: Shutdown,
    opened: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
) {
    let mut store: Option<Store> = None;
    let mut last_prune = None;
    let mut opened = Some(opened);
    let deadline = super::backoff::longest(&cfg.steps) * 2 + BUSY_TIMEOUT + Duration::from_secs(60);
    loop {
        hub.progress("store", deadline);
        let res = step(&hub, &cfg, &mut store, &mut last_prune).await;
        if let Some(tx) = opened.take() {
            if matches!(res, Err(StoreError::TooNew { .. })) {
                let _ = tx.send(res);
                return;
            }
            let _ = tx.send(Ok(()));
        }
        let wait = match &res {
            Ok(()) if !hub.queue.is_empty() => Duration::ZERO,
            Ok(()) => FLUSH_EVERY,
            Err(e) => {
                let n = lock(&hub.store).failures + 1;
                let d = retry_delay(&cfg.steps, n, fastrand::f64());
                failed(&hub, e, cfg.alert_after, d).await;
                d
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait() => break,
        }
    }
    // Flush: a few quick attempts; the process-wide shutdown deadline bounds them.
    for attempt in 1..=3 {
        if hub.queue.is_empty() {
            break;
        }
        match step(&hub, &cfg, &mut store, &mut last_prune).await {
            Ok(()) => {}
            Err(e) => {
                crate::errln!(
                    "Store write failed: {} (flush attempt {attempt})",
                    sanitize(&e.full())
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let left = hub.queue.len();
    if left > 0 {
        crate::errln!("store: {left} records could not be written before exit");
    }
    let dropped = hub.queue.dropped.load(std::sync::atomic::Ordering::Relaxed);
    if dropped > 0 {
        crate::errln!("store: {dropped} records were dropped while the store was failing");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::hub::Reading;

    fn reading(ts: DateTime<Utc>, v: f64) -> Record {
        Record::Reading(Reading {
            ts,
            sensor: "t".into(),
            value: v,
            unit: Some("°C".into()),
            stale: false,
        })
    }

    /// A temp dir, a hub, and a store writing `grokmon.db` in the dir.
    fn fixture() -> (tempfile::TempDir, Arc<Hub>, StoreConfig) {
        let dir = tempfile::tempdir().unwrap();
        let env = crate::config::Env {
            home: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let hub = Arc::new(Hub::new(&crate::config::Config::defaults(&env), 100));
        let cfg = StoreConfig {
            path: dir.path().join("grokmon.db"),
            keep: Duration::from_secs(86400),
            steps: vec![Duration::from_secs(1)],
            alert_after: 1,
        };
        (dir, hub, cfg)
    }

    #[test]
    fn migrates_writes_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/grokmon.db");
        let mut s = Store::open(&p).unwrap();
        let now = Utc::now();
        let old = now - chrono::Duration::days(100);
        s.write(&[reading(old, 1.0), reading(now, 2.0)]).unwrap();
        assert_eq!(s.prune(now - chrono::Duration::days(90)).unwrap(), 1);
        let c = Connection::open(&p).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION as i64);
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let vals: Vec<f64> = c
            .prepare("SELECT value FROM readings")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(vals, [2.0]);
        drop(s);
        // Reopening is idempotent.
        Store::open(&p).unwrap();
    }

    #[tokio::test]
    async fn a_retention_beyond_the_calendar_keeps_everything_and_loses_no_batch() {
        let dir = tempfile::tempdir().unwrap();
        let env = crate::config::Env {
            home: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let text = format!(
            "[paths]\nalerts_log = \"{}/alerts.log\"\n",
            dir.path().display()
        );
        let cfg =
            crate::config::Config::parse(&text, crate::config::Source::Defaults, &env).unwrap();
        let hub = Arc::new(Hub::new(&cfg, 100));
        let cfg = StoreConfig {
            path: dir.path().join("grokmon.db"),
            // Valid humantime ("300000years"), but before chrono's first date.
            keep: humantime::parse_duration("300000years").unwrap(),
            steps: vec![Duration::from_secs(1)],
            alert_after: 1,
        };
        hub.enqueue(reading(Utc::now(), 7.0));
        let (mut store, mut last_prune) = (None, None);
        step(&hub, &cfg, &mut store, &mut last_prune).await.unwrap();
        assert!(hub.queue.is_empty());
        let c = Connection::open(&cfg.path).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM readings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_removed_or_replaced_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("grokmon.db");
        let s = Store::open(&p).unwrap();
        assert!(!s.replaced());
        // Replaced by another file (a restore renames one over it).
        let other = dir.path().join("other.db");
        Store::open(&other).unwrap();
        std::fs::rename(&other, &p).unwrap();
        assert!(s.replaced());
        drop(s);
        let s = Store::open(&p).unwrap();
        assert!(!s.replaced());
        std::fs::remove_file(&p).unwrap();
        assert!(s.replaced());
    }

    #[tokio::test]
    async fn a_deleted_database_is_recreated_and_written_again() {
        let (_dir, hub, cfg) = fixture();
        let count = |p: &Path| -> i64 {
            Connection::open(p)
                .unwrap()
                .query_row("SELECT count(*) FROM readings", [], |r| r.get(0))
                .unwrap()
        };
        let (mut store, mut last_prune) = (None, None);
        hub.enqueue(reading(Utc::now(), 1.0));
        step(&hub, &cfg, &mut store, &mut last_prune).await.unwrap();
        assert_eq!(count(&cfg.path), 1);
        for side in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{side}", cfg.path.display()));
        }
        hub.enqueue(reading(Utc::now(), 2.0));
        step(&hub, &cfg, &mut store, &mut last_prune).await.unwrap();
        assert!(hub.queue.is_empty());
        assert_eq!(count(&cfg.path), 1, "the new file holds the new reading");
        assert!(lock(&hub.store).open);
    }

    #[tokio::test]
    async fn repeated_write_failures_close_the_connection_for_a_fresh_open() {
        let (_dir, hub, cfg) = fixture();
        let (mut store, mut last_prune) = (None, None);
        step(&hub, &cfg, &mut store, &mut last_prune).await.unwrap();
        // Writes fail: the table is gone.
        let other = Connection::open(&cfg.path).unwrap();
        other
            .execute_batch("ALTER TABLE readings RENAME TO r2")
            .unwrap();
        for n in 1..=REOPEN_AFTER {
            hub.enqueue(reading(Utc::now(), n as f64));
            assert!(step(&hub, &cfg, &mut store, &mut last_prune).await.is_err());
            // As the loop's `failed` does.
            lock(&hub.store).failures += 1;
            assert_eq!(store.is_some(), n < REOPEN_AFTER, "after failure {n}");
        }
        assert!(!lock(&hub.store).open);
        other
            .execute_batch("ALTER TABLE r2 RENAME TO readings")
            .unwrap();
        step(&hub, &cfg, &mut store, &mut last_prune).await.unwrap();
        assert!(store.is_some() && lock(&hub.store).open);
        assert!(hub.queue.is_empty(), "the requeued readings were written");
        let n: i64 = other
            .query_row("SELECT count(*) FROM readings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, REOPEN_AFTER as i64);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("grokmon.db");
        Connection::open(&p)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let e = Store::open(&p).err().unwrap().to_string();
        assert!(e.contains("newer"), "{e}");
    }
}
