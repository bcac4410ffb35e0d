//! systemd's notify protocol (Type=notify) for `run`: READY=1, STATUS=,
//! WATCHDOG=1, STOPPING=1. Without systemd (`NOTIFY_SOCKET` unset) every call
//! is a no-op; a failing socket is reported once, never fatal. When to send
//! what is the orchestrator's (`orchestrator::watchdog`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use sd_notify::NotifyState;

static REPORTED: AtomicBool = AtomicBool::new(false);

/// Sends states to systemd; an error is logged once.
pub fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states)
        && !REPORTED.swap(true, Ordering::Relaxed)
    {
        crate::errln!("cannot notify systemd ($NOTIFY_SOCKET): {e}");
    }
}

/// The watchdog interval systemd asked for (`WATCHDOG_USEC`), if any.
pub fn watchdog_enabled() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}
