//! The service user of a system install. The system units run as `grokmon`
//! (a system user created from `systemd/sysusers.d/grokmon.conf` by
//! `systemd-sysusers`); a person running grokmon as root on such an install
//! acts as that user for everything grokmon writes, so the service and the
//! person share one state directory, one database and one alerts log with
//! one owner.

use std::ffi::CString;
use std::path::Path;

use crate::config::{Config, Scope};

/// The user (and group) the system units run as.
pub const NAME: &str = "grokmon";

/// The sysusers.d line that creates it.
pub const SYSUSERS_CONF: &str = include_str!("../../systemd/sysusers.d/grokmon.conf");

/// Where `units install --system` writes it (the package ships it in
/// `/usr/lib/sysusers.d/`, the vendor directory).
pub const SYSUSERS_PATH: &str = "/etc/sysusers.d/grokmon.conf";

/// A user's numeric ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Looks a user up in the password database (`getpwnam_r`).
pub fn lookup(name: &str) -> Option<Ids> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: an all-zero passwd is a valid out-parameter.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, buf.len() is its size.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut res,
        )
    };
    (rc == 0 && !res.is_null()).then_some(Ids {
        uid: pw.pw_uid,
        gid: pw.pw_gid,
    })
}

/// The service user, for a system-scope configuration on a host where it
/// exists.
pub fn service_user(cfg: &Config) -> Option<Ids> {
    (cfg.service.scope == Scope::System)
        .then(|| lookup(NAME))
        .flatten()
}

/// The service user whose identity root takes on: a system-scope
/// configuration, the user exists, and it owns the directory of the state
/// file (the units' `StateDirectory=`, `/var/lib/grokmon` by default). Paths
/// a person pointed elsewhere are left alone.
pub fn install_owner(cfg: &Config) -> Option<Ids> {
    let ids = service_user(cfg)?;
    let dir = cfg
        .paths
        .state
        .parent()
        .filter(|d| !d.as_os_str().is_empty())?;
    owned_by(dir, ids).then_some(ids)
}

fn owned_by(dir: &Path, ids: Ids) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(dir).is_ok_and(|m| m.is_dir() && m.uid() == ids.uid)
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Becomes the service user for good (groups, gid, uid; no way back). For
/// commands that need nothing of root: `check`, `status`, `alerts`,
/// `backup`, `run`.
pub fn become_user(ids: Ids) -> std::io::Result<()> {
    let groups = [ids.gid as libc::gid_t];
    // SAFETY: plain system calls on valid arguments; the order (groups and
    // gid while still root, uid last) is the only one that works.
    unsafe {
        if libc::setgroups(1, groups.as_ptr()) != 0
            || libc::setresgid(ids.gid, ids.gid, ids.gid) != 0
            || libc::setresuid(ids.uid, ids.uid, ids.uid) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `f` with the service user's effective ids and root's real ids, then
/// takes root's back: for the files a root command writes (the restart
/// record, the state it opens), so they stay the service's. `f` must not
/// start programs. If the ids cannot be taken (they can, as root), `f` runs
/// as root after a warning.
pub fn as_user<T>(ids: Ids, f: impl FnOnce() -> T) -> T {
    // SAFETY: setegid/seteuid on valid ids; glibc applies them to every
    // thread. The real ids stay root's, so both can be undone.
    let switched = unsafe {
        if libc::setegid(ids.gid) != 0 {
            Err(std::io::Error::last_os_error())
        } else if libc::seteuid(ids.uid) != 0 {
            let e = std::io::Error::last_os_error();
            libc::setegid(0);
            Err(e)
        } else {
            Ok(())
        }
    };
    if let Err(e) = switched {
        eprintln!("grokmon: warning: cannot act as the {NAME} user ({e}); writing as root");
        return f();
    }
    let out = f();
    // SAFETY: as above; the real uid is 0, so root may be taken back.
    unsafe {
        if libc::seteuid(0) != 0 || libc::setegid(0) != 0 {
            // Cannot happen with a real uid of 0; going on as the wrong
            // user would be worse than stopping.
            panic!(
                "cannot take root's ids back: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    out
}

/// `as_user` for root on a system install (`install_owner`); anyone else
/// runs `f` as themselves.
pub fn as_owner<T>(cfg: &Config, f: impl FnOnce() -> T) -> T {
    match is_root().then(|| install_owner(cfg)).flatten() {
        Some(ids) => as_user(ids, f),
        None => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_nobody_are_found_and_a_stranger_is_not() {
        assert_eq!(lookup("root"), Some(Ids { uid: 0, gid: 0 }));
        assert_eq!(lookup("no-such-user-grokmon-test"), None);
        assert_eq!(lookup("a\0b"), None);
    }

    #[test]
    fn the_sysusers_line_creates_the_units_user_with_the_state_home() {
        let line = SYSUSERS_CONF
            .lines()
            .find(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&words[..3], ["u", NAME, "-"], "{line}");
        assert!(line.contains(" /var/lib/grokmon "), "{line}");
        assert!(line.ends_with("/usr/sbin/nologin"), "{line}");
    }
}
