//! Safe append to the alerts log.
//!
//! The default log sits in `/tmp`, a world-writable directory, so the file is
//! opened without following symlinks, must be a regular file owned by the
//! current user, and is created mode 0600. Appends hold an exclusive lock, so
//! concurrent writers never interleave; size rotation happens under the same
//! lock, and a writer that waited on a file that was meanwhile rotated away
//! notices (inode changed) and reopens.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::Event;

/// Why the log could not be written. The message names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "alerts log {0} is a symbolic link; refusing to follow it (remove it, or set paths.alerts_log)"
    )]
    Symlink(PathBuf),
    #[error("alerts log {0} is not a regular file (remove it, or set paths.alerts_log)")]
    NotRegular(PathBuf),
    #[error(
        "alerts log {path} is owned by uid {owner}, not by this user (uid {me}); refusing to write to it (remove it, or set paths.alerts_log)"
    )]
    Owner { path: PathBuf, owner: u32, me: u32 },
    #[error("cannot write alerts log {path}")]
    Io {
        path: PathBuf,
        #[source]
        cause: io::Error,
    },
}

/// The alerts log at a path, with its rotation policy.
#[derive(Debug, Clone)]
pub struct AlertLog {
    path: PathBuf,
    max_size: u64,
    keep: u32,
}

impl AlertLog {
    pub fn new(path: impl Into<PathBuf>, max_size: u64, keep: u32) -> AlertLog {
        AlertLog {
            path: path.into(),
            max_size,
            keep,
        }
    }

    /// From the configuration.
    pub fn from_config(cfg: &crate::config::Config) -> AlertLog {
        AlertLog::new(
            &cfg.paths.alerts_log,
            cfg.alerts.max_size.0,
            cfg.alerts.keep,
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rotated file number `n` (1 is the most recent).
    pub fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// The log and its rotated files that exist, oldest first.
    pub fn files_oldest_first(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = (1..=self.keep.max(1))
            .rev()
            .map(|n| self.rotated(n))
            .filter(|p| p.exists())
            .collect();
        if self.path.exists() {
            v.push(self.path.clone());
        }
        v
    }

    fn io(&self, cause: io::Error) -> LogError {
        LogError::Io {
            path: self.path.clone(),
            cause,
        }
    }

    /// Opens (creating 0600) without following symlinks and checks what was opened.
    fn open(&self) -> Result<File, LogError> {
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let f = OpenOptions::new()
            // read: to see whether the last line was left without its newline.
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            // O_NONBLOCK: opening a FIFO planted at the path must not hang.
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&self.path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => LogError::Symlink(self.path.clone()),
                Some(libc::EISDIR) | Some(libc::ENXIO) => LogError::NotRegular(self.path.clone()),
                _ => self.io(e),
            })?;
        let md = f.metadata().map_err(|e| self.io(e))?;
        if !md.file_type().is_file() {
            return Err(LogError::NotRegular(self.path.clone()));
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if md.uid() != me {
            return Err(LogError::Owner {
                path: self.path.clone(),
                owner: md.uid(),
                me,
            });
        }
        Ok(f)
    }

    /// Appends events as one write under the exclusive lock, rotating first
    /// when the file would exceed its size. Returns once the data is synced.
    pub fn append(&self, events: &[Event]) -> Result<(), LogError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut buf = String::new();
        for e in events {
            buf.push_str(&e.to_line());
            buf.push('\n');
        }
        self.append_raw(buf.as_bytes())
    }

    fn append_raw(&self, bytes: &[u8]) -> Result<(), LogError> {
        // A writer can lose a race with rotation a few times at most.
        for _ in 0..16 {
            let mut f = self.open()?;
            f.lock().map_err(|e| self.io(e))?;
            let md = f.metadata().map_err(|e| self.io(e))?;
            // Rotated away while we waited for the lock? Reopen.
            match std::fs::symlink_metadata(&self.path) {
                Ok(now) if now.ino() == md.ino() && now.dev() == md.dev() => {}
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(e)),
            }
            if md.len() > 0 && md.len() + bytes.len() as u64 > self.max_size {
                self.rotate().map_err(|e| self.io(e))?;
                // The lock we hold is on the rotated file; the next round opens
                // the fresh one.
                continue;
            }
            // A last line left without its newline (a writer killed mid-line,
            // a full disk, a hand edit) would swallow the first new line.
            let mut last = [0u8; 1];
            if md.len() > 0 {
                f.read_exact_at(&mut last, md.len() - 1)
                    .map_err(|e| self.io(e))?;
            }
            if md.len() > 0 && last[0] != b'\n' {
                let mut fixed = Vec::with_capacity(bytes.len() + 1);
                fixed.push(b'\n');
                fixed.extend_from_slice(bytes);
                f.write_all(&fixed).map_err(|e| self.io(e))?;
            } else {
                f.write_all(bytes).map_err(|e| self.io(e))?;
            }
            f.sync_data().map_err(|e| self.io(e))?;
            return Ok(());
        }
        Err(self.io(io::Error::other(
            "gave up after repeated concurrent rotations",
        )))
    }

    /// Shifts `log.(n)` to `log.(n+1)`, dropping the oldest, and the log to `log.1`.
    /// Runs under the exclusive lock of the current log file.
    fn rotate(&self) -> io::Result<()> {
        let keep = self.keep.max(1);
        match std::fs::remove_file(self.rotated(keep)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for n in (1..keep).rev() {
            match std::fs::rename(self.rotated(n), self.rotated(n + 1)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        std::fs::rename(&self.path, self.rotated(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Level;
    use chrono::Utc;

    fn ev(msg: &str) -> Event {
        Event::new(Utc::now(), Level::Warn, "test", msg)
    }

    #[test]
    fn an_append_after_a_line_without_newline_starts_a_new_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("alerts.log");
        std::fs::write(&p, "2026-11-28T13:41:00Z CRIT api: cut off mid-li").unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let log = AlertLog::new(&p, 1 << 20, 5);
        log.append(&[ev("after the cut")]).unwrap();
        log.append(&[ev("and the next")]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "2026-11-28T13:41:00Z CRIT api: cut off mid-li");
        for (l, msg) in lines[1..].iter().zip(["after the cut", "and the next"]) {
            let e = Event::parse(l).unwrap_or_else(|| panic!("unparsed: {l}"));
            assert_eq!(e.message, msg);
        }
    }

    #[test]
    fn creates_0600_and_appends() {
        let d = tempfile::tempdir().unwrap();
        let log = AlertLog::new(d.path().join("a.log"), 1 << 20, 5);
        log.append(&[ev("one")]).unwrap();
        log.append(&[ev("two"), ev("three")]).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 3);
        let mode = std::fs::metadata(log.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn refuses_symlinks_and_directories() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, "").unwrap();
        let link = d.path().join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = AlertLog::new(&link, 1 << 20, 5)
            .append(&[ev("x")])
            .unwrap_err();
        assert!(matches!(err, LogError::Symlink(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "");

        let dir = d.path().join("dir.log");
        std::fs::create_dir(&dir).unwrap();
        let err = AlertLog::new(&dir, 1 << 20, 5)
            .append(&[ev("x")])
            .unwrap_err();
        assert!(matches!(err, LogError::NotRegular(_)), "{err}");
    }

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let d = tempfile::tempdir().unwrap();
        let log = AlertLog::new(d.path().join("a.log"), 1024, 2);
        for i in 0..100 {
            log.append(&[ev(&format!("event number {i}"))]).unwrap();
        }
        assert!(log.rotated(1).exists());
        assert!(log.rotated(2).exists());
        assert!(!log.rotated(3).exists());
        for p in log.files_oldest_first() {
            assert!(std::fs::metadata(&p).unwrap().len() <= 1024);
        }
        let last = std::fs::read_to_string(log.path()).unwrap();
        assert!(last.ends_with("event number 99\n"));
    }

    #[test]
    fn concurrent_writers_never_interleave_or_lose_lines() {
        let d = tempfile::tempdir().unwrap();
        let log = AlertLog::new(d.path().join("a.log"), 4096, 50);
        std::thread::scope(|s| {
            for t in 0..8 {
                let log = log.clone();
                s.spawn(move || {
                    for i in 0..50 {
                        log.append(&[ev(&format!("writer {t} line {i} {}", "p".repeat(40)))])
                            .unwrap();
                    }
                });
            }
        });
        let mut n = 0;
        for p in log.files_oldest_first() {
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                assert!(Event::parse(line).is_some(), "bad line {line:?}");
                n += 1;
            }
        }
        assert_eq!(n, 400);
    }
}
