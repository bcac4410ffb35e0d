//! Forwards the alert lines that `run` writes to the `[[notify]]` webhooks
//! (`alerts::notify` sends them).

use std::sync::Arc;
use std::time::Duration;

use super::shutdown::Shutdown;

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
