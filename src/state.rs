//! The state database (`paths.state`): per-probe policy state and last
//! results, CPU counters, the sample history behind trends, the alerts review
//! mark and other small facts. SQLite in WAL mode, so `status` reads while a
//! `check` writes, and every read-modify-write runs in an IMMEDIATE
//! transaction, so concurrent checks stay consistent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

/// How long a writer waits for a concurrent one before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `State::trim_wal` waits for other connections.
const TRIM_WAIT: Duration = Duration::from_millis(100);

/// Well-known keys of the `kv` table.
pub mod keys {
    /// RFC 3339 time up to which alerts were reviewed (`alerts ack`).
    pub const ACKED_UNTIL: &str = "alerts.acked_until";
    /// Where the log ended at the last `alerts ack` (JSON `log::Mark`): the
    /// lines after it are the unreviewed ones.
    pub const ACKED_AT: &str = "alerts.acked_at";
    /// Raw `/proc/stat` counters of the last check: "total idle".
    pub const CPU_COUNTERS: &str = "cpu.counters";
    /// RFC 3339 time of the last check.
    pub const LAST_CHECK: &str = "check.last_run";
    /// The last check time (RFC 3339, or `none`) that `run`'s open
    /// stopped-checks warning is about; absent when none is open.
    pub const CHECKS_STOPPED: &str = "checkwatch.warned";
    /// RFC 3339 time `check` last deleted samples past `check.keep_samples`.
    pub const SAMPLES_PRUNED: &str = "samples.pruned";
    /// RFC 3339 time of the last reviewed restart.
    pub const LAST_RESTART: &str = "restart.last";
    /// Alert lines decided and committed but not yet known to be in the log
    /// (JSON: the log's mark before them, and the lines). See `check::record`.
    pub const ALERTS_PENDING: &str = "alerts.pending";
}

/// An I/O cause is `source()`, said once by `text::chain` or `{:#}`. A
/// `rusqlite::Error` is said in the message and is no `source()`: its own
/// `source()` (the SQLite code) repeats it in other words, so `{:#}` would
/// say it twice (and in `Corrupt` the advice follows it).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "state database {path} is corrupt or not a database ({cause}); move it aside: grokmon creates a new one"
    )]
    Corrupt {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error("state database {path} is locked by another process (waited {}s)", waited.as_secs())]
    Locked { path: PathBuf, waited: Duration },
    #[error("state database {path}: {cause}")]
    Other {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error("cannot lock state database {path} for writing")]
    Lock {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("cannot create the directory for state database {path}")]
    Dir {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
}

/// 1: the tables; 2: the samples' index covers `value`, so a series is read
/// from the index alone (the 7-day forecast read 2,000 rows one table lookup
/// each); 3: samples are stored an hour of one metric to a row
/// (`sample_hours`), so a week is 170 rows, not 2,000 (the `samples` rows of
/// older versions are moved there; the table stays, empty, for an older
/// grokmon, and its rows are read too). Applied in order; a newer database
/// is used as it is.
const SCHEMA_VERSION: i32 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS probe_state (
    key TEXT PRIMARY KEY,          -- probe, or probe/target (disk rows)
    probe TEXT NOT NULL,
    target TEXT,
    status TEXT NOT NULL,          -- current status: ok warn crit unknown skipped starting
    message TEXT NOT NULL,
    checked_at INTEGER NOT NULL,   -- unix seconds
    fail_count INTEGER NOT NULL DEFAULT 0,
    failing_since INTEGER,
    alerted TEXT,                  -- WARN or CRIT while an alert is open
    last_notified INTEGER
);
CREATE TABLE IF NOT EXISTS samples (
    ts INTEGER NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_metric_ts_value ON samples (metric, ts, value);
DROP INDEX IF EXISTS samples_metric_ts;
-- A metric's samples of one hour (unix seconds div 3600) in the order they
-- were taken, 16 bytes each (the time in unix seconds, an i64, then the
-- value, an f64, both little-endian); `part` 0, then 1, 2... when checks
-- come so often that an hour's samples exceed `PART_BYTES`.
CREATE TABLE IF NOT EXISTS sample_hours (
    metric TEXT NOT NULL,
    hour INTEGER NOT NULL,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (metric, hour, part)
) WITHOUT ROWID;
";

/// Bytes of one sample in `sample_hours.data`.
const SAMPLE_BYTES: usize = 16;

/// Most bytes of samples in one `sample_hours` row (48 samples: an hour of
/// checks every 75 s). A row of a table without rowid keeps at most ~1,000
/// bytes in its b-tree page; a longer one spills to overflow pages, which
/// every append would copy again (measured: 15 pages written per check
/// instead of 8 with a few hundred checks in an hour).
const PART_BYTES: usize = 768;

/// The `sample_hours` row a sample at `ts` (unix seconds) belongs to.
fn hour_of(ts: i64) -> i64 {
    ts.div_euclid(3600)
}

/// The samples of one `sample_hours.data` at or after `since`; a torn tail
/// (not a whole sample) is ignored.
fn decode_hour(data: &[u8], since: i64, out: &mut Vec<(i64, f64)>) {
    for c in data.chunks_exact(SAMPLE_BYTES) {
        let (t, v) = c.split_at(8);
        let t = i64::from_le_bytes(t.try_into().expect("8 bytes"));
        if t >= since {
            out.push((t, f64::from_le_bytes(v.try_into().expect("8 bytes"))));
        }
    }
}

fn encode_sample(ts: i64, value: f64) -> [u8; SAMPLE_BYTES] {
    let mut b = [0; SAMPLE_BYTES];
    b[..8].copy_from_slice(&ts.to_le_bytes());
    b[8..].copy_from_slice(&value.to_le_bytes());
    b
}

/// Appends a sample to its hour's last part, or starts the next part when
/// that one is full (`||` yields text: cast back).
fn append_sample(conn: &Connection, metric: &str, ts: i64, value: f64) -> rusqlite::Result<()> {
    let hour = hour_of(ts);
    let last: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT part, length(data) FROM sample_hours WHERE metric = ?1 AND hour = ?2
             ORDER BY part DESC LIMIT 1",
        )?
        .query_row(params![metric, hour], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let part = match last {
        Some((p, len)) if usize::try_from(len).unwrap_or(0) + SAMPLE_BYTES > PART_BYTES => p + 1,
        Some((p, _)) => p,
        None => 0,
    };
    conn.prepare_cached(
        "INSERT INTO sample_hours (metric, hour, part, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(metric, hour, part) DO UPDATE SET data = CAST(data || excluded.data AS BLOB)",
    )?
    .execute(params![metric, hour, part, &encode_sample(ts, value)[..]])?;
    Ok(())
}

/// Moves the rows of the `samples` table (versions 1 and 2, or an older
/// grokmon run after an upgrade) into `sample_hours`, oldest first.
fn move_legacy_samples(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut rows =
        tx.prepare("SELECT metric, ts, value FROM samples ORDER BY metric, ts, value")?;
    let mut rows = rows.query([])?;
    while let Some(r) = rows.next()? {
        let (metric, t, v): (String, i64, f64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        append_sample(tx, &metric, t, v)?;
    }
    tx.execute("DELETE FROM samples", [])?;
    Ok(())
}

/// An open state database.
pub struct State {
    conn: Connection,
    path: PathBuf,
    /// Waits for other writers end here (`check`'s budget), and within
    /// `BUSY_TIMEOUT` in any case.
    deadline: Option<std::time::Instant>,
}

/// A probe's row.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    pub key: String,
    pub probe: String,
    pub target: Option<String>,
    pub status: String,
    pub message: String,
    pub checked_at: DateTime<Utc>,
    pub fail_count: u32,
    pub failing_since: Option<DateTime<Utc>>,
    pub alerted: Option<String>,
    pub last_notified: Option<DateTime<Utc>>,
}

fn ts(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

impl State {
    /// Opens (creating it and its directory) the state database.
    pub fn open(path: &Path) -> Result<State, StateError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|cause| StateError::Dir {
                path: path.to_path_buf(),
                cause,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| classify(path, e))?;
        let mut st = State {
            conn,
            path: path.to_path_buf(),
            deadline: None,
        };
        st.init().map_err(|e| classify(path, e))?;
        Ok(st)
    }

    /// Opens an existing state database read-only; `Ok(None)` when there is none.
    pub fn open_existing(path: &Path) -> Result<Option<State>, StateError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| classify(path, e))?;
        // Touch the schema so a corrupt file is reported here.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(|e| classify(path, e))?;
        Ok(Some(State {
            conn,
            path: path.to_path_buf(),
            deadline: None,
        }))
    }

    fn init(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        self.set_wal()?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let v: i32 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if v < SCHEMA_VERSION {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(SCHEMA)?;
            move_legacy_samples(&tx)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            crate::failpoint::hit("state.before-upgrade-commit");
            tx.commit()?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// From now on, waits for the writers' lock and for a busy database end
    /// at `deadline` (still at most `BUSY_TIMEOUT` each); past it, they try
    /// once and fail as `Locked`.
    pub fn set_deadline(&mut self, deadline: std::time::Instant) {
        self.deadline = Some(deadline);
    }

    /// How long the next wait for another writer may last.
    fn wait(&self) -> Duration {
        match self.deadline {
            Some(d) => BUSY_TIMEOUT.min(d.saturating_duration_since(std::time::Instant::now())),
            None => BUSY_TIMEOUT,
        }
    }

    /// Leaves the WAL (and its index) in place when this connection closes,
    /// instead of checkpointing it into the database file and deleting both:
    /// that cycle costs four syncs and two unlinks per open (the next open
    /// recreates the files and syncs the directory). Call `trim_wal` before
    /// closing. WAL content is read by every connection as usual; what
    /// changes is that a commit is on disk only at the next checkpoint
    /// (`synchronous=NORMAL`), so callers `trim_wal(0)` after a commit that
    /// must survive a power loss.
    ///
    /// Automatic checkpoints are turned off: each open rebuilds the WAL index
    /// and counts every frame as not yet copied, so a WAL that is only ever
    /// checkpointed, never truncated, grows without end (measured: 5 MB after
    /// 300 checks, each spending its time checksumming it).
    pub fn keep_wal_on_close(&self) -> Result<(), StateError> {
        self.conn
            .set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
            .and_then(|_| self.conn.pragma_update(None, "wal_autocheckpoint", 0))
            .map_err(|e| classify(&self.path, e))
    }

    /// Copies the WAL into the database file, syncing both, and truncates it,
    /// once it holds more than `max_frames` pages (0: whenever it has any).
    /// Each open reads the whole WAL, so it is kept short. Truncating waits
    /// for other connections' reads and writes to finish, at most
    /// `TRIM_WAIT`: past that the WAL stays as it is, for the next call.
    pub fn trim_wal(&self, max_frames: u64) -> Result<(), StateError> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
        let page: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| classify(&self.path, e))?;
        let page = page.max(0) as u64;
        // A 32-byte header, then frames of a 24-byte header and a page.
        if len <= 32 + max_frames * (page + 24) {
            return Ok(());
        }
        let res = self.conn.busy_timeout(TRIM_WAIT).and_then(|_| {
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        });
        let reset = self.conn.busy_timeout(BUSY_TIMEOUT);
        res.and(reset).map_err(|e| classify(&self.path, e))
    }

    /// Switches to WAL. Changing the journal mode needs an exclusive lock and
    /// SQLite may report "locked" at once, without its busy handler, when
    /// several processes create the database together: retry within
    /// `BUSY_TIMEOUT`. A filesystem without WAL support keeps its mode.
    fn set_wal(&self) -> rusqlite::Result<()> {
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(2);
        loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            {
                Ok(_) => return Ok(()),
                Err(e)
                    if matches!(
                        e.sqlite_error_code(),
                        Some(
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                        )
                    ) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(pause + Duration::from_millis(fastrand::u64(0..5)));
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes the writers' lock (`<state>.lock`, an exclusive `flock`), held
    /// until the returned file is dropped, waiting at most `BUSY_TIMEOUT`.
    /// For sequences that span several transactions and a file outside the
    /// database (decide, commit, append to the log, mark it written): one
    /// process at a time. The kernel releases it when the process dies.
    pub fn lock_writers(&self) -> Result<std::fs::File, StateError> {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        let err = |cause| StateError::Lock {
            path: self.path.clone(),
            cause,
        };
        let f = open_lock_file(Path::new(&p)).map_err(err)?;
        let waited = self.wait();
        let deadline = std::time::Instant::now() + waited;
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(f),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5 + fastrand::u64(0..10)));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StateError::Locked {
                        path: self.path.clone(),
                        waited,
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
            }
        }
    }

    /// Runs `f` in an IMMEDIATE transaction: the write lock is taken first, so
    /// read-decide-write sequences of concurrent processes serialize.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StateError>,
    {
        let path = self.path.clone();
        let waited = self.wait();
        if self.deadline.is_some() {
            self.conn
                .busy_timeout(waited)
                .map_err(|e| classify(&path, e))?;
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| match classify(&path, e) {
                StateError::Locked { path, .. } => StateError::Locked { path, waited },
                e => e,
            })?;
        let out = f(&Tx {
            tx: &tx,
            path: &path,
        })?;
        tx.commit().map_err(|e| classify(&path, e))?;
        Ok(out)
    }

    /// A read view outside any explicit transaction.
    pub fn read(&self) -> Reader<'_> {
        Reader {
            conn: &self.conn,
            path: &self.path,
        }
    }
}

/// Read operations, shared by `Reader` and `Tx`.
pub trait Read {
    fn conn(&self) -> &Connection;
    fn state_path(&self) -> &Path;

    fn err(&self, e: rusqlite::Error) -> StateError {
        classify(self.state_path(), e)
    }

    fn get(&self, key: &str) -> Result<Option<String>, StateError> {
        // Cached: a check reads a dozen keys, and compiling the statement
        // again for each costs more than the lookup.
        self.conn()
            .prepare_cached("SELECT value FROM kv WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(|e| self.err(e))
    }

    fn get_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, StateError> {
        Ok(self
            .get(key)?
            .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    fn probe_rows(&self) -> Result<Vec<ProbeRow>, StateError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT key, probe, target, status, message, checked_at, fail_count, failing_since, alerted, last_notified
                 FROM probe_state ORDER BY probe, target",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ProbeRow {
                    key: r.get(0)?,
                    probe: r.get(1)?,
                    target: r.get(2)?,
                    status: r.get(3)?,
                    message: r.get(4)?,
                    checked_at: ts(r.get(5)?),
                    fail_count: r.get(6)?,
                    failing_since: r.get::<_, Option<i64>>(7)?.map(ts),
                    alerted: r.get(8)?,
                    last_notified: r.get::<_, Option<i64>>(9)?.map(ts),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Samples of a metric since `since`, oldest first.
    fn samples(
        &self,
        metric: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, StateError> {
        Ok(self
            .sample_secs(metric, since)?
            .into_iter()
            .map(|(t, v)| (ts(t), v))
            .collect())
    }

    /// `samples` with the times as unix seconds, as stored: for a reader of
    /// thousands of them (the forecast reads a week of 5-minute samples on
    /// every check), which needs no calendar.
    fn sample_secs(
        &self,
        metric: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(i64, f64)>, StateError> {
        let since = since.timestamp();
        let mut out = Vec::new();
        // A table may be missing only in a database opened read-only that
        // no grokmon of version 3 has opened for writing yet (no
        // `sample_hours`), or one made by hand (no `samples`).
        match self.conn().prepare_cached(
            "SELECT data FROM sample_hours WHERE metric = ?1 AND hour >= ?2 ORDER BY hour, part",
        ) {
            Ok(mut hours) => {
                let mut rows = hours
                    .query(params![metric, hour_of(since)])
                    .map_err(|e| self.err(e))?;
                while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                    let data = r.get_ref(0).map_err(|e| self.err(e))?;
                    // A blob as written; text if something else appended to it.
                    if let Ok(d) = data.as_bytes() {
                        decode_hour(d, since, &mut out);
                    }
                }
            }
            Err(e) if no_such_table(&e) => {}
            Err(e) => return Err(self.err(e)),
        }
        // Rows of schema 2 not moved yet (read-only), or rows an older
        // grokmon wrote after this one moved them: otherwise an indexed look
        // at an empty range.
        match self
            .conn()
            .prepare_cached("SELECT ts, value FROM samples WHERE metric = ?1 AND ts >= ?2")
        {
            Ok(mut legacy) => {
                let mut rows = legacy
                    .query(params![metric, since])
                    .map_err(|e| self.err(e))?;
                while let Some(r) = rows.next().map_err(|e| self.err(e))? {
                    out.push((
                        r.get(0).map_err(|e| self.err(e))?,
                        r.get(1).map_err(|e| self.err(e))?,
                    ));
                }
            }
            Err(e) if no_such_table(&e) => {}
            Err(e) => return Err(self.err(e)),
        }
        // Oldest first (a clock that went back puts a later sample into an
        // earlier hour, or later into the same hour); ties by value, as
        // the index of version 2 ordered them. Already sorted: one pass.
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        Ok(out)
    }
}

pub struct Reader<'a> {
    conn: &'a Connection,
    path: &'a Path,
}

impl Read for Reader<'_> {
    fn conn(&self) -> &Connection {
        self.conn
    }
    fn state_path(&self) -> &Path {
        self.path
    }
}

/// An open write transaction.
pub struct Tx<'a> {
    tx: &'a Transaction<'a>,
    path: &'a Path,
}

impl Read for Tx<'_> {
    fn conn(&self) -> &Connection {
        self.tx
    }
    fn state_path(&self) -> &Path {
        self.path
    }
}

impl Tx<'_> {
    pub fn set(&self, key: &str, value: &str) -> Result<(), StateError> {
        self.tx
            .prepare_cached(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute([key, value]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn delete(&self, key: &str) -> Result<(), StateError> {
        self.tx
            .prepare_cached("DELETE FROM kv WHERE key = ?1")
            .and_then(|mut s| s.execute([key]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn set_time(&self, key: &str, t: DateTime<Utc>) -> Result<(), StateError> {
        self.set(key, &t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }

    pub fn put_probe(&self, row: &ProbeRow) -> Result<(), StateError> {
        self.tx
            .prepare_cached(
                "INSERT INTO probe_state (key, probe, target, status, message, checked_at, fail_count, failing_since, alerted, last_notified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(key) DO UPDATE SET probe = excluded.probe, target = excluded.target, status = excluded.status,
                   message = excluded.message, checked_at = excluded.checked_at, fail_count = excluded.fail_count,
                   failing_since = excluded.failing_since, alerted = excluded.alerted, last_notified = excluded.last_notified",
            )
            .and_then(|mut s| {
                s.execute(params![
                    row.key,
                    row.probe,
                    row.target,
                    row.status,
                    row.message,
                    row.checked_at.timestamp(),
                    row.fail_count,
                    row.failing_since.map(|t| t.timestamp()),
                    row.alerted,
                    row.last_notified.map(|t| t.timestamp()),
                ])
            })
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Removes rows of probes that are no longer checked (e.g. a filesystem
    /// that no longer holds any path), except those with an open alert.
    pub fn drop_probes_except(&self, keep: &[String]) -> Result<(), StateError> {
        let rows = self.probe_rows()?;
        for r in rows {
            if r.alerted.is_none() && !keep.contains(&r.key) {
                self.tx
                    .execute("DELETE FROM probe_state WHERE key = ?1", [&r.key])
                    .map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }

    /// Stores a sample (a value that is not a number is not stored: no reader
    /// could use it).
    pub fn add_sample(&self, t: DateTime<Utc>, metric: &str, value: f64) -> Result<(), StateError> {
        if !value.is_finite() {
            return Ok(());
        }
        append_sample(self.tx, metric, t.timestamp(), value).map_err(|e| self.err(e))
    }

    /// Deletes the samples older than `before` and says how many: the hours
    /// before its hour, then the older part of its hour. A scan of the whole
    /// table (no index leads with the hour), so callers do it now and then
    /// (`check`: once a day), not on every write.
    pub fn prune_samples(&self, before: DateTime<Utc>) -> Result<usize, StateError> {
        let before = before.timestamp();
        let hour = hour_of(before);
        let err = |e| self.err(e);
        let whole: i64 = self
            .tx
            .query_row(
                "SELECT coalesce(sum(length(data)), 0) FROM sample_hours WHERE hour < ?1",
                [hour],
                |r| r.get(0),
            )
            .map_err(err)?;
        self.tx
            .execute("DELETE FROM sample_hours WHERE hour < ?1", [hour])
            .map_err(err)?;
        let mut n = usize::try_from(whole).unwrap_or(0) / SAMPLE_BYTES;
        // The hour `before` falls in: keep its samples from `before` on.
        let split: Vec<(String, i64, Vec<u8>)> = self
            .tx
            .prepare("SELECT metric, part, data FROM sample_hours WHERE hour = ?1")
            .and_then(|mut s| {
                s.query_map([hour], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get_ref(2)?.as_bytes()?.to_vec()))
                })?
                .collect()
            })
            .map_err(err)?;
        for (metric, part, data) in split {
            let mut keep = Vec::new();
            decode_hour(&data, before, &mut keep);
            let kept: Vec<u8> = keep
                .iter()
                .flat_map(|&(t, v)| encode_sample(t, v))
                .collect();
            n += (data.len() - kept.len()) / SAMPLE_BYTES;
            if kept.len() == data.len() {
                continue;
            }
            if kept.is_empty() {
                self.tx
                    .execute(
                        "DELETE FROM sample_hours WHERE metric = ?1 AND hour = ?2 AND part = ?3",
                        params![metric, hour, part],
                    )
                    .map_err(err)?;
            } else {
                self.tx
                    .execute(
                        "UPDATE sample_hours SET data = ?4 WHERE metric = ?1 AND hour = ?2 AND part = ?3",
                        params![metric, hour, part, kept],
                    )
                    .map_err(err)?;
            }
        }
        n += self
            .tx
            .execute("DELETE FROM samples WHERE ts < ?1", [before])
            .map_err(err)?;
        Ok(n)
    }
}

fn no_such_table(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(m)) if m.starts_with("no such table"))
}

fn classify(path: &Path, e: rusqlite::Error) -> StateError {
    use rusqlite::ErrorCode as C;
    let path = path.to_path_buf();
    match e.sqlite_error_code() {
        Some(C::NotADatabase) | Some(C::DatabaseCorrupt) => StateError::Corrupt { path, cause: e },
        Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => StateError::Locked {
            path,
            waited: BUSY_TIMEOUT,
        },
        _ => StateError::Other { path, cause: e },
    }
}

/// Opens (creating, 0600) a lock file for `flock`: never through a symlink,
/// not inherited by children, never blocking on a FIFO put in its place.
pub fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_probe_rows_and_samples() {
        let d = tempfile::tempdir().unwrap();
        let mut st = State::open(&d.path().join("s/state.db")).unwrap();
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        st.write(|tx| -> Result<(), StateError> {
            tx.set_time(keys::ACKED_UNTIL, now)?;
            tx.put_probe(&ProbeRow {
                key: "disk//".into(),
                probe: "disk".into(),
                target: Some("/".into()),
                status: "warn".into(),
                message: "91% used".into(),
                checked_at: now,
                fail_count: 1,
                failing_since: Some(now),
                alerted: None,
                last_notified: None,
            })?;
            tx.add_sample(now, "load", 0.5)?;
            tx.add_sample(now - chrono::Duration::days(40), "load", 0.7)?;
            assert_eq!(tx.prune_samples(now - chrono::Duration::days(30))?, 1);
            Ok(())
        })
        .unwrap();
        let r = st.read();
        assert_eq!(r.get_time(keys::ACKED_UNTIL).unwrap(), Some(now));
        assert_eq!(r.probe_rows().unwrap()[0].fail_count, 1);
        assert_eq!(
            r.samples("load", now - chrono::Duration::days(1)).unwrap(),
            vec![(now, 0.5)]
        );
    }

    /// A database an older grokmon left: its `samples` table with `index`,
    /// then `sql`.
    fn older_database(index: &str, sql: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch(&format!(
            "CREATE TABLE samples (ts INTEGER NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL);
             CREATE INDEX {index};
             {sql}"
        ))
        .unwrap();
        (d, p)
    }

    #[test]
    fn a_version_1_database_gets_the_covering_index_and_keeps_its_samples() {
        let (_d, p) = older_database(
            "samples_metric_ts ON samples (metric, ts)",
            "INSERT INTO samples VALUES (100, 'disk:/', 17.5); PRAGMA user_version = 1;",
        );
        let st = State::open(&p).unwrap();
        let r = st.read();
        assert_eq!(
            r.samples("disk:/", ts(0)).unwrap(),
            vec![(ts(100), 17.5)],
            "kept"
        );
        let indexes: Vec<String> = st
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'samples'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(indexes, ["samples_metric_ts_value"]);
        let legacy: i64 = st
            .conn
            .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
            .unwrap();
        assert_eq!(legacy, 0, "moved to sample_hours");
        let plan: String = st
            .conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT ts, value FROM samples WHERE metric = 'disk:/' AND ts >= 0 ORDER BY ts",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(
            plan.contains("COVERING INDEX samples_metric_ts_value"),
            "{plan}"
        );
        let v: i32 = st
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn kept_wal_is_read_by_the_next_open_and_trimmed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.db");
        let wal = d.path().join("state.db-wal");
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        for i in 0..3 {
            let mut st = State::open(&p).unwrap();
            st.keep_wal_on_close().unwrap();
            st.write(|tx| tx.add_sample(now, "load", f64::from(i)))
                .unwrap();
            // Well under the limit: nothing to do.
            st.trim_wal(1000).unwrap();
        }
        let len = std::fs::metadata(&wal).unwrap().len();
        assert!(len > 0, "the WAL is kept at close");
        // Readers (read-only too) see what is only in the WAL.
        let ro = State::open_existing(&p).unwrap().unwrap();
        let got = ro.read().samples("load", now).unwrap();
        assert_eq!(got.iter().map(|s| s.1).collect::<Vec<_>>(), [0.0, 1.0, 2.0]);
        drop(ro);
        let st = State::open(&p).unwrap();
        st.keep_wal_on_close().unwrap();
        st.trim_wal(0).unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "trimmed");
        drop(st);
        // Everything is in the database file itself now.
        let c = Connection::open_with_flags(&p, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let n: i64 = c
            .query_row("SELECT sum(length(data)) FROM sample_hours", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 3 * SAMPLE_BYTES as i64);
    }

    fn at(secs: i64) -> DateTime<Utc> {
        ts(secs)
    }

    #[test]
    fn a_version_2_database_keeps_its_samples_in_order_and_an_older_grokmon_rows_are_read_too() {
        let (_d, p) = older_database(
            "samples_metric_ts_value ON samples (metric, ts, value)",
            "INSERT INTO samples VALUES (7300, 'disk:/', 3.0), (100, 'disk:/', 1.0),
                 (3700, 'disk:/', 2.0), (100, 'load', 9.0), (100, 'disk:/', 0.5);
             PRAGMA user_version = 2;",
        );
        // Read-only (`status`) before any check moved them.
        let ro = State::open_existing(&p).unwrap().unwrap();
        assert_eq!(ro.read().samples("disk:/", at(3000)).unwrap().len(), 2);
        drop(ro);
        let mut st = State::open(&p).unwrap();
        let want = vec![
            (at(100), 0.5),
            (at(100), 1.0),
            (at(3700), 2.0),
            (at(7300), 3.0),
        ];
        assert_eq!(st.read().samples("disk:/", at(0)).unwrap(), want);
        assert_eq!(st.read().samples("load", at(0)).unwrap(), [(at(100), 9.0)]);
        assert_eq!(st.read().samples("disk:/", at(3700)).unwrap(), want[2..]);
        let hours: i64 = st
            .conn
            .query_row("SELECT count(*) FROM sample_hours", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hours, 4, "one row per metric and hour");
        // An older grokmon (version 2) writes to `samples` after the move.
        st.conn
            .execute("INSERT INTO samples VALUES (3800, 'disk:/', 2.5)", [])
            .unwrap();
        st.write(|tx| tx.add_sample(at(3900), "disk:/", 2.7))
            .unwrap();
        let got = st.read().samples("disk:/", at(3700)).unwrap();
        assert_eq!(
            got,
            [
                (at(3700), 2.0),
                (at(3800), 2.5),
                (at(3900), 2.7),
                (at(7300), 3.0)
            ]
        );
    }

    #[test]
    fn samples_come_oldest_first_after_the_clock_went_back_and_junk_is_not_read() {
        let d = tempfile::tempdir().unwrap();
        let mut st = State::open(&d.path().join("state.db")).unwrap();
        st.write(|tx| -> Result<(), StateError> {
            // A Pi's clock: a check at a wrong late time, then corrected.
            tx.add_sample(at(10_000), "m", 1.0)?;
            tx.add_sample(at(10_300), "m", 2.0)?;
            tx.add_sample(at(10_100), "m", 3.0)?;
            tx.add_sample(at(3_000), "m", 4.0)?;
            tx.add_sample(at(10_400), "m", f64::NAN)?;
            tx.add_sample(at(10_500), "m", f64::INFINITY)
        })
        .unwrap();
        assert_eq!(
            st.read().samples("m", at(0)).unwrap(),
            [
                (at(3_000), 4.0),
                (at(10_000), 1.0),
                (at(10_100), 3.0),
                (at(10_300), 2.0)
            ]
        );
        // A torn row (a partial sample at its end) yields its whole samples.
        st.conn
            .execute(
                "UPDATE sample_hours SET data = data || x'0102' WHERE hour = 2",
                [],
            )
            .unwrap();
        assert_eq!(st.read().samples("m", at(10_050)).unwrap().len(), 2);
    }

    #[test]
    fn a_busy_hour_is_split_into_parts_that_stay_in_their_page() {
        let d = tempfile::tempdir().unwrap();
        let mut st = State::open(&d.path().join("state.db")).unwrap();
        // A check every second for an hour (NRPE in a loop).
        st.write(|tx| -> Result<(), StateError> {
            (0..3600).try_for_each(|i| tx.add_sample(at(7200 + i), "m", i as f64))
        })
        .unwrap();
        let (parts, longest): (i64, i64) = st
            .conn
            .query_row(
                "SELECT count(*), max(length(data)) FROM sample_hours WHERE metric = 'm'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(parts, 3600 / 48);
        assert_eq!(longest, PART_BYTES as i64);
        let got = st.read().samples("m", at(0)).unwrap();
        assert_eq!(got.len(), 3600);
        assert!(got.iter().enumerate().all(|(i, s)| s.1 == i as f64));
        // Pruning inside that hour cuts the parts it falls in.
        assert_eq!(
            st.write(|tx| tx.prune_samples(at(7200 + 100))).unwrap(),
            100
        );
        assert_eq!(st.read().samples("m", at(0)).unwrap()[0], (at(7300), 100.0));
    }

    #[test]
    fn pruning_cuts_inside_an_hour_and_counts_what_it_removed() {
        let d = tempfile::tempdir().unwrap();
        let mut st = State::open(&d.path().join("state.db")).unwrap();
        st.write(|tx| -> Result<(), StateError> {
            for t in [100, 3600, 3700, 3800, 7200] {
                tx.add_sample(at(t), "a", t as f64)?;
            }
            tx.add_sample(at(3650), "b", 1.0)?;
            tx.add_sample(at(3900), "b", 2.0)
        })
        .unwrap();
        // Before 3750: 100, 3600, 3700 of `a`, 3650 of `b`.
        assert_eq!(st.write(|tx| tx.prune_samples(at(3750))).unwrap(), 4);
        let r = st.read();
        assert_eq!(
            r.samples("a", at(0)).unwrap(),
            [(at(3800), 3800.0), (at(7200), 7200.0)]
        );
        assert_eq!(r.samples("b", at(0)).unwrap(), [(at(3900), 2.0)]);
        assert_eq!(st.write(|tx| tx.prune_samples(at(3750))).unwrap(), 0);
        assert_eq!(st.write(|tx| tx.prune_samples(at(3850))).unwrap(), 1);
        assert_eq!(st.write(|tx| tx.prune_samples(at(3950))).unwrap(), 1);
        let hours: i64 = st
            .conn
            .query_row("SELECT count(*) FROM sample_hours", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hours, 1, "the emptied rows are gone");
    }

    #[test]
    fn corrupt_file_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.db");
        std::fs::write(&p, vec![0x5a; 8192]).unwrap();
        let err = State::open(&p).err().expect("corrupt state must fail");
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("move it aside"));
    }
}
