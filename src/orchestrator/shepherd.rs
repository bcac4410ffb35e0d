//! The shepherd: what `run` starts each command under (a sensor's read, a
//! reconnect, an action), so that nothing the command starts outlives it.
//!
//! When a process's parent exits, the kernel gives it to the nearest
//! ancestor that declared itself a child subreaper (`PR_SET_CHILD_SUBREAPER`),
//! and to init when there is none. `run` starts every command through its
//! own binary in this mode (`grokmon __shepherd RUN_PID -- COMMAND...`): the
//! shepherd declares itself a subreaper and starts the command. When the
//! command exits, when `run` ends its run early (`SIGTERM`: a timeout, an
//! output flood, a shutdown) or when `run` dies (`PR_SET_PDEATHSIG`), it
//! kills every process below it, one generation after the other as their
//! orphans come to it: whatever they did to leave (`setsid`, a double fork,
//! a cleared environment), they stay its descendants. Then it exits as the
//! command did (its code, or the signal that killed it), so `run` sees the
//! command's status.
//!
//! A command that cannot be started makes the shepherd exit with
//! `CANNOT_RUN`, the system's reason on stderr after `CANNOT_RUN_MARK`.
//! Below `process` (which starts it): it uses only `libc`, `std` and
//! `tree`'s reading of `/proc`.

use std::ffi::OsString;
use std::path::Path;

/// The first argument that selects this mode.
pub const ARG: &str = "__shepherd";
/// The name a shepherd shows in `ps`.
pub const ARG0: &str = "grokmon-shepherd";
/// Exit status when the command could not be started.
pub const CANNOT_RUN: i32 = 127;
/// What starts the system's reason (`No such file or directory (os error
/// 2)`) on stderr when the command could not be started.
pub const CANNOT_RUN_MARK: &str = "grokmon-shepherd: ";

/// `run` dying, as `PR_SET_PDEATHSIG` tells it (a different signal from
/// `run`'s own request, because the kernel also sends it when the *thread*
/// that started the shepherd ends while `run` lives on: then it is ignored).
const PARENT_DIED: libc::c_int = libc::SIGUSR1;

/// The arguments after `ARG`: `RUN_PID -- PROGRAM ARGS...`.
fn parse(args: &[OsString]) -> Option<(i32, &[OsString])> {
    let (pid, rest) = args.split_first()?;
    let pid: i32 = pid.to_str()?.parse().ok()?;
    let (sep, argv) = rest.split_first()?;
    (sep == "--" && !argv.is_empty() && pid > 0).then_some((pid, argv))
}

/// The shepherd's `main`: `args` are those after `ARG`. Returns the exit
/// status when it does not end by the command's signal.
pub fn main(args: &[OsString]) -> i32 {
    let Some((parent, argv)) = parse(args) else {
        crate::errln!(
            "usage: grokmon {ARG} RUN_PID -- PROGRAM [ARG...] (started by `grokmon run`)"
        );
        return 2;
    };
    let waited = signals();
    // SAFETY: sigprocmask and prctl with these constant arguments have no
    // memory-safety preconditions; this process has one thread here.
    unsafe {
        // Blocked first: a request or the parent's death that comes before
        // the wait below is kept pending, not acted on by default.
        libc::sigprocmask(libc::SIG_BLOCK, &waited, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, PARENT_DIED, 0, 0, 0);
    }
    if parent_gone(parent) {
        return 1;
    }
    let (prog, rest) = argv.split_first().expect("parse wants a program");
    let mut cmd = std::process::Command::new(prog);
    cmd.args(rest);
    // The command starts with nothing blocked (std leaves the mask as it
    // is: this one blocks what it waits for) and SIGXFSZ at its default
    // (grokmon ignores it for itself).
    // SAFETY: between fork and exec only async-signal-safe calls
    // (sigprocmask, signal) on stack data.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        cmd.pre_exec(|| {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            // `run` says which program (and quotes it).
            crate::errln!("{CANNOT_RUN_MARK}{e}");
            return CANNOT_RUN;
        }
    };
    let main_pid = child.id() as i32;
    let mut status = None;
    loop {
        reap_exited(main_pid, &mut status);
        if status.is_some() {
            break;
        }
        match wait_signal(&waited) {
            libc::SIGCHLD => {}
            PARENT_DIED if !parent_gone(parent) => {} // a thread of run ended
            libc::SIGTERM | libc::SIGINT | libc::SIGHUP | PARENT_DIED => break,
            _ => {}
        }
    }
    kill_below(main_pid, &mut status);
    status.map_or(1, exit_as)
}

fn signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is initialized by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGCHLD,
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            PARENT_DIED,
        ] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Waits for one of the blocked signals; returns it (0 when interrupted).
fn wait_signal(set: &libc::sigset_t) -> libc::c_int {
    // SAFETY: set is an initialized sigset_t; a null siginfo is allowed.
    let s = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
    s.max(0)
}

/// Whether `run` is no longer this process's parent (it died; the
/// shepherd was given to a subreaper or init).
fn parent_gone(parent: i32) -> bool {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() != parent }
}

/// Reaps every child that has exited, without waiting; the command's wait
/// status goes to `status`.
fn reap_exited(main_pid: i32, status: &mut Option<i32>) {
    loop {
        let mut st = 0;
        // SAFETY: st is a valid int to write.
        let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        if pid == main_pid {
            *status = Some(st);
        }
    }
}

/// Kills (SIGKILL) and reaps everything below this process, generation by
/// generation, until it has no child left. A process killed here hands its
/// own children to this one, so the next round finds them.
fn kill_below(main_pid: i32, status: &mut Option<i32>) {
    let me = std::process::id() as i32;
    // Bounded: without a readable /proc, children it cannot see would keep
    // it here; its group is killed by `run` after it exits.
    for _ in 0..1000 {
        let children = children_of(me);
        for &pid in &children {
            // SAFETY: kill has no memory-safety preconditions; a child
            // already dead (a zombie) is unaffected.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        for &pid in &children {
            let mut st = 0;
            // SAFETY: st is a valid int to write; pid is this process's child.
            let r = unsafe { libc::waitpid(pid, &mut st, 0) };
            if r == main_pid && status.is_none() {
                *status = Some(st);
            }
        }
        // Done when nothing is left to wait for: no child at all (ECHILD).
        let mut st = 0;
        // SAFETY: st is a valid int to write.
        let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if r == main_pid && status.is_none() {
            *status = Some(st);
        }
        if r < 0 && children.is_empty() {
            return;
        }
    }
}

/// The children of this (one-threaded) process: the kernel's list when it
/// keeps one (`CONFIG_PROC_CHILDREN`), else a scan of every process.
fn children_of(me: i32) -> Vec<i32> {
    match std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")) {
        Ok(list) => list
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        Err(_) => super::tree::snapshot(Path::new("/proc"))
            .into_iter()
            .filter(|p| p.ppid == me)
            .map(|p| p.pid)
            .collect(),
    }
}

/// Ends this process as the wait status `st` says the command ended: the
/// same exit code, or the same signal (without a core dump).
fn exit_as(st: i32) -> i32 {
    if libc::WIFEXITED(st) {
        return libc::WEXITSTATUS(st);
    }
    if libc::WIFSIGNALED(st) {
        let sig = libc::WTERMSIG(st);
        // SAFETY: setrlimit, signal, sigprocmask and kill with these
        // arguments have no memory-safety preconditions.
        unsafe {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            libc::signal(sig, libc::SIG_DFL);
            let mut only: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut only);
            libc::sigaddset(&mut only, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &only, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
        }
        return 128 + sig;
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_are_the_run_pid_a_separator_and_a_command() {
        let a = os(&["42", "--", "/bin/sh", "-c", "x"]);
        let (pid, argv) = parse(&a).unwrap();
        assert_eq!(pid, 42);
        assert_eq!(argv, &a[2..]);
        for bad in [
            &["42", "--"][..],
            &["42", "/bin/sh"],
            &["x", "--", "/bin/sh"],
            &["0", "--", "/bin/sh"],
            &[],
        ] {
            assert!(parse(&os(bad)).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_wait_status_is_passed_on() {
        // Exit codes (the signal case ends the process, so it is tested by
        // the integration tests).
        assert_eq!(exit_as(3 << 8), 3);
        assert_eq!(exit_as(0), 0);
    }
}
