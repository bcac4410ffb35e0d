//! The alerts-log appender: the one task that writes `run`'s WARN, CRIT and
//! OK lines to the alerts log. `Hub::event` only queues a line, so a hung
//! filesystem (NFS, a dead SD card) stalls this task alone, never the sensor,
//! store and AI loops. Lines are written in the order they were raised; a
//! line goes to the notification queue only once it is safe on disk. At
//! shutdown what is already queued is written within `DRAIN`, so a clean
//! stop keeps its last lines and a hung one does not wait for the deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

use super::hub::Hub;
use super::shutdown::Shutdown;
use crate::alerts::Event;
use crate::text::chain;

/// How long the appender may take, once shutdown fired, to write what is queued.
pub const DRAIN: Duration = Duration::from_secs(2);

/// Lines written in one append (one lock, one sync).
const BATCH: usize = 64;

/// Writes the queued alert lines until shutdown, then drains the queue
/// within `DRAIN`.
pub async fn appender_loop(hub: Arc<Hub>, mut rx: Receiver<Event>, mut shutdown: Shutdown) {
    // Set once shutdown fired: the end of the drain.
    let mut until: Option<Instant> = None;
    loop {
        let mut batch = Vec::new();
        match until {
            None => tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => batch.push(ev),
                    None => return,
                },
                _ = shutdown.wait() => {
                    until = Some(Instant::now() + DRAIN);
                    continue;
                }
            },
            Some(_) => match rx.try_recv() {
                Ok(ev) => batch.push(ev),
                // Drained: a line raised later is counted as dropped by the hub.
                Err(_) => return,
            },
        }
        while batch.len() < BATCH
            && let Ok(ev) = rx.try_recv()
        {
            batch.push(ev);
        }
        let log = hub.alerts.clone();
        let state = hub.state_path.clone();
        let count = batch.len();
        let mut write = tokio::task::spawn_blocking(move || {
            // Lines under a silence are written marked, and not notified.
            let list = crate::alerts::silence::load_path(&state);
            crate::alerts::silence::mark(&list, &mut batch, chrono::Utc::now());
            log.append(&batch).map(|()| batch)
        });
        let done = loop {
            match until {
                None => tokio::select! {
                    r = &mut write => break Some(r),
                    _ = shutdown.wait() => until = Some(Instant::now() + DRAIN),
                },
                Some(t) => break tokio::time::timeout_at(t, &mut write).await.ok(),
            }
        };
        match done {
            Some(Ok(Ok(batch))) => hub.notify_written(
                batch
                    .into_iter()
                    .filter(|e| !crate::alerts::silence::is_marked(e))
                    .collect(),
            ),
            Some(Ok(Err(e))) => crate::errln!("cannot write the alerts log: {}", chain(&e)),
            Some(Err(e)) => crate::errln!("cannot write the alerts log: {e}"),
            None => {
                // The write stays on the blocking pool and may still land;
                // the queued lines behind it are lost with the process.
                crate::errln!(
                    "alerts log still not written after {} of shutdown: {} lines left unwritten",
                    humantime::format_duration(DRAIN),
                    count + rx.len()
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Level;
    use crate::orchestrator::hub::{ALERT_QUEUE, NOTIFY_QUEUE};
    use crate::orchestrator::shutdown::Trigger;
    use std::future::Future;
    use std::sync::atomic::Ordering;
    use std::task::{Context, Poll, Waker};

    fn hub(dir: &std::path::Path) -> Arc<Hub> {
        let text = format!(
            "[paths]\nalerts_log = \"{}/alerts.log\"\n[[notify]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n",
            dir.display()
        );
        let env = crate::config::Env {
            home: Some(dir.to_path_buf()),
            ..Default::default()
        };
        let cfg =
            crate::config::Config::parse(&text, crate::config::Source::Defaults, &env).unwrap();
        Arc::new(Hub::new(&cfg, 10_000))
    }

    /// `hub.event(...)` completes on its first poll: it never waits.
    fn event_at_once(hub: &Hub, msg: String) {
        let fut = std::pin::pin!(hub.event(Level::Warn, "sensor.t", msg));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            matches!(fut.poll(&mut cx), Poll::Ready(())),
            "hub.event waited"
        );
    }

    fn log_lines(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("alerts.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Holds the alerts log's exclusive lock, as a hung filesystem would:
    /// `AlertLog::append` blocks in `flock` until it is dropped.
    fn hold_lock(dir: &std::path::Path) -> std::fs::File {
        let f = std::fs::File::create(dir.join("alerts.log")).unwrap();
        f.lock().unwrap();
        f
    }

    #[tokio::test]
    async fn loops_never_wait_on_a_stuck_alerts_log_and_order_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(dir.path());
        let mut notified = hub.take_notify_rx().unwrap();
        let held = hold_lock(dir.path());
        let (trigger, sd) = Trigger::new();
        let appender = tokio::spawn(appender_loop(hub.clone(), hub.take_alert_rx().unwrap(), sd));
        event_at_once(&hub, "line 0".into());
        // The appender takes line 0 and blocks on the lock.
        for _ in 0..10_000 {
            if hub.alerts_queued() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(hub.alerts_queued(), 0, "the appender never took line 0");
        // While it is stuck, every loop's event still returns at once; past
        // the queue's capacity lines are dropped and counted.
        for i in 1..=ALERT_QUEUE + 5 {
            event_at_once(&hub, format!("line {i}"));
        }
        assert_eq!(hub.alerts_dropped.load(Ordering::Relaxed), 5);
        assert_eq!(hub.alerts_queued(), ALERT_QUEUE);
        assert!(log_lines(dir.path()).is_empty());
        assert!(
            notified.try_recv().is_err(),
            "a line not on disk was notified"
        );
        // The filesystem recovers: the queued lines land, in order.
        drop(held);
        let want: Vec<String> = (0..=ALERT_QUEUE).map(|i| format!("line {i}")).collect();
        let mut got = Vec::new();
        for _ in 0..600 {
            got = log_lines(dir.path());
            if got.len() >= want.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (line, w) in got.iter().zip(&want) {
            assert!(
                line.contains("WARN sensor.t: ") && line.ends_with(w.as_str()),
                "{line} vs {w}"
            );
        }
        // Notified in order, once written (the notification queue keeps its
        // own bound).
        let mut n = 0;
        while let Ok(ev) = notified.try_recv() {
            assert_eq!(ev.message, format!("line {n}"));
            n += 1;
        }
        assert_eq!(n, NOTIFY_QUEUE);
        trigger.fire();
        appender.await.unwrap();
    }

    #[tokio::test]
    async fn a_clean_stop_writes_the_queued_lines() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(dir.path());
        let (trigger, sd) = Trigger::new();
        for i in 0..3 {
            event_at_once(&hub, format!("line {i}"));
        }
        // Shutdown fires before the appender ever ran.
        trigger.fire();
        appender_loop(hub.clone(), hub.take_alert_rx().unwrap(), sd).await;
        let got = log_lines(dir.path());
        assert_eq!(got.len(), 3, "{got:?}");
        for (i, line) in got.iter().enumerate() {
            assert!(line.ends_with(&format!("line {i}")), "{line}");
        }
        // The appender is gone: a later line is counted, not lost silently.
        event_at_once(&hub, "late".into());
        assert_eq!(hub.alerts_dropped.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_stop_on_a_hung_alerts_log_gives_up_after_the_drain() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(dir.path());
        let held = hold_lock(dir.path());
        let (trigger, sd) = Trigger::new();
        event_at_once(&hub, "line 0".into());
        event_at_once(&hub, "line 1".into());
        trigger.fire();
        // A liveness bound, not a timing claim: an unbounded drain never returns.
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            appender_loop(hub.clone(), hub.take_alert_rx().unwrap(), sd),
        )
        .await;
        assert!(r.is_ok(), "the drain did not give up on a hung alerts log");
        assert!(log_lines(dir.path()).is_empty());
        // Release the lock so the stuck write (and its thread) can finish.
        drop(held);
    }
}
