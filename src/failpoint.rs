//! Failpoints for the fault-injection tests: `GROKMON_FAILPOINT=NAME` makes
//! the process kill itself with SIGKILL when it reaches the point `NAME`, the
//! way a power cut or the OOM killer would. Unset (always, outside tests) it
//! costs one environment lookup per point reached.

/// Kills the process with SIGKILL if `GROKMON_FAILPOINT` names this point.
pub fn hit(name: &str) {
    if is(name) {
        // SAFETY: getpid and kill have no preconditions; SIGKILL cannot be
        // caught, so nothing runs after it.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Whether `GROKMON_FAILPOINT` names `name` (a point that changes behaviour
/// rather than killing).
pub fn is(name: &str) -> bool {
    std::env::var_os("GROKMON_FAILPOINT").is_some_and(|v| v == name)
}
