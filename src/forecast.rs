//! Disk-full forecast from the disk samples that check stores (issue 3).

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::probe::{Carry, Observation};
use crate::state::Reader;

/// Forecast observations for `check` (a WARN when a disk fills within
/// `check.forecast_horizon`).
pub fn observe(
    _state: &Reader<'_>,
    _cfg: &Config,
    _now: DateTime<Utc>,
    _carry: &Carry,
) -> Vec<Observation> {
    Vec::new()
}
