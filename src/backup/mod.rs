//! `grokmon backup`: consistent, verified, compressed backups with retention
//! (issue 4). This file dispatches the verbs and holds what they share: the
//! directory lock, private temporary files, the directory scan and `list`,
//! `verify` and `prune`. The online copy lives in `create`, the file format in
//! `archive`, the retention rules (a pure function) in `retention`, and the
//! careful replacement of a database in `restore`.
//!
//! Every file this module writes first exists under a temporary name that
//! starts with `.grokmon-tmp-` (which the naming scheme never accepts), is
//! created 0600, fsynced, and only then renamed to its final name: a crash
//! leaves either nothing or a complete, verified file under a final name.

pub mod archive;
pub mod create;
pub mod naming;
pub mod restore;
pub mod retention;

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::Ctx;
use crate::cli::{BackupArgs, BackupCommand};
use crate::config::Compression;
use crate::text::human_age;
use naming::Found;
use retention::{Plan, Policy, apply_retention};

/// The lock file in the backup directory: one writer (create, prune) at a
/// time, and no cleanup of temporaries while a verify reads one.
pub const LOCK_NAME: &str = ".grokmon-backup.lock";
/// Prefix of every temporary file grokmon writes; leftovers of a killed run
/// are removed by the next `create`, under the exclusive lock.
pub const TMP_PREFIX: &str = ".grokmon-tmp-";

/// Failures a caller (or a test) branches on.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "another backup operation is running in {dir} (lock {lock} is held); nothing was touched: try again when it finishes"
    )]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("database {0} does not exist: nothing to back up (check paths.database)")]
    SourceMissing(PathBuf),
    #[error("no backups in {0}")]
    NoBackups(PathBuf),
}

pub fn run(args: &BackupArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    match &args.command {
        None | Some(BackupCommand::Create) => create::run(ctx),
        Some(BackupCommand::List { json }) => list(ctx, *json),
        Some(BackupCommand::Verify { file }) => verify(ctx, file.as_deref()),
        Some(BackupCommand::Prune { dry_run }) => prune(ctx, *dry_run),
        Some(BackupCommand::Restore {
            file,
            to,
            yes,
            force,
        }) => restore::run(
            ctx,
            &restore::Options {
                file: file.clone(),
                to: to.clone(),
                yes: *yes,
                force: *force,
            },
        ),
    }
}

// ---------------------------------------------------------------- shared

/// Creates `dir` (and missing parents) mode 0700 when it does not exist.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => anyhow::bail!(
            "backup directory {} exists but is not a directory (check paths.backups)",
            dir.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create backup directory {}", dir.display())),
        Err(e) => Err(e).with_context(|| format!("cannot read backup directory {}", dir.display())),
    }
}

/// Makes a rename or an unlink in `dir` durable.
pub fn fsync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync directory {}", dir.display()))
}

/// A held lock on the backup directory; released on drop.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Takes the directory lock without waiting: exclusive for writers, shared
/// for readers that use temporaries. `BackupError::Locked` when it is held.
pub fn lock_dir(dir: &Path, exclusive: bool) -> anyhow::Result<DirLock> {
    let path = dir.join(LOCK_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    let r = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match r {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(BackupError::Locked {
            dir: dir.to_path_buf(),
            lock: path,
        }
        .into()),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// A temporary file that is removed (with any SQLite side files) when
/// dropped, unless `persist` renamed it to its final name.
#[derive(Debug)]
pub struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    /// Creates `path` new, mode 0600, refusing to follow or reuse anything.
    pub fn create(path: PathBuf) -> anyhow::Result<(TempFile, File)> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("cannot create temporary file {}", path.display()))?;
        Ok((TempFile { path: Some(path) }, f))
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Renames the file to `to` (atomically replacing it); the guard is spent.
    pub fn persist(mut self, to: &Path) -> anyhow::Result<()> {
        let from = self.path.take().unwrap_or_default();
        if let Err(e) = std::fs::rename(&from, to) {
            self.path = Some(from);
            return Err(e).with_context(|| format!("cannot rename into {}", to.display()));
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(&p);
            for side in ["-journal", "-wal", "-shm"] {
                let mut s = p.clone().into_os_string();
                s.push(side);
                let _ = std::fs::remove_file(s);
            }
        }
    }
}

/// What a backup directory holds.
#[derive(Debug, Default)]
pub struct Scan {
    /// Backups by the naming scheme, newest first.
    pub backups: Vec<Found>,
    /// Our temporaries (leftovers of an interrupted run, or a run in progress).
    pub temporaries: Vec<PathBuf>,
    /// Everything else: never touched.
    pub foreign: Vec<String>,
}

/// Reads `dir`; a missing directory is empty.
pub fn scan(dir: &Path) -> anyhow::Result<Scan> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Scan::default()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read backup directory {}", dir.display()));
        }
    };
    let mut s = Scan::default();
    for entry in rd {
        let entry =
            entry.with_context(|| format!("cannot read backup directory {}", dir.display()))?;
        let name = entry.file_name();
        let name_lossy = name.to_string_lossy();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if name_lossy == LOCK_NAME && is_file {
            continue;
        }
        let utf8 = name.to_str();
        if let (Some(n), true) = (utf8, is_file) {
            if n.starts_with(TMP_PREFIX) {
                s.temporaries.push(entry.path());
                continue;
            }
            if let Some((time, compression)) = naming::parse(n) {
                s.backups.push(Found {
                    path: entry.path(),
                    time,
                    compression,
                });
                continue;
            }
        }
        s.foreign.push(name_lossy.into_owned());
    }
    s.backups
        .sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.path.cmp(&b.path)));
    s.temporaries.sort();
    s.foreign.sort();
    Ok(s)
}

/// A file's name for messages, sanitized.
pub fn display_name(p: &Path) -> String {
    crate::text::sanitize(
        &p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string()),
    )
}

/// `1.5 GiB`, `41.2 MiB`, `512 B` (the probes' formatting, for byte counts).
pub fn human_bytes(n: u64) -> String {
    crate::text::human_bytes(n as f64)
}

/// Resolves a backup named on the command line: a path as given, else a bare
/// name inside the backup directory.
pub fn resolve_file(ctx: &Ctx, file: &Path) -> anyhow::Result<PathBuf> {
    if file.exists() {
        return Ok(file.to_path_buf());
    }
    if file.components().count() == 1 {
        let p = ctx.config.paths.backups.join(file);
        if p.exists() {
            return Ok(p);
        }
    }
    anyhow::bail!(
        "backup file {} does not exist (see `grokmon backup list`)",
        file.display()
    )
}

/// The newest backup not dated after `now` (one dated in the future is clock
/// trouble, not the latest backup), else the newest; or `NoBackups`.
pub fn newest(dir: &Path, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<PathBuf> {
    let backups = scan(dir)?.backups;
    backups
        .iter()
        .find(|f| f.time <= now)
        .or(backups.first())
        .map(|f| f.path.clone())
        .ok_or_else(|| BackupError::NoBackups(dir.to_path_buf()).into())
}

/// The result of verifying a backup.
#[derive(Debug)]
pub struct Verified {
    pub compression: Compression,
    pub db_bytes: u64,
    pub tables: Vec<(String, u64)>,
}

/// Decompresses `file` into the temporary `into` (created by the caller),
/// runs the integrity check and counts rows. The error says what is wrong.
pub fn verify_into(file: &Path, into: &TempFile, out: &mut File) -> anyhow::Result<Verified> {
    let name = file.display();
    let compression = archive::detect(file)
        .with_context(|| format!("cannot read backup {name}"))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{name} is not a grokmon backup: neither zstd, gzip nor an SQLite database"
            )
        })?;
    let db_bytes = archive::decompress(file, compression, out)
        .with_context(|| format!("backup {name} is damaged: cannot decompress it"))?;
    out.sync_all()
        .with_context(|| format!("cannot write {}", into.path().display()))?;
    let conn = archive::open_copy(into.path())
        .with_context(|| format!("backup {name} is not a readable SQLite database"))?;
    archive::integrity_check(&conn).with_context(|| format!("backup {name} is damaged"))?;
    let tables = archive::row_counts(&conn)
        .with_context(|| format!("backup {name} is damaged: cannot count rows"))?;
    Ok(Verified {
        compression,
        db_bytes,
        tables,
    })
}

// ---------------------------------------------------------------- list

fn list(ctx: &Ctx, json: bool) -> anyhow::Result<u8> {
    let dir = &ctx.config.paths.backups;
    let s = scan(dir)?;
    let mut rows = Vec::new();
    for b in &s.backups {
        let size = std::fs::metadata(&b.path).map(|m| m.len()).unwrap_or(0);
        let db = archive::db_size(&b.path, b.compression);
        let age = (ctx.now - b.time).to_std().ok();
        rows.push((b, size, db, age));
    }
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(b, size, db, age)| {
                serde_json::json!({
                    "name": b.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "path": b.path.display().to_string(),
                    "time": b.time.to_rfc3339_opts(SecondsFormat::Secs, true),
                    "age_seconds": age.map(|a| a.as_secs()),
                    "compression": archive::name(b.compression),
                    "size_bytes": size,
                    "database_bytes": db,
                    "ratio": db.filter(|_| *size > 0).map(|d| round2(d as f64 / *size as f64)),
                })
            })
            .collect();
        crate::print_stdout(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
        return Ok(crate::exit::OK);
    }
    if rows.is_empty() {
        crate::print_stdout(&format!("no backups in {}\n", dir.display()))?;
        return Ok(crate::exit::OK);
    }
    let mut out = format!(
        "{:<34} {:<21} {:>5} {:>10} {:>6}\n",
        "NAME", "TIME", "AGE", "SIZE", "RATIO"
    );
    for (b, size, db, age) in &rows {
        out.push_str(&format!(
            "{:<34} {:<21} {:>5} {:>10} {:>6}\n",
            display_name(&b.path),
            b.time.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            age.map(human_age).unwrap_or_else(|| "future".into()),
            human_bytes(*size),
            db.filter(|_| *size > 0)
                .map(|d| format!("{:.1}x", d as f64 / *size as f64))
                .unwrap_or_else(|| "?".into()),
        ));
    }
    crate::print_stdout(&out)?;
    Ok(crate::exit::OK)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ---------------------------------------------------------------- verify

fn verify(ctx: &Ctx, file: Option<&Path>) -> anyhow::Result<u8> {
    let dir = &ctx.config.paths.backups;
    let file = match file {
        Some(f) => resolve_file(ctx, f)?,
        None => newest(dir, ctx.now)?,
    };
    ensure_dir(dir)?;
    // Shared: other verifies may run; a create (which cleans temporaries) may not.
    let _lock = lock_dir(dir, false)?;
    let (tmp, mut out) =
        TempFile::create(dir.join(format!("{TMP_PREFIX}verify-{}.db", std::process::id())))?;
    let v = verify_into(&file, &tmp, &mut out)?;
    drop(out);
    drop(tmp);
    let mut text = format!(
        "ok: {} ({}, database {}): integrity ok\n",
        display_name(&file),
        match v.compression {
            Compression::None => "uncompressed",
            c => archive::name(c),
        },
        human_bytes(v.db_bytes)
    );
    let width = v
        .tables
        .iter()
        .map(|(n, _)| crate::text::sanitize(n).chars().count())
        .max()
        .unwrap_or(0);
    for (name, n) in &v.tables {
        text.push_str(&format!(
            "  {:<width$}  {n} rows\n",
            crate::text::sanitize(name)
        ));
    }
    if v.tables.is_empty() {
        // What the original backup script produced right after a service
        // start (the schema still in the WAL): a valid file holding nothing.
        text = format!(
            "warning: {} is a valid SQLite database with no tables: it holds no data (a copy taken without the WAL?)\n",
            display_name(&file)
        );
        crate::print_stdout(&text)?;
        return Ok(crate::exit::FAILURE);
    }
    crate::print_stdout(&text)?;
    Ok(crate::exit::OK)
}

// ---------------------------------------------------------------- prune

/// Removes what the plan removes; returns the lines to print. Stops at the
/// first failure, so the error names the file.
pub fn act_on_plan(
    dir: &Path,
    plan: &Plan,
    retention: std::time::Duration,
) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for r in &plan.remove {
        std::fs::remove_file(&r.backup.path)
            .with_context(|| format!("cannot remove old backup {}", r.backup.path.display()))?;
        lines.push(format!(
            "removed {} ({} old, beyond retention {})",
            display_name(&r.backup.path),
            human_age(r.age),
            human_age(retention)
        ));
    }
    if !plan.remove.is_empty() {
        fsync_dir(dir)?;
    }
    Ok(lines)
}

/// Warnings for backups dated in the future.
pub fn future_warnings(plan: &Plan) -> Vec<String> {
    plan.future()
        .map(|k| {
            format!(
                "warning: {} is {}; kept",
                display_name(&k.backup.path),
                k.why()
            )
        })
        .collect()
}

fn prune(ctx: &Ctx, dry_run: bool) -> anyhow::Result<u8> {
    let cfg = &ctx.config;
    let dir = &cfg.paths.backups;
    let policy = Policy::from_config(&cfg.backup);
    if !dir.exists() {
        crate::print_stdout(&format!("no backups in {}\n", dir.display()))?;
        return Ok(crate::exit::OK);
    }
    // Even a dry run holds the lock, so what it prints is what a prune would do now.
    let _lock = lock_dir(dir, !dry_run)?;
    let s = scan(dir)?;
    let plan = apply_retention(&s.backups, policy, ctx.now);
    for w in future_warnings(&plan) {
        crate::errln!("grokmon: {w}");
    }
    if dry_run {
        crate::print_stdout(&describe_plan(&plan, &s, policy, ctx.now))?;
        return Ok(crate::exit::OK);
    }
    let mut out = act_on_plan(dir, &plan, policy.retention)?.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&format!(
        "kept {} backup{}, removed {}\n",
        plan.keep.len(),
        if plan.keep.len() == 1 { "" } else { "s" },
        plan.remove.len()
    ));
    crate::print_stdout(&out)?;
    Ok(crate::exit::OK)
}

/// The `--dry-run` report: every file and what would happen to it, and why.
pub fn describe_plan(plan: &Plan, s: &Scan, policy: Policy, now: DateTime<Utc>) -> String {
    let mut out = format!(
        "dry run at {}: retention {}, keep_last {}; nothing is deleted\n",
        now.to_rfc3339_opts(SecondsFormat::Secs, true),
        human_age(policy.retention),
        policy.keep_last
    );
    for k in &plan.keep {
        out.push_str(&format!(
            "keep    {}  ({})\n",
            display_name(&k.backup.path),
            k.why()
        ));
    }
    for r in &plan.remove {
        out.push_str(&format!(
            "remove  {}  ({} old, beyond retention {})\n",
            display_name(&r.backup.path),
            human_age(r.age),
            human_age(policy.retention)
        ));
    }
    for t in &s.temporaries {
        out.push_str(&format!(
            "temp    {}  (leftover temporary: removed by the next backup)\n",
            display_name(t)
        ));
    }
    for f in &s.foreign {
        out.push_str(&format!(
            "foreign {}  (not a grokmon backup name: left alone)\n",
            crate::text::sanitize(f)
        ));
    }
    out.push_str(&format!(
        "would keep {}, remove {}\n",
        plan.keep.len(),
        plan.remove.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_classifies_backups_temporaries_and_foreign() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            "grokmon-20261128T030405Z.db.zst",
            "grokmon-20261127T030405Z.db.gz",
            ".grokmon-tmp-20261128T030405Z-77.db",
            "notes.txt",
            "grokmon-20261128T030405Z.db.zst.bak",
            LOCK_NAME,
        ] {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        std::fs::create_dir(d.path().join("grokmon-20261126T030405Z.db")).unwrap();
        let s = scan(d.path()).unwrap();
        let names: Vec<String> = s.backups.iter().map(|b| display_name(&b.path)).collect();
        assert_eq!(
            names,
            [
                "grokmon-20261128T030405Z.db.zst",
                "grokmon-20261127T030405Z.db.gz"
            ]
        );
        assert_eq!(s.temporaries.len(), 1);
        assert_eq!(
            s.foreign,
            [
                "grokmon-20261126T030405Z.db",
                "grokmon-20261128T030405Z.db.zst.bak",
                "notes.txt"
            ]
        );
        assert!(scan(&d.path().join("missing")).unwrap().backups.is_empty());
    }

    #[test]
    fn human_bytes_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(256 * 1024 * 1024), "256.0 MiB");
    }

    #[test]
    fn temp_file_is_private_and_removed_unless_persisted() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".grokmon-tmp-x");
        let (t, _f) = TempFile::create(p.clone()).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(t);
        assert!(!p.exists());
        let (t, _f) = TempFile::create(p.clone()).unwrap();
        let fin = d.path().join("final");
        t.persist(&fin).unwrap();
        assert!(fin.exists() && !p.exists());
    }

    #[test]
    fn second_exclusive_lock_is_refused_shared_locks_coexist() {
        let d = tempfile::tempdir().unwrap();
        let a = lock_dir(d.path(), false).unwrap();
        let _b = lock_dir(d.path(), false).unwrap();
        let e = lock_dir(d.path(), true).unwrap_err();
        assert!(matches!(
            e.downcast_ref::<BackupError>(),
            Some(BackupError::Locked { .. })
        ));
        drop(a);
        drop(_b);
        let _c = lock_dir(d.path(), true).unwrap();
        assert!(lock_dir(d.path(), false).is_err());
    }
}
