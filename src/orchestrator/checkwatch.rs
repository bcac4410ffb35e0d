//! The orchestrator watches the check timer (and the timer's checks, through
//! their `api` probe, watch the orchestrator): every fifth of
//! `check.interval` (at least 1 s, at most a minute) it reads the state
//! database's last check time. After 3 intervals without a check (counted
//! from its own start too: after a boot, the timer's first check comes a
//! little after `run` starts) it raises
//! one `WARN check: no check for 47m (expected every 5m): …` line, and one
//! `OK check` line when checks resume. The time is also served in
//! `/metrics` as `grokmon_check_last_run_timestamp_seconds`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::hub::Hub;
use super::shutdown::Shutdown;
use crate::alerts::Level;
use crate::check::stopped;
use crate::config::Scope;
use crate::state::{Read as _, State, keys};

/// How often the last check time is read.
pub fn period(interval: Duration) -> Duration {
    (interval / 5).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// The last check's time; `Ok(None)` without a state database or a check.
pub fn read_last(path: &Path) -> Result<Option<DateTime<Utc>>, String> {
    match State::open_existing(path) {
        Ok(Some(st)) => st
            .read()
            .get_time(keys::LAST_CHECK)
            .map_err(|e| e.to_string()),
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn checkwatch_loop(
    hub: Arc<Hub>,
    state: PathBuf,
    interval: Duration,
    scope: Scope,
    mut shutdown: Shutdown,
) {
    let started = Utc::now();
    let every = period(interval);
    let mut alerted = false;
    let mut last_error: Option<String> = None;
    loop {
        let path = state.clone();
        let read = tokio::task::spawn_blocking(move || read_last(&path));
        let res = tokio::select! {
            _ = shutdown.wait() => return,
            r = read => r.unwrap_or_else(|e| Err(e.to_string())),
        };
        match res {
            Ok(last) => {
                last_error = None;
                hub.last_check
                    .store(last.map_or(0, |t| t.timestamp()), Ordering::Relaxed);
                let now = Utc::now();
                match stopped::overdue(last, started, now, interval) {
                    Some(age) if !alerted => {
                        alerted = true;
                        let msg = stopped::message(age, interval, last, scope);
                        hub.event(Level::Warn, "check", msg).await;
                    }
                    None if alerted => {
                        alerted = false;
                        let at = last
                            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                            .unwrap_or_default();
                        hub.event(Level::Ok, "check", format!("checks resumed (last at {at})"))
                            .await;
                    }
                    _ => {}
                }
            }
            Err(e) => {
                // Said once per kind of failure; the next read may succeed.
                if last_error.as_ref() != Some(&e) {
                    eprintln!("cannot read the last check time: {e}");
                    last_error = Some(e);
                }
            }
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_is_a_fifth_of_the_interval_within_bounds() {
        assert_eq!(period(Duration::from_secs(300)), Duration::from_secs(60));
        assert_eq!(period(Duration::from_secs(10)), Duration::from_secs(2));
        assert_eq!(period(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(period(Duration::from_secs(86400)), Duration::from_secs(60));
    }
}
