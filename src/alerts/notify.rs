//! Notifications (`[[notify]]`): observational push of alert lines (issue 3).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{AlertLog, Event};
use crate::config::Config;

/// Sends the events to every configured webhook within `budget`. The lines
/// are already on disk; a failed notification is recorded as a WARN from
/// source `notify`.
pub fn dispatch(
    _cfg: &Config,
    _events: &[Event],
    _log: &AlertLog,
    _now: DateTime<Utc>,
    _budget: Duration,
) {
}
