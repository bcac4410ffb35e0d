//! The retry schedule of a failing loop, as a pure function.
//!
//! Policy (DESIGN.md, Layer 1): after a success the next read comes after the
//! loop's own interval; after the n-th consecutive failure it comes after the
//! n-th step of the configured list (`10s, 20s, 30s` by default), and from
//! then on after the longest (last) step. Each retry delay gets up to
//! `JITTER` of itself added, so that sensors failing together (one gateway
//! down) do not retry in lockstep. The jitter is passed in, so tests choose it.

use std::time::Duration;

/// The largest share of a retry step added as jitter.
pub const JITTER: f64 = 0.1;

/// The shortest retry step: a `"0s"` in the configuration must not turn a
/// failing loop into a busy one.
pub const MIN_STEP: Duration = Duration::from_millis(10);

/// Delay before the retry that follows `failures` consecutive failures
/// (`failures >= 1`), with `jitter` in `[0, 1)` scaling the random extra.
pub fn retry_delay(steps: &[Duration], failures: u32, jitter: f64) -> Duration {
    let Some(last) = steps.len().checked_sub(1) else {
        return MIN_STEP;
    };
    let i = (failures.max(1) as usize - 1).min(last);
    let step = steps[i].max(MIN_STEP);
    step + step.mul_f64(jitter.clamp(0.0, 1.0) * JITTER)
}

/// Delay before the next attempt of a loop polling every `interval`.
pub fn next_delay(interval: Duration, steps: &[Duration], failures: u32, jitter: f64) -> Duration {
    if failures == 0 {
        interval
    } else {
        retry_delay(steps, failures, jitter)
    }
}

/// The longest step: how long a loop may legitimately wait between attempts.
pub fn longest(steps: &[Duration]) -> Duration {
    steps.iter().copied().max().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn steps_then_the_longest_forever() {
        let steps = [s(10), s(20), s(30)];
        let got: Vec<Duration> = (1..=6).map(|n| retry_delay(&steps, n, 0.0)).collect();
        assert_eq!(got, [s(10), s(20), s(30), s(30), s(30), s(30)]);
    }

    #[test]
    fn success_uses_the_interval() {
        assert_eq!(next_delay(s(60), &[s(10)], 0, 0.9), s(60));
        assert_eq!(next_delay(s(60), &[s(10)], 1, 0.0), s(10));
    }

    #[test]
    fn jitter_is_bounded_to_a_tenth() {
        let steps = [s(10)];
        assert_eq!(retry_delay(&steps, 1, 0.5), Duration::from_millis(10_500));
        assert!(retry_delay(&steps, 1, 0.999_999) < Duration::from_secs(11));
        // Out-of-range jitter cannot stretch the schedule.
        assert_eq!(retry_delay(&steps, 1, 7.0), s(11));
        assert_eq!(retry_delay(&steps, 1, -1.0), s(10));
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(retry_delay(&[], 3, 0.0), MIN_STEP);
        assert_eq!(retry_delay(&[Duration::ZERO], 1, 0.0), MIN_STEP);
        assert_eq!(retry_delay(&[s(5)], 0, 0.0), s(5));
        assert_eq!(longest(&[s(5), s(30), s(20)]), s(30));
    }
}
