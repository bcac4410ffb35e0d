//! Who watches the watcher: the check timer and `grokmon run` watch each
//! other. `run` reads the state database's last check time periodically and
//! says when checks stopped (3 × `check.interval` without one); `status`
//! shows the same. Pure: the times come in.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Scope;
use crate::text::human_duration;

/// Checks missed before `run` says they stopped.
pub const MISSED: u32 = 3;

/// How long no check ran (since `last`, or since `started` without one),
/// once `MISSED` intervals passed both since the last check and since
/// `started` (when `run` started): a machine that was off all night starts
/// `run` before its first check, which is not a stopped timer.
pub fn overdue(
    last: Option<DateTime<Utc>>,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
    interval: Duration,
) -> Option<Duration> {
    let quiet = (now - last.map_or(started, |l| l.max(started)))
        .to_std()
        .ok()?;
    let age = (now - last.unwrap_or(started)).to_std().ok()?;
    (quiet >= interval * MISSED).then_some(age)
}

/// The command that shows the timer.
pub fn timer_command(scope: Scope) -> String {
    let u = if scope == Scope::User { " --user" } else { "" };
    format!("systemctl{u} list-timers grokmon-check.timer")
}

fn round(d: Duration) -> String {
    // Whole minutes from a minute on: checks run minutes apart.
    let s = d.as_secs();
    human_duration(Duration::from_secs(if s >= 60 { s / 60 * 60 } else { s }))
}

/// The WARN line's text (and `status`'s).
pub fn message(
    age: Duration,
    interval: Duration,
    last: Option<DateTime<Utc>>,
    scope: Scope,
) -> String {
    let what = match last {
        Some(_) => format!("no check for {}", round(age)),
        None => format!(
            "no check recorded in the {} since grokmon run started",
            round(age)
        ),
    };
    format!(
        "{what} (expected every {}): is grokmon-check.timer running? see `{}`",
        human_duration(interval),
        timer_command(scope)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn overdue_after_three_intervals() {
        let now = t("2026-11-28T12:00:00Z");
        let five = Duration::from_secs(300);
        let at = |m: i64| Some(now - chrono::Duration::minutes(m));
        let up = now - chrono::Duration::hours(2);
        let min = |m: u64| Some(Duration::from_secs(m * 60));
        assert_eq!(overdue(at(14), up, now, five), None);
        assert_eq!(overdue(at(15), up, now, five), min(15));
        assert_eq!(overdue(at(47), up, now, five), min(47));
        // `run` just started (a boot after a night off): not yet.
        let booted = now - chrono::Duration::minutes(2);
        assert_eq!(overdue(at(600), booted, now, five), None);
        // 3 intervals after the start without a check: the whole age.
        let booted = now - chrono::Duration::minutes(15);
        assert_eq!(overdue(at(600), booted, now, five), min(600));
        // A last check in the future (clock stepped back) is not overdue.
        let future = Some(now + chrono::Duration::minutes(5));
        assert_eq!(overdue(future, up, now, five), None);
        // No check at all: counted from when run started.
        let started = now - chrono::Duration::minutes(20);
        assert_eq!(
            overdue(None, started, now, five),
            Some(Duration::from_secs(1200))
        );
        assert_eq!(overdue(None, now, now, five), None);
    }

    #[test]
    fn message_names_the_timer_and_the_command() {
        let m = message(
            Duration::from_secs(47 * 60 + 12),
            Duration::from_secs(300),
            Some(t("2026-11-28T11:13:00Z")),
            Scope::User,
        );
        assert_eq!(
            m,
            "no check for 47m (expected every 5m): is grokmon-check.timer running? see `systemctl --user list-timers grokmon-check.timer`"
        );
        let m = message(
            Duration::from_secs(3 * 3600 + 125),
            Duration::from_secs(300),
            None,
            Scope::System,
        );
        assert!(
            m.starts_with("no check recorded in the 3h 2m since grokmon run started"),
            "{m}"
        );
        assert!(
            m.ends_with("`systemctl list-timers grokmon-check.timer`"),
            "{m}"
        );
    }
}
