//! The check's time budget: one deadline for the whole `grokmon check`, so
//! that hangs in several parts at once (the API, systemd, the state lock, a
//! webhook) cost the budget, not the sum of every part's own bound.
//!
//! Derived from the configuration, no key of its own: the probes' share is
//! the slowest probe's own bound (`check.api.timeout`, or a systemd query's
//! 5 s, whichever is longer); after it come `AFTER_PROBES` for the state
//! database (its waits end at the deadline, and at most
//! `state::BUSY_TIMEOUT`), the alert lines and the notifications, which get
//! whatever is left.

use std::time::{Duration, Instant};

use crate::config::Config;

/// What the check may spend after the probes: state waits, the append, the
/// notifications.
pub const AFTER_PROBES: Duration = Duration::from_secs(15);

/// The check's deadline.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub total: Duration,
    deadline: Instant,
}

/// The probes' share: the longest any of them waits by its own bound.
pub fn probes(cfg: &Config) -> Duration {
    cfg.check.api.timeout.max(crate::systemd::QUERY_TIMEOUT)
}

/// The whole check's budget for this configuration.
pub fn total(cfg: &Config) -> Duration {
    probes(cfg).saturating_add(AFTER_PROBES)
}

impl Budget {
    /// Starts the clock now.
    pub fn start(cfg: &Config) -> Budget {
        let total = total(cfg);
        let now = Instant::now();
        Budget {
            total,
            deadline: now.checked_add(total).unwrap_or(now + AFTER_PROBES),
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left before the deadline (zero past it).
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// After the budget, how long the check's own endings (a notification cut
/// short and its line, the report) get before the hard stop.
pub const GRACE: Duration = Duration::from_secs(5);

/// After the hard stop's note, how long before the fatal signal.
const FATAL_AFTER: Duration = Duration::from_secs(1);

/// Where the hard stop's note goes, and the note, made before arming (the
/// signal handler only reads it).
static NOTE: std::sync::OnceLock<(libc::c_int, Vec<u8>)> = std::sync::OnceLock::new();

/// Whether the handler only returns (the fault tests' way to show that the
/// fatal signal alone still ends the check).
static SILENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn hard_stop(_: libc::c_int) {
    if SILENT.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    if let Some((fd, note)) = NOTE.get() {
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the note is
        // immutable once set, before the timer was armed.
        unsafe {
            libc::write(*fd, note.as_ptr().cast(), note.len());
        }
    }
    // SAFETY: as above.
    unsafe { libc::_exit(3) }
}

/// Ends the process if the check still runs `after` from now: whatever it
/// waits on that no timeout of its own covers (a read from a hung mount, a
/// FIFO where a file should be), the check is over then.
///
/// First `SIGALRM`, whose handler writes `note` to `fd` and exits 3 (the
/// checker's own failure); it cannot interrupt a wait the kernel lets only
/// fatal signals into (an NFS hard mount), so `FATAL_AFTER` later a
/// `SIGUSR2` with its default action, fatal, kills the process even there
/// (exit by signal, without a note). Either way, as a kill at that instant:
/// the alerts log and the state survive it by design (README
/// "Reliability"). Timers are not inherited by the processes it starts.
pub fn arm_hard_stop(after: Duration, fd: libc::c_int, note: String) {
    let _ = NOTE.set((fd, note.into_bytes()));
    SILENT.store(
        crate::failpoint::is("check.hard-stop-silent"),
        std::sync::atomic::Ordering::Relaxed,
    );
    let tv = |d: Duration| libc::timeval {
        tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: plain signal-disposition, mask and timer calls with valid
    // arguments; the handler is async-signal-safe (see `hard_stop`).
    unsafe {
        libc::signal(libc::SIGALRM, hard_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR2, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        libc::sigaddset(&mut set, libc::SIGUSR2);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        let it = libc::itimerval {
            it_interval: tv(Duration::ZERO),
            it_value: tv(after),
        };
        libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut());
        let mut sev: libc::sigevent = std::mem::zeroed();
        sev.sigev_notify = libc::SIGEV_SIGNAL;
        sev.sigev_signo = libc::SIGUSR2;
        let mut timer: libc::timer_t = std::mem::zeroed();
        if libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut timer) == 0 {
            let at = after.saturating_add(FATAL_AFTER);
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: at.as_secs().min(i32::MAX as u64) as libc::time_t,
                    tv_nsec: at.subsec_nanos() as libc::c_long,
                },
            };
            libc::timer_settime(timer, 0, &spec, std::ptr::null_mut());
            FATAL.store(timer as usize, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The fatal timer, to disarm.
static FATAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The check is over in time: no hard stop.
pub fn disarm_hard_stop() {
    // SAFETY: a zero itimerval disarms; the timer, if created, is ours.
    unsafe {
        let zero: libc::itimerval = std::mem::zeroed();
        libc::setitimer(libc::ITIMER_REAL, &zero, std::ptr::null_mut());
        let t = FATAL.swap(0, std::sync::atomic::Ordering::Relaxed);
        if t != 0 {
            libc::timer_delete(t as libc::timer_t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    #[test]
    fn the_budget_is_the_slowest_probe_plus_the_rest() {
        let mut c = Config::defaults(&Env {
            home: Some("/h".into()),
            ..Env::default()
        });
        // Defaults: a 5 s API timeout, 5 s systemd queries.
        assert_eq!(total(&c), Duration::from_secs(20));
        c.check.api.timeout = Duration::from_secs(1);
        assert_eq!(total(&c), Duration::from_secs(20));
        c.check.api.timeout = Duration::from_secs(30);
        assert_eq!(total(&c), Duration::from_secs(45));
        let b = Budget::start(&c);
        assert!(b.left() <= b.total && b.left() > Duration::from_secs(44));
    }
}
