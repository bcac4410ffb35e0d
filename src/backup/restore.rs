//! `grokmon backup restore FILE [--to PATH] [--yes] [--force]`: put a backup
//! back, verified first, without ever leaving a half-written database.
//!
//! The backup is decompressed into a temporary file beside the target (same
//! filesystem, so the final rename is atomic), checked, and only then renamed
//! over the target. The replaced database stays as `NAME.pre-restore-STAMP`
//! (a hard link to the old file, with its WAL, if any, moved along with it):
//! a restore can itself be undone. The restored file keeps the replaced one's
//! permission bits (and, as root, its owner and group); a restore to a new
//! path is 0600. While the service that owns the database is active, a
//! restore over it is refused unless `--force`.

use std::io::{BufRead, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{
    TMP_PREFIX, TempFile, display_name, fsync_dir, human_bytes, resolve_file, verify_into,
};
use crate::Ctx;
use crate::alerts::{AlertLog, Event, Level};
use crate::systemd::{Systemctl, SystemctlError};

/// The restore's flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub file: PathBuf,
    pub to: Option<PathBuf>,
    pub yes: bool,
    pub force: bool,
}

/// Service states in which the database is (or may be) in use.
const BUSY_STATES: &[&str] = &["active", "activating", "reloading", "deactivating"];

pub fn run(ctx: &Ctx, o: &Options) -> anyhow::Result<u8> {
    let cfg = &ctx.config;
    let file = resolve_file(ctx, &o.file)?;
    let target = o.to.clone().unwrap_or_else(|| cfg.paths.database.clone());
    if !o.yes && !ctx.stdin_is_terminal {
        anyhow::bail!(
            "restore would replace {}: pass --yes to confirm (there is no terminal to ask on)",
            target.display()
        );
    }

    // Refuse to swap the database under the running orchestrator.
    let mut notes = Vec::new();
    if same_path(&target, &cfg.paths.database) {
        let unit = &cfg.service.unit;
        match Systemctl::new(cfg.service.scope).is_active(unit) {
            Ok(state) if BUSY_STATES.contains(&state.as_str()) => {
                if o.force {
                    notes.push(format!(
                        "warning: {unit} is {state}; restoring anyway (--force): restart it afterwards"
                    ));
                } else {
                    anyhow::bail!(
                        "{unit} is {state} and uses {}: stop it first (systemctl{} stop {unit}), or pass --force",
                        target.display(),
                        if cfg.service.scope == crate::config::Scope::User {
                            " --user"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(_) => {}
            Err(SystemctlError::Unavailable(why)) => notes.push(format!(
                "note: {why}; cannot tell whether {unit} is running: make sure nothing uses {}",
                target.display()
            )),
            Err(e) if o.force => notes.push(format!(
                "warning: cannot tell whether {unit} is running ({}); restoring anyway (--force)",
                crate::text::chain(&e)
            )),
            Err(e) => anyhow::bail!(
                "cannot tell whether {unit} is running ({}): pass --force to restore anyway",
                crate::text::chain(&e)
            ),
        }
    }
    for n in &notes {
        crate::errln!("grokmon: {n}");
    }

    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    clean_stale_restores(&dir, &ctx.roots.proc);
    let (tmp, mut out) =
        TempFile::create(dir.join(format!("{TMP_PREFIX}restore-{}.db", std::process::id())))?;
    let v = verify_into(&file, &tmp, &mut out)?;
    drop(out);
    let rows: u64 = v.tables.iter().map(|(_, n)| n).sum();
    crate::errln!(
        "verified {}: database {}, {} tables, {rows} rows, integrity ok",
        display_name(&file),
        human_bytes(v.db_bytes),
        v.tables.len()
    );

    let stamp = ctx.now.format("%Y%m%dT%H%M%SZ");
    let pre = target.exists().then(|| {
        let mut s = target.clone().into_os_string();
        s.push(format!(".pre-restore-{stamp}"));
        PathBuf::from(s)
    });
    if !o.yes {
        let q = match &pre {
            Some(p) => format!(
                "replace {} with {}? the current database is kept as {} [y/N] ",
                target.display(),
                display_name(&file),
                display_name(p)
            ),
            None => format!(
                "write {} to {}? [y/N] ",
                display_name(&file),
                target.display()
            ),
        };
        if !ask(&q)? {
            crate::errln!("restore cancelled; nothing changed");
            return Ok(crate::exit::FAILURE);
        }
    }

    if pre.is_some() {
        // Read before anything moves: the restored file takes over the
        // replaced one's access (a reader in its group keeps reading).
        let replaced = std::fs::metadata(&target)
            .with_context(|| format!("cannot read the mode of {}", target.display()))?;
        take_access_of(tmp.path(), &replaced)?;
    }
    if let Some(pre) = &pre {
        keep_previous(&target, pre)?;
    }
    tmp.persist(&target)?;
    fsync_dir(&dir)?;

    let mut msg = format!("restored {} to {}", display_name(&file), target.display());
    if let Some(p) = &pre {
        msg.push_str(&format!(
            "; the previous database is kept as {}",
            p.display()
        ));
    }
    crate::print_stdout(&format!("{msg}\n"))?;
    let ev = Event::new(ctx.now, Level::Info, "backup", msg);
    let log = AlertLog::from_config(cfg);
    match log.append(std::slice::from_ref(&ev)) {
        Ok(()) => crate::alerts::notify::written(cfg, &ev, &log, ctx.now),
        Err(e) => crate::errln!(
            "grokmon: warning: the restore is done, but {}",
            crate::text::chain(&e)
        ),
    }
    Ok(crate::exit::OK)
}

/// Gives the restored file (still under its temporary name) the replaced
/// database's permission bits and, when we may (running as root), its owner
/// and group. Without it the restore would leave 0600 owned by whoever ran
/// it, and the service or a reader in the database's group would lose access.
fn take_access_of(tmp: &Path, replaced: &std::fs::Metadata) -> anyhow::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(tmp, Some(replaced.uid()), Some(replaced.gid())).with_context(
            || {
                format!(
                    "cannot give {} the owner {}:{} of the replaced database",
                    tmp.display(),
                    replaced.uid(),
                    replaced.gid()
                )
            },
        )?;
    }
    let mode = replaced.permissions().mode() & 0o777;
    std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(mode)).with_context(|| {
        format!(
            "cannot give {} the mode {mode:03o} of the replaced database",
            tmp.display()
        )
    })
}

/// Keeps the database about to be replaced as `pre`: its committed WAL is
/// folded in where possible, a WAL that remains moves along with it (so
/// `pre` opens with everything it had, and no stale WAL meets the restored
/// file), and its shared-memory index, which belongs to the old file, goes.
fn keep_previous(target: &Path, pre: &Path) -> anyhow::Result<()> {
    // Best effort: a damaged database (the usual reason to restore) may refuse.
    if let Ok(c) = rusqlite::Connection::open_with_flags(
        target,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = c.close();
    }
    if std::fs::hard_link(target, pre).is_err() {
        std::fs::copy(target, pre)
            .with_context(|| format!("cannot keep the current database as {}", pre.display()))?;
    }
    let side = |p: &Path, s: &str| {
        let mut o = p.as_os_str().to_owned();
        o.push(s);
        PathBuf::from(o)
    };
    let wal = side(target, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        std::fs::rename(&wal, side(pre, "-wal"))
            .with_context(|| format!("cannot move {} aside", wal.display()))?;
    } else {
        let _ = std::fs::remove_file(&wal);
    }
    let _ = std::fs::remove_file(side(target, "-shm"));
    Ok(())
}

/// Removes temporaries of restores that were killed: `.grokmon-tmp-restore-PID.db`
/// (and its SQLite side files) whose process no longer exists. Best effort.
fn clean_stale_restores(dir: &Path, proc_root: &Path) {
    let prefix = format!("{TMP_PREFIX}restore-");
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(pid) = rest
            .split_once(".db")
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = proc_root.join(pid.to_string()).exists();
        if !alive && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Asks on the terminal; only `y` or `yes` proceed.
fn ask(question: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    write!(err, "{question}")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// Whether two paths name the same file (or would, for one not yet there).
fn same_path(a: &Path, b: &Path) -> bool {
    normalize(a) == normalize(b)
}

fn normalize(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (dir.canonicalize(), p.file_name()) {
        (Ok(d), Some(n)) => d.join(n),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_path_sees_through_spelling() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("x.db");
        let b = d.path().join("sub/../x.db");
        std::fs::create_dir(d.path().join("sub")).unwrap();
        assert!(same_path(&a, &b), "missing file, different spelling");
        std::fs::write(&a, b"").unwrap();
        assert!(same_path(&a, &b));
        assert!(!same_path(&a, &d.path().join("y.db")));
    }
}
