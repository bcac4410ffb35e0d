//! Everything one command started, found and killed when its run ends (a
//! leaf below `process`, which runs the commands).
//!
//! Killing the command's process group misses what left it: a child that
//! calls `setsid` (or `setpgid`) has a group and session of its own, and
//! once its parent exits it is re-parented away from the command. So every
//! command gets a unique mark in its environment (`MARK=token`), which its
//! descendants inherit through `setsid`, double forks and `exec`; at the end
//! of the run the processes of the group, their descendants, the sessions
//! and groups they lead, and every process carrying the mark are killed.
//! Only processes started since the command (by their start time) have
//! their environment read, so a scan costs one `/proc/PID/stat` read per
//! process. A process that both detaches and clears its environment escapes
//! this: the command's shepherd (`shepherd`, a subreaper) catches it; this
//! is the second line, for when the shepherd itself was killed.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable marking a command's processes.
pub const MARK: &str = "GROKMON_COMMAND";

/// A unique mark value for one command of this process.
pub fn new_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One process, from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    /// Clock ticks after boot.
    pub start: u64,
}

/// Parses `/proc/PID/stat` (pure). The command name may hold spaces and
/// parentheses, so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    // After the name: state ppid pgrp session tty tpgid flags minflt
    // cminflt majflt cmajflt utime stime cutime cstime priority nice
    // num_threads itrealvalue starttime.
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// The processes to kill for the command whose first process (and group)
/// is `root` (pure): its group, the processes `marked`, and, to a fixed
/// point, the children of any of those and the members of the groups and
/// sessions they lead. Never `me` (this process) or pid 1.
pub fn doomed(procs: &[Proc], root: i32, me: i32, marked: impl Fn(&Proc) -> bool) -> Vec<i32> {
    // Never this process or init, nor (through them) their children.
    let allowed = |pid: i32| pid != me && pid > 1;
    let mut set: HashSet<i32> = HashSet::new();
    if allowed(root) {
        set.insert(root);
    }
    for p in procs {
        if allowed(p.pid) && (p.pgrp == root || marked(p)) {
            set.insert(p.pid);
        }
    }
    loop {
        let before = set.len();
        for p in procs {
            if allowed(p.pid)
                && !set.contains(&p.pid)
                && (set.contains(&p.ppid) || set.contains(&p.pgrp) || set.contains(&p.session))
            {
                set.insert(p.pid);
            }
        }
        if set.len() == before {
            break;
        }
    }
    let mut v: Vec<i32> = set.into_iter().collect();
    v.sort_unstable();
    v
}

/// Reads every process of `proc_root`.
pub(super) fn snapshot(proc_root: &Path) -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        e.file_name().to_str()?.parse::<i32>().ok()?;
        parse_stat(&std::fs::read_to_string(e.path().join("stat")).ok()?)
    })
    .collect()
}

/// Whether `pid`'s environment holds `MARK=token`.
fn has_mark(proc_root: &Path, pid: i32, token: &str) -> bool {
    let Ok(env) = std::fs::read(proc_root.join(pid.to_string()).join("environ")) else {
        return false;
    };
    let want = format!("{MARK}={token}");
    env.split(|b| *b == 0).any(|v| v == want.as_bytes())
}

/// Now, in the clock ticks after boot of `/proc/PID/stat`'s start time
/// (one tick early, for rounding): taken before a command starts, it
/// limits the marks read to processes started since.
pub fn ticks_now() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write; sysconf has no preconditions.
    let (r, hz) = unsafe {
        (
            libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts),
            libc::sysconf(libc::_SC_CLK_TCK),
        )
    };
    if r != 0 || hz <= 0 {
        return None;
    }
    let hz = hz as u64;
    let ticks = ts.tv_sec as u64 * hz + ts.tv_nsec as u64 * hz / 1_000_000_000;
    Some(ticks.saturating_sub(1))
}

/// Kills, with SIGKILL, the group `root` and everything the command
/// started (see the module doc). `since`: the command's start time.
pub fn kill_all(root: i32, token: &str, since: Option<u64>) {
    if root <= 0 {
        return;
    }
    // SAFETY: kill has no memory-safety preconditions; a negative pid names
    // the process group, and one already gone is ESRCH, ignored.
    unsafe {
        libc::kill(-root, libc::SIGKILL);
    }
    let proc_root = Path::new("/proc");
    let procs = snapshot(proc_root);
    let me = std::process::id() as i32;
    let marked = |p: &Proc| {
        since.is_none_or(|s| p.start >= s) && p.pid != me && has_mark(proc_root, p.pid, token)
    };
    for pid in doomed(&procs, root, me, marked) {
        // SAFETY: kill has no memory-safety preconditions; a process gone
        // meanwhile is ESRCH, ignored.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_whatever_the_name() {
        let line = "4242 (a) b (c) S 100 4242 4242 0 -1 4194560 90 0 0 0 0 0 0 0 20 0 1 0 777 1000 100 18446744073709551615\n";
        assert_eq!(
            parse_stat(line),
            Some(Proc {
                pid: 4242,
                ppid: 100,
                pgrp: 4242,
                session: 4242,
                start: 777
            })
        );
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn the_group_its_detached_children_and_marked_strays_are_doomed() {
        let p = |pid, ppid, pgrp, session| Proc {
            pid,
            ppid,
            pgrp,
            session,
            start: 0,
        };
        let me = 10;
        let procs = [
            p(1, 0, 1, 1),     // init
            p(10, 1, 10, 10),  // grokmon
            p(20, 10, 20, 10), // the command (its own group)
            p(21, 20, 20, 10), // a child in its group
            p(22, 20, 22, 22), // a child that called setsid
            p(23, 22, 22, 22), // ...and its child
            p(30, 1, 30, 30),  // a detached double fork, re-parented to init, marked
            p(31, 30, 31, 30), // ...and its child in another group
            p(40, 10, 40, 10), // another command of grokmon's
            p(50, 1, 50, 50),  // an unrelated process
        ];
        let marked = |q: &Proc| q.pid == 30;
        assert_eq!(doomed(&procs, 20, me, marked), vec![20, 21, 22, 23, 30, 31]);
        // Never grokmon itself or init, even if marked.
        assert_eq!(
            doomed(&procs, 20, me, |q| q.pid == 10 || q.pid == 1),
            vec![20, 21, 22, 23]
        );
    }

    #[test]
    fn marks_are_unique() {
        assert_ne!(new_token(), new_token());
    }
}
