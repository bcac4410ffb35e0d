//! The watchdog loop: a STATUS= line kept current, WATCHDOG=1 only while
//! every loop makes progress within its deadline (a hung loop, not just a
//! crash, gets systemd's attention). The protocol itself (READY=1, STOPPING=1,
//! the socket) is `systemd::notify`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hub::Hub;
use super::shutdown::Shutdown;
use crate::systemd::notify::{NotifyState, send};

/// How often STATUS= is refreshed without a watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Keeps STATUS= current and pings the watchdog while every loop progresses.
pub async fn watchdog_loop(hub: Arc<Hub>, mut shutdown: Shutdown) {
    let watchdog = crate::systemd::notify::watchdog_enabled();
    let every = watchdog.map_or(STATUS_EVERY, |d| (d / 2).min(STATUS_EVERY));
    let mut last_status = String::new();
    let mut withheld = false;
    loop {
        let status = hub.summary();
        if status != last_status {
            send(&[NotifyState::Status(&status)]);
            last_status = status;
        }
        if watchdog.is_some() {
            let stalled = hub.stalled(Instant::now());
            if stalled.is_empty() {
                send(&[NotifyState::Watchdog]);
                withheld = false;
            } else if !withheld {
                withheld = true;
                let names: Vec<String> = stalled
                    .iter()
                    .map(|(n, d)| format!("{n} silent for {}s", d.as_secs()))
                    .collect();
                crate::errln!("watchdog ping withheld: {}", names.join(", "));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait() => return,
        }
    }
}
