//! `grokmon backup create`: a consistent online copy of the live database,
//! verified, compressed, made durable, then renamed to its final name, then
//! retention.
//!
//! Consistency: SQLite's online backup API copies pages from a snapshot.
//! For a WAL database (the orchestrator's store) the copy runs inside one read
//! transaction, taken at the start: in WAL mode a reader never blocks a
//! writer, so the orchestrator keeps committing while every step copies from
//! the same snapshot, WAL frames included, and the copy never restarts. A
//! rollback-journal database cannot be read and written at once, so it is
//! copied in small steps with pauses in between that let writers in; when the
//! writers change it so often that the copy keeps restarting, the rest is
//! copied in one step (a short stall of the writer instead of no backup).
//!
//! Then the integrity check of the copy and its compression run side by side
//! (two threads reading the same, already cached, file), and only a copy that
//! passed both is fsynced and renamed into place.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{
    BackupError, TMP_PREFIX, TempFile, act_on_plan, archive, display_name, ensure_dir, fsync_dir,
    future_warnings, human_bytes, lock_dir, naming, scan,
};
use crate::Ctx;
use crate::alerts::{AlertLog, Event, Level};
use crate::config::Compression;

/// Pages copied per step: 1024 pages of 4 KiB are 4 MiB, a few milliseconds.
const STEP_PAGES: i32 = 1024;
/// Pause between steps of a rollback-journal copy, for writers to get in.
const PAUSE: Duration = Duration::from_millis(5);
/// Restarts (the source changed under a rollback-journal copy) before the rest
/// is copied in one step.
const MAX_RESTARTS: u32 = 5;
/// How long a locked source may keep the copy waiting.
const BUSY_LIMIT: Duration = Duration::from_secs(60);
/// A progress bar appears only for a backup that takes longer than this.
const BAR_AFTER: Duration = Duration::from_millis(700);

/// What a finished backup reports.
#[derive(Debug)]
pub struct Summary {
    pub name: String,
    pub db_bytes: u64,
    pub file_bytes: u64,
    pub elapsed: Duration,
    pub cleaned: usize,
}

impl Summary {
    pub fn line(&self) -> String {
        let ratio = if self.file_bytes > 0 {
            self.db_bytes as f64 / self.file_bytes as f64
        } else {
            0.0
        };
        format!(
            "backup {}: {} -> {} ({ratio:.1}x) in {:.1}s",
            self.name,
            human_bytes(self.db_bytes),
            human_bytes(self.file_bytes),
            self.elapsed.as_secs_f64()
        )
    }
}

pub fn run(ctx: &Ctx) -> anyhow::Result<u8> {
    let started = Instant::now();
    let cfg = &ctx.config;
    let log = AlertLog::from_config(cfg);
    let mut bar = Bar::new(ctx.stdout_is_terminal && std::io::stderr().is_terminal());
    let result = create(ctx, &mut bar);
    bar.finish();
    // The event time: the run's clock plus what the backup took.
    let now = ctx.now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            // A run refused by the lock touched nothing; it is not a failed backup.
            if e.downcast_ref::<BackupError>()
                .is_some_and(|b| matches!(b, BackupError::Locked { .. }))
            {
                return Err(e);
            }
            let ev = Event::new(now, Level::Crit, "backup", format!("backup failed: {e:#}"));
            match log.append(std::slice::from_ref(&ev)) {
                Ok(()) => crate::alerts::notify::written(cfg, &ev, &log, now),
                Err(le) => crate::errln!("grokmon: {}", crate::text::chain(&le)),
            }
            return Err(e);
        }
    };
    let mut out = String::new();
    if summary.cleaned > 0 {
        out.push_str(&format!(
            "removed {} leftover temporary file{} of an interrupted backup\n",
            summary.cleaned,
            if summary.cleaned == 1 { "" } else { "s" }
        ));
    }
    out.push_str(&summary.line());
    out.push('\n');
    crate::print_stdout(&out)?;
    let ev = Event::new(now, Level::Info, "backup", summary.line());
    match log.append(std::slice::from_ref(&ev)) {
        Ok(()) => crate::alerts::notify::written(cfg, &ev, &log, now),
        Err(le) => crate::errln!(
            "grokmon: warning: the backup is good, but {}",
            crate::text::chain(&le)
        ),
    }

    // Retention after each create; a failure here does not undo the backup.
    let dir = &cfg.paths.backups;
    let policy = super::retention::Policy::from_config(&cfg.backup);
    let pruned = (|| -> anyhow::Result<Vec<String>> {
        let _lock = lock_dir(dir, true)?;
        let s = scan(dir)?;
        let plan = super::retention::apply_retention(&s.backups, policy, ctx.now);
        for w in future_warnings(&plan) {
            crate::errln!("grokmon: {w}");
        }
        act_on_plan(dir, &plan, policy.retention)
    })();
    match pruned {
        Ok(lines) => {
            if !lines.is_empty() {
                crate::print_stdout(&format!("{}\n", lines.join("\n")))?;
            }
            Ok(crate::exit::OK)
        }
        Err(e) => Err(e.context("the backup was written, but retention failed")),
    }
}

/// The whole create, under the directory lock. Any error leaves no file
/// under a final name (temporaries are removed by their guards).
fn create(ctx: &Ctx, bar: &mut Bar) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let cfg = &ctx.config;
    let db = &cfg.paths.database;
    let dir = &cfg.paths.backups;
    let compression = cfg.backup.compression;

    match std::fs::metadata(db) {
        Ok(m) if m.is_file() => {}
        Ok(_) => anyhow::bail!(
            "database {} is not a regular file (check paths.database)",
            db.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::SourceMissing(db.clone()).into());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read database {}", db.display())),
    }

    ensure_dir(dir)?;
    let _lock = lock_dir(dir, true)?;
    let cleaned = clean_temporaries(dir)?;

    let stamp = ctx.now.format("%Y%m%dT%H%M%SZ");
    let pid = std::process::id();
    let final_path = dir.join(naming::file_name(ctx.now, compression));
    let (tmp_db, tmp_db_file) =
        TempFile::create(dir.join(format!("{TMP_PREFIX}{stamp}-{pid}.db")))?;
    drop(tmp_db_file);

    let db_bytes = copy_online(db, tmp_db.path(), bar)?;

    let file_bytes = if compression == Compression::None {
        let conn = archive::open_copy(tmp_db.path())
            .with_context(|| format!("cannot open the copy of {}", db.display()))?;
        archive::integrity_check(&conn)
            .with_context(|| format!("database {} failed the check", db.display()))?;
        drop(conn);
        let f = std::fs::File::open(tmp_db.path())
            .with_context(|| format!("cannot open {}", tmp_db.path().display()))?;
        f.sync_all()
            .with_context(|| format!("cannot fsync {}", tmp_db.path().display()))?;
        tmp_db.persist(&final_path)?;
        db_bytes
    } else {
        let (tmp_out, mut out) = TempFile::create(dir.join(format!(
            "{TMP_PREFIX}{stamp}-{pid}{}",
            naming::suffix(compression)
        )))?;
        let level = cfg.backup.level;
        let (checked, compressed) = std::thread::scope(|s| {
            let check = s.spawn(|| -> anyhow::Result<()> {
                let conn = archive::open_copy(tmp_db.path())
                    .with_context(|| format!("cannot open the copy of {}", db.display()))?;
                archive::integrity_check(&conn)
                    .with_context(|| format!("database {} failed the check", db.display()))
            });
            let compressed = (|| -> anyhow::Result<u64> {
                let mut src = std::fs::File::open(tmp_db.path())
                    .with_context(|| format!("cannot open {}", tmp_db.path().display()))?;
                let n = archive::compress(
                    &mut src,
                    &mut out,
                    compression,
                    level,
                    Some(db_bytes),
                    &mut |done| bar.update("compressing", done, db_bytes),
                )
                .with_context(|| format!("cannot write {}", tmp_out.path().display()))?;
                out.sync_all()
                    .with_context(|| format!("cannot fsync {}", tmp_out.path().display()))?;
                Ok(n)
            })();
            let checked = check
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the integrity check panicked")));
            (checked, compressed)
        });
        checked?;
        let n = compressed?;
        if n != db_bytes {
            anyhow::bail!(
                "the copy of {} changed size while compressing ({db_bytes} then {n} bytes)",
                db.display()
            );
        }
        let file_bytes = out
            .metadata()
            .with_context(|| format!("cannot stat {}", tmp_out.path().display()))?
            .len();
        drop(out);
        tmp_out.persist(&final_path)?;
        drop(tmp_db);
        file_bytes
    };
    fsync_dir(dir)?;
    Ok(Summary {
        name: display_name(&final_path),
        db_bytes,
        file_bytes,
        elapsed: started.elapsed(),
        cleaned,
    })
}

/// Removes leftovers of interrupted runs. Only under the exclusive lock: no
/// other create or verify is using them.
fn clean_temporaries(dir: &Path) -> anyhow::Result<usize> {
    let s = scan(dir)?;
    for t in &s.temporaries {
        std::fs::remove_file(t)
            .with_context(|| format!("cannot remove leftover temporary {}", t.display()))?;
    }
    Ok(s.temporaries.len())
}

/// Copies `src_path` into the empty database file `dst_path` with the online
/// backup API; returns the size of the copy in bytes. The copy is switched to
/// rollback-journal mode, so it is one self-contained file.
fn copy_online(src_path: &Path, dst_path: &Path, bar: &mut Bar) -> anyhow::Result<u64> {
    let name = src_path.display();
    let src = Connection::open_with_flags(
        src_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open database {name}"))?;
    src.busy_timeout(Duration::from_secs(10))
        .with_context(|| format!("cannot open database {name}"))?;
    let mode: String = src
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .with_context(|| format!("cannot read database {name}"))?;
    let page_size: i64 = src
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .with_context(|| format!("cannot read database {name}"))?;
    let page_size = page_size.max(512) as u64;
    let wal = mode.eq_ignore_ascii_case("wal");

    let mut dst = Connection::open_with_flags(
        dst_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", dst_path.display()))?;
    // The copy is private and fsynced by us at the end: no journal, no syncs.
    dst.query_row("PRAGMA journal_mode = OFF", [], |_| Ok(()))
        .and_then(|_| dst.execute_batch("PRAGMA synchronous = OFF"))
        .with_context(|| format!("cannot prepare {}", dst_path.display()))?;

    if wal {
        // One snapshot for the whole copy: this read transaction.
        src.execute_batch("BEGIN")
            .and_then(|_| src.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())))
            .with_context(|| format!("cannot read database {name}"))?;
    }
    {
        let backup = Backup::new(&src, &mut dst)
            .with_context(|| format!("cannot start the backup of {name}"))?;
        let mut restarts = 0u32;
        let mut last_remaining = i32::MAX;
        let mut busy_since: Option<Instant> = None;
        loop {
            let pages = if restarts >= MAX_RESTARTS {
                -1
            } else {
                STEP_PAGES
            };
            let r = backup
                .step(pages)
                .with_context(|| format!("cannot copy database {name}"))?;
            match r {
                StepResult::Done => break,
                StepResult::More => busy_since = None,
                StepResult::Busy | StepResult::Locked => {
                    let since = *busy_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > BUSY_LIMIT {
                        anyhow::bail!(
                            "database {name} stayed locked for {}s; is a process holding a write transaction?",
                            BUSY_LIMIT.as_secs()
                        );
                    }
                    std::thread::sleep(PAUSE * 2);
                    continue;
                }
                // StepResult is non-exhaustive.
                _ => {}
            }
            let p = backup.progress();
            if p.remaining > last_remaining {
                restarts += 1;
            }
            last_remaining = p.remaining;
            let total = p.pagecount.max(0) as u64 * page_size;
            let done = (p.pagecount - p.remaining).max(0) as u64 * page_size;
            bar.update("copying", done, total);
            if !wal {
                std::thread::sleep(PAUSE);
            }
        }
    }
    if wal {
        src.execute_batch("COMMIT")
            .with_context(|| format!("cannot end the read of {name}"))?;
    }
    drop(src);
    dst.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
        .with_context(|| format!("cannot finish {}", dst_path.display()))?;
    let pages: i64 = dst
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .with_context(|| format!("cannot read {}", dst_path.display()))?;
    let ps: i64 = dst
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .with_context(|| format!("cannot read {}", dst_path.display()))?;
    dst.close()
        .map_err(|(_, e)| e)
        .with_context(|| format!("cannot close {}", dst_path.display()))?;
    let len = std::fs::metadata(dst_path)
        .with_context(|| format!("cannot stat {}", dst_path.display()))?
        .len();
    let want = (pages.max(0) as u64) * (ps.max(0) as u64);
    if len != want {
        anyhow::bail!("the copy of {name} has {len} bytes, expected {want}: not using it");
    }
    Ok(len)
}

/// A progress bar on stderr, only on a terminal and only once a backup has
/// taken a moment: a quick backup or a timer's run prints just the summary.
struct Bar {
    enabled: bool,
    start: Instant,
    pb: Option<ProgressBar>,
}

impl Bar {
    fn new(enabled: bool) -> Bar {
        Bar {
            enabled,
            start: Instant::now(),
            pb: None,
        }
    }

    fn update(&mut self, phase: &'static str, done: u64, total: u64) {
        if !self.enabled {
            return;
        }
        if self.pb.is_none() && self.start.elapsed() >= BAR_AFTER {
            let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{msg:12} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            {
                pb.set_style(style.progress_chars("=> "));
            }
            self.pb = Some(pb);
        }
        if let Some(pb) = &self.pb {
            pb.set_length(total);
            pb.set_position(done);
            pb.set_message(phase);
        }
    }

    fn finish(&mut self) {
        if let Some(pb) = self.pb.take() {
            pb.finish_and_clear();
        }
    }
}
