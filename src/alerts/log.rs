//! Safe append to the alerts log.
//!
//! The default log sits in `/tmp`, a world-writable directory, so the file is
//! opened without following symlinks, must be a regular file owned by the
//! current user, root, or (on a system install) the grokmon service user, and
//! is created mode 0600. An existing log is opened without `O_CREAT`: with
//! `fs.protected_regular` (1 or 2, Debian's default is 2) the kernel refuses
//! an `O_CREAT` open of someone else's file in a sticky directory, even to
//! root, so root appending to the service's log needs a plain open. Appends hold an exclusive lock, so
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
        "alerts log {path} is owned by uid {owner}, not by this user (uid {me}), root or the grokmon service user; refusing to write to it (remove it, or set paths.alerts_log)"
    )]
    Owner { path: PathBuf, owner: u32, me: u32 },
    #[error("cannot write alerts log {path}")]
    Io {
        path: PathBuf,
        #[source]
        cause: io::Error,
    },
}

/// Where the log ended at some moment: the file (device, inode) and its
/// length. Stored with a pending append, to find its lines again after a crash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    pub dev: u64,
    pub ino: u64,
    pub len: u64,
}

/// Complete lines after a mark, and a torn last line of the current file.
#[derive(Default)]
struct Present {
    lines: std::collections::HashSet<Vec<u8>>,
    torn: Vec<u8>,
    torn_start: Option<u64>,
}

/// Opens one of the log's files for reading with the writer's rules: a
/// symlink is not followed, only a regular file is read, and a file owned by
/// neither this user nor root is refused: it is not grokmon's record (the
/// default log sits in `/tmp`, where anyone can plant a file).
pub fn open_for_reading(path: &Path) -> io::Result<File> {
    open_for_reading_as(path, None)
}

/// `open_for_reading` that also accepts a file of `service_uid` (the
/// grokmon user of a system install: root reads the service's log).
pub fn open_for_reading_as(path: &Path, service_uid: Option<u32>) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        // O_NONBLOCK: a FIFO planted at the path must not hang the reader.
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::other(format!(
                "alerts log {} is a symbolic link; refusing to follow it (remove it, or set paths.alerts_log)",
                path.display()
            )),
            _ => e,
        })?;
    let md = f.metadata()?;
    if !md.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file (remove it, or set paths.alerts_log)",
            path.display()
        )));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if md.uid() != me && md.uid() != 0 && Some(md.uid()) != service_uid {
        return Err(io::Error::other(format!(
            "alerts log {} is owned by uid {}, neither this user (uid {me}), root nor the grokmon service user: not grokmon's record, refusing to show it (remove it, or set paths.alerts_log)",
            path.display(),
            md.uid()
        )));
    }
    Ok(f)
}

/// The alerts log at a path, with its rotation policy.
#[derive(Debug, Clone)]
pub struct AlertLog {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    /// The service user of a system install, whose log this may be.
    service_uid: Option<u32>,
}

impl AlertLog {
    pub fn new(path: impl Into<PathBuf>, max_size: u64, keep: u32) -> AlertLog {
        AlertLog {
            path: path.into(),
            max_size,
            keep,
            service_uid: None,
        }
    }

    /// Also accepts a log owned by `uid` (the service user of a system
    /// install: root appends to the log the service created).
    pub fn with_service_uid(mut self, uid: Option<u32>) -> AlertLog {
        self.service_uid = uid;
        self
    }

    /// From the configuration.
    pub fn from_config(cfg: &crate::config::Config) -> AlertLog {
        AlertLog::new(
            &cfg.paths.alerts_log,
            cfg.alerts.max_size.0,
            cfg.alerts.keep,
        )
        .with_service_uid(crate::systemd::sysuser::service_user(cfg).map(|i| i.uid))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens one of this log's files for reading (`open_for_reading_as`).
    pub fn open_for_reading(&self, path: &Path) -> io::Result<File> {
        open_for_reading_as(path, self.service_uid)
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

    /// Opens an existing log, or creates it 0600 (`O_EXCL`), without
    /// following symlinks, and checks what was opened.
    fn open(&self) -> Result<File, LogError> {
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let map = |e: io::Error| match e.raw_os_error() {
            Some(libc::ELOOP) => LogError::Symlink(self.path.clone()),
            Some(libc::EISDIR) | Some(libc::ENXIO) => LogError::NotRegular(self.path.clone()),
            _ => self.io(e),
        };
        let open = |create: bool| {
            let mut o = OpenOptions::new();
            // read: to see whether the last line was left without its newline.
            o.read(true).append(true);
            if create {
                o.create_new(true).mode(0o600);
            }
            // O_NONBLOCK: opening a FIFO planted at the path must not hang.
            o.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
                .open(&self.path)
        };
        // An existing log without O_CREAT (fs.protected_regular); a missing
        // one with O_EXCL, and if another writer created it in between, the
        // plain open again.
        let mut opened = open(false);
        for _ in 0..4 {
            match &opened {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                _ => break,
            }
            opened = match open(true) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open(false),
                r => r,
            };
        }
        let f = opened.map_err(map)?;
        let md = f.metadata().map_err(|e| self.io(e))?;
        if !md.file_type().is_file() {
            return Err(LogError::NotRegular(self.path.clone()));
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if md.uid() != me && md.uid() != 0 && Some(md.uid()) != self.service_uid {
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
        self.with_locked_tail(|_, _| Ok(bytes.to_vec())).map(|_| ())
    }

    /// Where the log ends now (its identity and length), without following a
    /// symlink and without the lock: lines appended after this call are
    /// after the mark, also when the log is rotated in between.
    /// `Mark::default()` (no log yet) means "from the first line".
    pub fn mark(&self) -> Mark {
        match std::fs::symlink_metadata(&self.path) {
            Ok(md) if md.file_type().is_file() => Mark {
                dev: md.dev(),
                ino: md.ino(),
                len: md.len(),
            },
            _ => Mark::default(),
        }
    }

    /// Appends those of `lines` (each without its newline) that are not
    /// already in the log after `mark`, in order, as one write, and returns
    /// them. This is how an append that was interrupted (a kill, a full
    /// disk) is finished exactly once: lines that made it are not written
    /// again. A torn last line (a prefix of one of `lines`, left by a
    /// writer killed between a short write and its repair) is cut off first.
    pub fn append_missing(&self, mark: &Mark, lines: &[String]) -> Result<Vec<String>, LogError> {
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let mut missing = Vec::new();
        self.with_locked_tail(|f, md| {
            missing.clear();
            let mut present = self.lines_after(mark, md)?;
            // A torn last line of ours: cut it, it is written again whole.
            if let Some(start) = present.torn_start
                && lines
                    .iter()
                    .any(|l| l.as_bytes().starts_with(&present.torn))
            {
                f.set_len(start)?;
            }
            let mut buf = Vec::new();
            for l in lines {
                if present.lines.remove(l.as_bytes()) {
                    continue;
                }
                missing.push(l.clone());
                buf.extend_from_slice(l.as_bytes());
                buf.push(b'\n');
            }
            Ok(buf)
        })?;
        Ok(missing)
    }

    /// The complete lines in the log after `mark` (the current file `cur`,
    /// locked, is the newest), and a torn last line.
    fn lines_after(&self, mark: &Mark, cur: &std::fs::Metadata) -> io::Result<Present> {
        let files = self.files_oldest_first();
        // Only the file the mark is in (from its offset) and the newer ones
        // are read; all of them when the mark's file is gone.
        let mut start = (0, 0);
        for (i, p) in files.iter().enumerate() {
            if let Ok(md) = std::fs::symlink_metadata(p)
                && mark.ino != 0
                && md.ino() == mark.ino
                && md.dev() == mark.dev
            {
                start = (i, if mark.len <= md.len() { mark.len } else { 0 });
            }
        }
        let mut out = Present::default();
        for (i, p) in files.iter().enumerate().skip(start.0) {
            let off = if i == start.0 { start.1 } else { 0 };
            let mut data = Vec::new();
            let mut f = match OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(p)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let is_cur = f
                .metadata()
                .is_ok_and(|m| m.ino() == cur.ino() && m.dev() == cur.dev());
            io::Seek::seek(&mut f, io::SeekFrom::Start(off))?;
            io::Read::read_to_end(&mut f, &mut data)?;
            let mut pos = 0;
            while pos < data.len() {
                match data[pos..].iter().position(|b| *b == b'\n') {
                    Some(n) => {
                        out.lines.insert(data[pos..pos + n].to_vec());
                        pos += n + 1;
                    }
                    None => {
                        if is_cur {
                            out.torn = data[pos..].to_vec();
                            out.torn_start = Some(off + pos as u64);
                        }
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Opens and locks the current log (rotating it first when the data
    /// would not fit), asks `data` what to write, and writes it with one
    /// `write`: a short write (a full disk, a file-size limit) is cut back
    /// to where it began, so no torn line is left behind, and reported.
    /// Returns once the data is synced.
    fn with_locked_tail(
        &self,
        mut data: impl FnMut(&File, &std::fs::Metadata) -> io::Result<Vec<u8>>,
    ) -> Result<(), LogError> {
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
            let bytes = data(&f, &md).map_err(|e| self.io(e))?;
            if bytes.is_empty() {
                return Ok(());
            }
            // `data` may have cut a torn line.
            let md = f.metadata().map_err(|e| self.io(e))?;
            if md.len() > 0 && md.len() + bytes.len() as u64 > self.max_size {
                self.rotate().map_err(|e| self.io(e))?;
                // The lock we hold is on the rotated file; the next round opens
                // the fresh one.
                continue;
            }
            // A last line left without its newline (a hand edit, a writer
            // killed mid-repair) would swallow the first new line.
            let mut last = [0u8; 1];
            if md.len() > 0 {
                f.read_exact_at(&mut last, md.len() - 1)
                    .map_err(|e| self.io(e))?;
            }
            let mut buf = Vec::with_capacity(bytes.len() + 1);
            if md.len() > 0 && last[0] != b'\n' {
                buf.push(b'\n');
            }
            buf.extend_from_slice(&bytes);
            let start = md.len();
            crate::failpoint::hit("log.before-write");
            match f.write(&buf) {
                Ok(n) if n == buf.len() => {}
                res => {
                    // Nothing, or part of a line: cut back to where this
                    // write began. (A failure of that too leaves a torn
                    // line, which the next append repairs or ends.)
                    let _ = f.set_len(start);
                    let cause = match res {
                        Ok(n) => io::Error::new(
                            io::ErrorKind::StorageFull,
                            format!(
                                "short write ({n} of {} bytes; disk full or file size limit), cut back",
                                buf.len()
                            ),
                        ),
                        Err(e) => e,
                    };
                    return Err(self.io(cause));
                }
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
    fn append_missing_writes_each_line_once_and_repairs_a_torn_one() {
        let d = tempfile::tempdir().unwrap();
        let log = AlertLog::new(d.path().join("a.log"), 1 << 20, 5);
        log.append(&[ev("before")]).unwrap();
        let mark = log.mark();
        let lines: Vec<String> = ["one", "two", "three"]
            .iter()
            .map(|m| ev(m).to_line())
            .collect();
        // "one" made it, "two" was cut mid-line (a writer killed between a
        // short write and its repair), "three" never got there.
        let mut text = std::fs::read_to_string(log.path()).unwrap();
        text.push_str(&lines[0]);
        text.push('\n');
        text.push_str(&lines[1][..20]);
        std::fs::write(log.path(), &text).unwrap();
        let added = log.append_missing(&mark, &lines).unwrap();
        assert_eq!(added, lines[1..]);
        // Again: nothing left to do.
        assert!(log.append_missing(&mark, &lines).unwrap().is_empty());
        let text = std::fs::read_to_string(log.path()).unwrap();
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), 4, "{text}");
        assert_eq!(got[1..], [&lines[0][..], &lines[1][..], &lines[2][..]]);
        // A line that is only before the mark is not "present".
        let late = log.mark();
        assert_eq!(log.append_missing(&late, &lines[..1]).unwrap(), lines[..1]);
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

    /// Sets `fs.protected_regular` and puts the old value back on drop.
    struct ProtectedRegular(String);

    impl ProtectedRegular {
        const PATH: &str = "/proc/sys/fs/protected_regular";
        fn set(v: &str) -> std::io::Result<ProtectedRegular> {
            let old = std::fs::read_to_string(Self::PATH)?;
            std::fs::write(Self::PATH, v)?;
            Ok(ProtectedRegular(old.trim().to_string()))
        }
    }

    impl Drop for ProtectedRegular {
        fn drop(&mut self) {
            let _ = std::fs::write(Self::PATH, &self.0);
        }
    }

    /// Root appends to the service user's log in a sticky, world-writable
    /// directory (the default `/tmp/grokmon_alerts.log` of a system install)
    /// under Debian's `fs.protected_regular = 2`: the kernel refuses an
    /// `O_CREAT` open there, even to root; the writer's plain open is not
    /// refused. Needs root (to set the sysctl and own files as another user).
    #[test]
    fn root_appends_to_the_service_users_log_under_protected_regular() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs as root: this test must run"
            );
            eprintln!("skipped: needs root (fs.protected_regular, chown)");
            return;
        }
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir_in("/tmp").unwrap();
        // Like /tmp: root's, sticky and world-writable.
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let p = d.path().join("alerts.log");
        let service = 65534;
        let log = AlertLog::new(&p, 1 << 20, 5).with_service_uid(Some(service));
        let Ok(_guard) = ProtectedRegular::set("2") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot set fs.protected_regular"
            );
            eprintln!("skipped: cannot set fs.protected_regular here");
            return;
        };
        // The service created the log (as its user, 0600).
        std::fs::write(&p, "").unwrap();
        std::os::unix::fs::chown(&p, Some(service), Some(service)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        // The mechanism is in force: an O_CREAT open is refused to root.
        let refused = OpenOptions::new().append(true).create(true).open(&p);
        assert_eq!(
            refused.err().and_then(|e| e.raw_os_error()),
            Some(libc::EACCES),
            "fs.protected_regular=2 refuses root an O_CREAT open of another user's file"
        );
        log.append(&[ev("root's reviewed restart")]).unwrap();
        log.append(&[ev("and root's check")]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let md = std::fs::metadata(&p).unwrap();
        assert_eq!(md.uid(), service, "the log stays the service's");
        // Owned by anyone else, it is still refused.
        let other = d.path().join("other.log");
        std::fs::write(&other, "").unwrap();
        std::os::unix::fs::chown(&other, Some(65533), Some(65533)).unwrap();
        let err = AlertLog::new(&other, 1 << 20, 5)
            .with_service_uid(Some(service))
            .append(&[ev("x")])
            .unwrap_err();
        assert!(matches!(err, LogError::Owner { owner: 65533, .. }), "{err}");
        // A missing log is created (O_EXCL), 0600, by the writer.
        let fresh = d.path().join("fresh.log");
        AlertLog::new(&fresh, 1 << 20, 5)
            .append(&[ev("first")])
            .unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().mode() & 0o777, 0o600);
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
