//! `check --stateless`: probe and report the current status, neither reading
//! nor writing the state database or the alerts log. The mode for a scheduler
//! that keeps its own soft/hard states (Nagios, NRPE, Icinga) and may run the
//! check as a user of its own: nothing it cannot write makes the check fail.
//! CPU usage then comes from the short sample, restart loops and the disk
//! forecast (which need history) are not judged.

use chrono::{DateTime, Utc};

use super::Report;
use crate::config::Config;
use crate::probe::{self, Observation, Status};

pub fn check(cfg: &Config, now: DateTime<Utc>, roots: &probe::Roots) -> Report {
    let (mut observations, _carry) = super::run_probes(cfg, now, roots, None);
    if cfg.check.probes.iter().any(|p| p == crate::forecast::PROBE) {
        observations.push(Observation::new(
            crate::forecast::PROBE,
            Status::Skipped,
            "needs the sample history: not judged with --stateless",
        ));
    }
    Report {
        checked_at: now,
        observations,
        events: Vec::new(),
        errors: Vec::new(),
    }
}
