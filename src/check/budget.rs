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
