//! The orchestrator watches the check timer (and the timer's checks, through
//! their `api` probe, watch the orchestrator): every fifth of
//! `check.interval` (at least 1 s, at most a minute) it reads the state
//! database's last check time. After 3 intervals without a check (counted
//! from its own start too: after a boot, the timer's first check comes a
//! little after `run` starts) it raises
//! one `WARN check: no check for 47m (expected every 5m): …` line, and one
//! `OK check` line when checks resume. The time is also served in
//! `/metrics` as `grokmon_check_last_run_timestamp_seconds`.
//!
//! The warning is remembered in the state database (`keys::CHECKS_STOPPED`,
//! the last check it was about), so a `run` restarted while checks are
//! still stopped does not write it again, and writes the `OK` when they
//! resume.

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

/// What the state database says: the last check's time (`None` without a
/// state database or a check), and which last check a stopped-checks
/// warning was written about (`stamp`), if one is open.
pub fn read_last(path: &Path) -> Result<(Option<DateTime<Utc>>, Option<String>), String> {
    match State::open_existing(path) {
        Ok(Some(st)) => {
            let r = st.read();
            let last = r.get_time(keys::LAST_CHECK).map_err(|e| e.to_string())?;
            let warned = r.get(keys::CHECKS_STOPPED).map_err(|e| e.to_string())?;
            Ok((last, warned))
        }
        Ok(None) => Ok((None, None)),
        Err(e) => Err(e.to_string()),
    }
}

/// How a last check time is remembered with the warning about it.
fn stamp(last: Option<DateTime<Utc>>) -> String {
    last.map_or_else(
        || "none".to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// Remembers (or, `None`, forgets) the open warning, in an existing state
/// database (without one there is no check to be about, and nothing to
/// create here).
fn remember(path: &Path, warned: Option<&str>) -> Result<(), String> {
    if !path.exists() {
        return Ok(());
    }
    let mut st = State::open(path).map_err(|e| e.to_string())?;
    st.write(|tx| match warned {
        Some(v) => tx.set(keys::CHECKS_STOPPED, v),
        None => tx.delete(keys::CHECKS_STOPPED),
    })
    .map_err(|e| e.to_string())
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
    // Read from the state at the first read: a warning an earlier `run`
    // wrote, still open.
    let mut alerted: Option<bool> = None;
    let mut last_error: Option<String> = None;
    loop {
        let path = state.clone();
        let read = tokio::task::spawn_blocking(move || read_last(&path));
        let res = tokio::select! {
            _ = shutdown.wait() => return,
            r = read => r.unwrap_or_else(|e| Err(e.to_string())),
        };
        match res {
            Ok((last, warned)) => {
                last_error = None;
                hub.last_check
                    .store(last.map_or(0, |t| t.timestamp()), Ordering::Relaxed);
                let open = *alerted.get_or_insert(warned.is_some());
                // Still about the same last check: no new line for it.
                let same = warned.as_deref() == Some(stamp(last).as_str());
                let now = Utc::now();
                match stopped::overdue(last, started, now, interval) {
                    Some(_) if open && same => {}
                    Some(age) if !open => {
                        alerted = Some(true);
                        let msg = stopped::message(age, interval, last, scope);
                        hub.event(Level::Warn, "check", msg).await;
                        keep(&state, Some(stamp(last)), &mut last_error).await;
                    }
                    // Resumed: a check since the warning (right after a
                    // restart `overdue` waits, but the warning still holds
                    // while the last check is the same).
                    None if open && !same => {
                        alerted = Some(false);
                        let at = last
                            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                            .unwrap_or_default();
                        hub.event(Level::Ok, "check", format!("checks resumed (last at {at})"))
                            .await;
                        keep(&state, None, &mut last_error).await;
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

/// `remember`, off the runtime's threads; a failure is said once.
async fn keep(state: &Path, warned: Option<String>, last_error: &mut Option<String>) {
    let path = state.to_path_buf();
    let res = tokio::task::spawn_blocking(move || remember(&path, warned.as_deref()))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    if let Err(e) = res
        && last_error.as_ref() != Some(&e)
    {
        eprintln!("cannot remember the stopped-checks warning: {e}");
        *last_error = Some(e);
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
