//! Allowlisted actions (`[[action]]`): the AI chooses a name, never writes
//! what runs. A name not on the list is rejected; a name within its cooldown
//! is skipped; otherwise the configured argv runs, without a shell, with a
//! timeout and bounded output, and the outcome is recorded.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::hub::{Hub, lock};
pub use super::record::{ActionRecord, Status};
use super::sensor::{quote, run_argv};
use crate::config::Action;

/// The most of an action's output kept in the record, in characters.
const OUTPUT_KEEP: usize = 500;

/// The allowlist with its cooldown clock.
pub struct Allowlist {
    actions: BTreeMap<String, Action>,
    last_run: Mutex<HashMap<String, Instant>>,
}

impl Allowlist {
    pub fn new(actions: &[Action]) -> Allowlist {
        Allowlist {
            actions: actions
                .iter()
                .map(|a| (a.name.clone(), a.clone()))
                .collect(),
            last_run: Mutex::new(HashMap::new()),
        }
    }

    /// Starts the cooldown clocks from earlier runs (`name`, time since it
    /// ran), so that a restart of grokmon does not reset them.
    pub fn with_history(self, ran: &[(String, Duration)]) -> Allowlist {
        let now = Instant::now();
        {
            let mut last = lock(&self.last_run);
            for (name, ago) in ran {
                // Older than the monotonic clock (before a reboot) cannot be
                // represented; such a run is long past most cooldowns.
                if let (true, Some(t)) = (self.actions.contains_key(name), now.checked_sub(*ago)) {
                    last.insert(name.clone(), t);
                }
            }
        }
        self
    }

    pub fn list(&self) -> impl Iterator<Item = &Action> {
        self.actions.values()
    }

    /// Decides and, when allowed, runs one chosen action.
    pub async fn execute(
        &self,
        name: &str,
        reason: &str,
        dry_run: bool,
        hub: &Arc<Hub>,
    ) -> ActionRecord {
        let mut rec = ActionRecord {
            name: name.chars().take(100).collect(),
            reason: reason.chars().take(1000).collect(),
            status: Status::Rejected,
            exit_code: None,
            detail: String::new(),
            duration_ms: 0,
        };
        let Some(action) = self.actions.get(name) else {
            rec.detail = "not in the [[action]] allowlist".into();
            return rec;
        };
        let now = Instant::now();
        let last = lock(&self.last_run).get(name).copied();
        if let Some(left) = last.and_then(|l| cooldown_left(l, now, action.cooldown)) {
            rec.status = Status::Skipped;
            rec.detail = format!(
                "within its cooldown ({}s left of {})",
                left.as_secs(),
                humantime::format_duration(action.cooldown)
            );
            return rec;
        }
        if dry_run {
            rec.status = Status::DryRun;
            rec.detail = "ai.dry_run: not run".into();
            return rec;
        }
        lock(&self.last_run).insert(name.to_string(), now);
        // A long action is progress, not a hang: tell the watchdog.
        hub.progress("ai", action.timeout + Duration::from_secs(60));
        let started = Instant::now();
        let res = tokio::time::timeout(action.timeout, run_argv(&action.command, hub)).await;
        rec.duration_ms = started.elapsed().as_millis() as u64;
        match res {
            Err(_) => {
                rec.status = Status::TimedOut;
                rec.detail = format!(
                    "killed after {}",
                    humantime::format_duration(action.timeout)
                );
            }
            Ok(Err(e)) => {
                rec.status = Status::Failed;
                rec.detail = e.to_string();
            }
            Ok(Ok(out)) => {
                rec.exit_code = out.code;
                rec.status = if out.success {
                    Status::Ran
                } else {
                    Status::Failed
                };
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                rec.detail = if text.trim().is_empty() {
                    String::new()
                } else {
                    quote(&text.chars().take(OUTPUT_KEEP).collect::<String>())
                };
            }
        }
        rec
    }
}

/// The cooldown left after a run at `last`, if any.
pub fn cooldown_left(last: Instant, now: Instant, cooldown: Duration) -> Option<Duration> {
    let since = now.saturating_duration_since(last);
    (since < cooldown).then(|| cooldown - since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_window() {
        let t = Instant::now();
        let c = Duration::from_secs(600);
        assert_eq!(
            cooldown_left(t, t + Duration::from_secs(60), c),
            Some(Duration::from_secs(540))
        );
        assert_eq!(cooldown_left(t, t + c, c), None);
    }
}
