//! The wall clock, read without ever panicking.
//!
//! A Raspberry Pi without a real-time clock boots in 1970 (or before, with a
//! bad RTC battery) and jumps at NTP sync: `chrono::Utc::now()` panics for a
//! time before the Unix epoch, so every command reads the clock here.

use chrono::{DateTime, Utc};

/// The current time, whatever the clock says: a time before 1970 is returned
/// as it is (a negative timestamp), and a time chrono cannot represent is
/// clamped to the epoch.
pub fn now() -> DateTime<Utc> {
    from_system(std::time::SystemTime::now())
}

/// `now` for any `SystemTime` (tests pass their own).
pub fn from_system(t: std::time::SystemTime) -> DateTime<Utc> {
    let (secs, nanos) = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(e) => {
            // Before the epoch: whole seconds down, nanoseconds up.
            let d = e.duration();
            let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    };
    DateTime::from_timestamp(secs, nanos).unwrap_or(DateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn times_before_the_epoch_do_not_panic() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(from_system(t).timestamp_millis(), -1500);
        let t = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(from_system(t).timestamp(), -1);
        // Far out of chrono's range: clamped, no panic.
        let far = UNIX_EPOCH - Duration::from_secs(u64::MAX / 2);
        let _ = from_system(far);
        assert_eq!(
            from_system(UNIX_EPOCH + Duration::from_secs(5)).timestamp(),
            5
        );
    }
}
