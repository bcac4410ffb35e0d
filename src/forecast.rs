//! Disk-full forecast from the disk samples that `check` stores.
//!
//! The samples are percent used (`disk:<mountpoint>`), one per check. A
//! least-squares line of percent over time, extrapolated to 100 %, says when
//! the filesystem fills at the current rate. Percent rather than free bytes
//! is enough: the filesystem's size does not change between checks, so the
//! line crosses 100 % when free space reaches zero (reserved blocks aside,
//! which the disk probe already counts as used).
//!
//! It must not cry wolf: it needs `MIN_SAMPLES` samples spanning `MIN_SPAN`,
//! only looks at the samples since the last big drop (a cleanup starts a new
//! trend), ignores flat or falling trends, and wants the line to explain the
//! data (R² ≥ `MIN_R2`), so noise around a flat level never forecasts.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::probe::{Carry, Metric, Observation, Status, Unit};
use crate::state::{Read as _, Reader};
use crate::text::{approx_days, chain, human_duration};

/// The probe name: its config entry in `check.probes`, alert source and JSON key.
pub const PROBE: &str = crate::probe_names::FORECAST;

/// Fewest samples for a forecast (an hour of checks every 5 minutes).
pub const MIN_SAMPLES: usize = 12;
/// Shortest time the samples must span.
pub const MIN_SPAN: Duration = Duration::from_secs(6 * 3600);
/// How far back the fit looks.
pub const WINDOW: Duration = Duration::from_secs(7 * 86400);
/// A drop of this many points starts a new trend (something was deleted).
pub const DROP: f64 = 5.0;
/// How well the line must fit the samples.
pub const MIN_R2: f64 = 0.5;

/// What the fit says.
#[derive(Debug, Clone, PartialEq)]
pub enum Forecast {
    /// Not enough history yet: how many samples, over how long.
    TooFew { samples: usize, span: Duration },
    /// Flat, falling, or too noisy to say.
    NotFilling,
    /// Full in this long at the current rate (zero: full now).
    Full {
        within: Duration,
        percent_per_day: f64,
    },
}

/// Fits percent-used samples (oldest first) and extrapolates to 100 % from `now`.
pub fn fit(samples: &[(DateTime<Utc>, f64)], now: DateTime<Utc>) -> Forecast {
    let secs: Vec<(i64, f64)> = samples.iter().map(|(t, v)| (t.timestamp(), *v)).collect();
    fit_secs(&secs, now)
}

/// `fit` of samples timed in unix seconds (as stored): what `check` runs on
/// a week of samples every time, so it allocates nothing and makes two
/// passes over the trend.
pub fn fit_secs(samples: &[(i64, f64)], now: DateTime<Utc>) -> Forecast {
    // Only the trend since the last cleanup (a drop between two readable
    // samples; unreadable ones are skipped).
    let mut from = 0;
    let mut prev: Option<f64> = None;
    for (i, (_, v)) in samples.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        if prev.is_some_and(|p| *v < p - DROP) {
            from = i;
        }
        prev = Some(*v);
    }
    let s = || samples[from..].iter().filter(|(_, v)| v.is_finite());
    let (count, first, last) = s().fold((0usize, None, None), |(n, a, _), (t, _)| {
        (n + 1, a.or(Some(*t)), Some(*t))
    });
    let span = match (first, last) {
        (Some(a), Some(b)) => Duration::from_secs(b.saturating_sub(a).max(0) as u64),
        _ => Duration::ZERO,
    };
    let Some(t0) = first.filter(|_| count >= MIN_SAMPLES && span >= MIN_SPAN) else {
        return Forecast::TooFew {
            samples: count,
            span,
        };
    };
    let n = count as f64;
    let (sx, sy) = s().fold((0.0, 0.0), |(sx, sy), (t, v)| {
        (sx + (t - t0) as f64, sy + v)
    });
    let (mx, my) = (sx / n, sy / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (t, y) in s() {
        let x = (t - t0) as f64;
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return Forecast::NotFilling;
    }
    let slope = sxy / sxx; // percent per second
    let r2 = sxy * sxy / (sxx * syy);
    if slope <= 0.0 || r2 < MIN_R2 {
        return Forecast::NotFilling;
    }
    let since_t0 = DateTime::from_timestamp(t0, 0).map_or(0, |t| (now - t).num_seconds());
    let at_now = my + slope * (since_t0 as f64 - mx);
    let secs = ((100.0 - at_now) / slope).max(0.0);
    if !secs.is_finite() || secs > 100.0 * 365.0 * 86400.0 {
        return Forecast::NotFilling;
    }
    Forecast::Full {
        within: Duration::from_secs(secs as u64),
        percent_per_day: slope * 86400.0,
    }
}

/// The observation for one mount point (pure).
pub fn judge(mountpoint: &str, f: &Forecast, horizon: Duration) -> Observation {
    let (status, message, days) = match f {
        Forecast::TooFew { samples, span } => (
            Status::Ok,
            format!(
                "disk {mountpoint}: not enough history yet ({samples} sample{} over {}; needs {MIN_SAMPLES} over {})",
                if *samples == 1 { "" } else { "s" },
                human_duration(*span),
                human_duration(MIN_SPAN)
            ),
            None,
        ),
        Forecast::NotFilling => (
            Status::Ok,
            format!("disk {mountpoint}: not filling up"),
            None,
        ),
        Forecast::Full {
            within,
            percent_per_day,
        } => {
            let text = format!(
                "disk {mountpoint}: full in {} (+{percent_per_day:.1}%/day)",
                approx_days(*within)
            );
            let st = if *within < horizon {
                Status::Warn
            } else {
                Status::Ok
            };
            (st, text, Some(within.as_secs_f64() / 86400.0))
        }
    };
    let mut o = Observation::new(PROBE, status, message).target(mountpoint);
    if let Some(d) = days {
        o = o.metric(Metric::new("days_to_full", d, Unit::None));
    }
    o
}

/// Forecast observations for `check`, one per filesystem the disk probe
/// measured in this check: a WARN when it fills within
/// `check.forecast_horizon`. Uses the stored samples plus this check's one.
pub fn observe(
    state: &Reader<'_>,
    cfg: &Config,
    now: DateTime<Utc>,
    carry: &Carry,
) -> Vec<Observation> {
    if !cfg.check.probes.iter().any(|p| p == PROBE) {
        return Vec::new();
    }
    let window = chrono::Duration::from_std(WINDOW.min(cfg.check.keep_samples))
        .unwrap_or(chrono::Duration::days(7));
    let mut out = Vec::new();
    for (metric, value) in &carry.samples {
        let Some(mp) = metric.strip_prefix("disk:") else {
            continue;
        };
        let obs = match state.sample_secs(metric, now - window) {
            Ok(mut s) => {
                s.push((now.timestamp(), *value));
                judge(mp, &fit_secs(&s, now), cfg.check.forecast_horizon)
            }
            Err(e) => Observation::new(PROBE, Status::Unknown, chain(&e)).target(mp),
        };
        out.push(obs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    /// `n` samples every `step` minutes ending at now, value by index.
    fn series(n: usize, step_min: i64, f: impl Fn(usize) -> f64) -> Vec<(DateTime<Utc>, f64)> {
        (0..n)
            .map(|i| {
                (
                    now() - chrono::Duration::minutes(step_min * (n - 1 - i) as i64),
                    f(i),
                )
            })
            .collect()
    }

    fn days(f: &Forecast) -> Option<f64> {
        match f {
            Forecast::Full { within, .. } => Some(within.as_secs_f64() / 86400.0),
            _ => None,
        }
    }

    #[test]
    fn table_of_trends() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut noise = move || rng.f64() * 4.0 - 2.0;
        let noisy_flat: Vec<f64> = (0..288).map(|_| 80.0 + noise()).collect();
        let mut rng2 = fastrand::Rng::with_seed(5);
        let noisy_down: Vec<f64> = (0..288)
            .map(|i| 90.0 - i as f64 * 0.01 + rng2.f64() * 4.0 - 2.0)
            .collect();
        // 1 point a day from 91 %: full in 9 days.
        let per_day = 1.0 / 288.0;
        // (name, samples, expected days to full as [low, high], or none)
        type Case = (&'static str, Vec<(DateTime<Utc>, f64)>, Option<(f64, f64)>);
        let cases: Vec<Case> = vec![
            (
                "steady fill",
                series(288, 5, |i| 90.0 + i as f64 * per_day),
                Some((8.9, 9.1)),
            ),
            ("flat", series(288, 5, |_| 80.0), None),
            ("noisy flat", series(288, 5, |i| noisy_flat[i]), None),
            ("noisy decreasing", series(288, 5, |i| noisy_down[i]), None),
            (
                "decreasing",
                series(288, 5, |i| 90.0 - i as f64 * 0.01),
                None,
            ),
            (
                "already full",
                series(100, 5, |i| 99.0 + i as f64 * 0.01),
                Some((0.0, 0.01)),
            ),
            (
                "fill after a cleanup counts from the cleanup",
                series(288, 5, |i| {
                    if i < 100 {
                        99.0
                    } else {
                        50.0 + (i - 100) as f64 * 0.05
                    }
                }),
                Some((2.5, 3.0)),
            ),
            (
                "slow fill, years away",
                series(288, 5, |i| 10.0 + i as f64 * 0.0001),
                Some((2000.0, 4000.0)),
            ),
        ];
        for (name, s, want) in cases {
            let f = fit(&s, now());
            match (days(&f), want) {
                (None, None) => {}
                (Some(d), Some((lo, hi))) => {
                    assert!(d >= lo && d <= hi, "{name}: {d} days ({f:?})")
                }
                (got, want) => panic!("{name}: got {got:?} ({f:?}), want {want:?}"),
            }
        }
    }

    #[test]
    fn needs_enough_samples_over_enough_time() {
        // Steep, but only 11 samples.
        let f = fit(&series(11, 60, |i| 50.0 + i as f64), now());
        assert!(matches!(f, Forecast::TooFew { samples: 11, .. }), "{f:?}");
        // 60 samples, but over 5 hours.
        let f = fit(&series(61, 5, |i| 50.0 + i as f64 * 0.1), now());
        assert!(matches!(f, Forecast::TooFew { .. }), "{f:?}");
        assert!(matches!(
            fit(&[], now()),
            Forecast::TooFew { samples: 0, .. }
        ));
        // Non-finite values are ignored, not propagated.
        let mut s = series(288, 5, |i| 90.0 + i as f64 / 288.0);
        s[10].1 = f64::NAN;
        assert!(days(&fit(&s, now())).is_some());
    }

    /// The fit as it was written first (copies, a calendar time per
    /// sample): `fit_secs` must give exactly its answers.
    fn reference_fit(samples: &[(DateTime<Utc>, f64)], now: DateTime<Utc>) -> Forecast {
        let valid: Vec<(DateTime<Utc>, f64)> = samples
            .iter()
            .copied()
            .filter(|(_, v)| v.is_finite())
            .collect();
        let from = valid
            .windows(2)
            .rposition(|w| w[1].1 < w[0].1 - DROP)
            .map_or(0, |i| i + 1);
        let s = &valid[from..];
        let span = match (s.first(), s.last()) {
            (Some(a), Some(b)) => (b.0 - a.0).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        if s.len() < MIN_SAMPLES || span < MIN_SPAN {
            return Forecast::TooFew {
                samples: s.len(),
                span,
            };
        }
        let t0 = s[0].0;
        let xs: Vec<f64> = s
            .iter()
            .map(|(t, _)| (*t - t0).num_seconds() as f64)
            .collect();
        let n = s.len() as f64;
        let mx = xs.iter().sum::<f64>() / n;
        let my = s.iter().map(|(_, v)| v).sum::<f64>() / n;
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for (x, (_, y)) in xs.iter().zip(s) {
            sxy += (x - mx) * (y - my);
            sxx += (x - mx) * (x - mx);
            syy += (y - my) * (y - my);
        }
        if sxx <= 0.0 || syy <= 0.0 {
            return Forecast::NotFilling;
        }
        let slope = sxy / sxx;
        let r2 = sxy * sxy / (sxx * syy);
        if slope <= 0.0 || r2 < MIN_R2 {
            return Forecast::NotFilling;
        }
        let at_now = my + slope * ((now - t0).num_seconds() as f64 - mx);
        let secs = ((100.0 - at_now) / slope).max(0.0);
        if !secs.is_finite() || secs > 100.0 * 365.0 * 86400.0 {
            return Forecast::NotFilling;
        }
        Forecast::Full {
            within: Duration::from_secs(secs as u64),
            percent_per_day: slope * 86400.0,
        }
    }

    #[test]
    fn the_allocation_free_fit_answers_as_the_first_one_did() {
        let mut rng = fastrand::Rng::with_seed(15);
        let mut kinds = [0usize; 3];
        for case in 0..3000 {
            let n = rng.usize(0..400);
            let step = rng.i64(1..30);
            let slope = rng.f64() * 0.2 - 0.05;
            let noise = [0.0, 0.01, 1.0, 5.0][rng.usize(0..4)];
            let mut v = rng.f64() * 90.0;
            let vals: Vec<f64> = (0..n)
                .map(|_| {
                    v += slope + (rng.f64() - 0.5) * noise;
                    match rng.u32(0..200) {
                        0 => v -= rng.f64() * 40.0, // a cleanup (or a small dip)
                        1 => return f64::NAN,
                        2 => return f64::INFINITY,
                        _ => {}
                    }
                    v
                })
                .collect();
            let s = series(n, step, |i| vals[i]);
            // `now` at, before (a clock that went back) or after the last sample.
            let now = now() + chrono::Duration::seconds(rng.i64(-7200..7200));
            let want = reference_fit(&s, now);
            kinds[match want {
                Forecast::TooFew { .. } => 0,
                Forecast::NotFilling => 1,
                Forecast::Full { .. } => 2,
            }] += 1;
            assert_eq!(fit(&s, now), want, "case {case}: {s:?}");
        }
        // The cases reach every answer, each many times.
        assert!(kinds.iter().all(|k| *k > 100), "{kinds:?}");
    }

    #[test]
    fn judge_warns_only_within_the_horizon() {
        let h = Duration::from_secs(14 * 86400);
        let nine = Forecast::Full {
            within: Duration::from_secs(9 * 86400 + 3600),
            percent_per_day: 1.0,
        };
        let o = judge("/", &nine, h);
        assert_eq!(o.status, Status::Warn);
        assert_eq!(o.message, "disk /: full in ~9 days (+1.0%/day)");
        assert_eq!(o.key(), "forecast:/");
        let far = Forecast::Full {
            within: Duration::from_secs(40 * 86400),
            percent_per_day: 0.2,
        };
        assert_eq!(judge("/", &far, h).status, Status::Ok);
        assert_eq!(judge("/", &Forecast::NotFilling, h).status, Status::Ok);
        let soon = Forecast::Full {
            within: Duration::from_secs(5 * 3600),
            percent_per_day: 30.0,
        };
        assert_eq!(
            judge("/var", &soon, h).message,
            "disk /var: full in ~5h (+30.0%/day)"
        );
    }
}
