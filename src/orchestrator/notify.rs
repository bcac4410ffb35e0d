//! systemd's notify protocol (Type=notify): READY=1 once serving, a STATUS=
//! line kept current, WATCHDOG=1 only while every loop makes progress within
//! its deadline (a hung loop, not just a crash, gets systemd's attention),
//! STOPPING=1 on shutdown. Without systemd (`NOTIFY_SOCKET` unset) every call
//! is a no-op; a failing socket is reported once, never fatal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

use super::hub::Hub;
use super::shutdown::Shutdown;

static REPORTED: AtomicBool = AtomicBool::new(false);

/// Sends states to systemd; an error is logged once.
pub fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states)
        && !REPORTED.swap(true, Ordering::Relaxed)
    {
        eprintln!("cannot notify systemd ($NOTIFY_SOCKET): {e}");
    }
}

/// How often STATUS= is refreshed without a watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Keeps STATUS= current and pings the watchdog while every loop progresses.
pub async fn watchdog_loop(hub: Arc<Hub>, mut shutdown: Shutdown) {
    let watchdog = sd_notify::watchdog_enabled();
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
                eprintln!("watchdog ping withheld: {}", names.join(", "));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// Budget of one alert line's notifications (all `[[notify]]` targets, with
/// their retries), as `check` gives its lines.
const NOTIFY_BUDGET: Duration = Duration::from_secs(20);

/// Sends the alert lines that `run` writes (sensors, store, AI) to the
/// `[[notify]]` webhooks, one line at a time, on the blocking pool; stops
/// with the other loops.
pub async fn notify_loop(
    mut rx: tokio::sync::mpsc::Receiver<crate::alerts::Event>,
    cfg: crate::config::Config,
    log: crate::alerts::AlertLog,
    mut shutdown: Shutdown,
) {
    let cfg = Arc::new(cfg);
    loop {
        let ev = tokio::select! {
            _ = shutdown.wait() => return,
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => return,
            },
        };
        let (cfg, log) = (cfg.clone(), log.clone());
        let send = tokio::task::spawn_blocking(move || {
            crate::alerts::notify::dispatch(
                &cfg,
                std::slice::from_ref(&ev),
                &log,
                crate::clock::now(),
                NOTIFY_BUDGET,
            )
        });
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = send => {}
        }
    }
}
