//! CPU: usage averaged since the previous check, from the kernel's cumulative
//! counters kept in the state database (no sleep on the normal path; the first
//! run, or one after a reboot, samples for a moment), and load average per core.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Context, Metric, Observation, Outcome, Status, Unit};

/// How long the fallback sample lasts when there is no usable previous reading.
pub const SAMPLE: Duration = Duration::from_millis(200);

/// Previous counters older than this are not averaged over (a long gap says
/// little about now).
const MAX_AGE: Duration = Duration::from_secs(3600);

/// Counters younger than this are kept rather than replaced, so checks in
/// quick succession (a person, a benchmark) still average over a useful window.
const REFRESH_AFTER: Duration = Duration::from_secs(60);

/// Fewer jiffies than this between readings (half a second of one core at
/// USER_HZ=100) make too coarse an average; sample instead.
const MIN_JIFFIES: u64 = 50;

/// Cumulative jiffies from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counters {
    pub total: u64,
    pub idle: u64,
    pub at: DateTime<Utc>,
}

impl Counters {
    /// The `kv` form: `total idle unix_seconds`.
    pub fn encode(&self) -> String {
        format!("{} {} {}", self.total, self.idle, self.at.timestamp())
    }

    pub fn decode(s: &str) -> Option<Counters> {
        let mut it = s.split_whitespace().map(|x| x.parse::<i64>().ok());
        let (total, idle, at) = (it.next()??, it.next()??, it.next()??);
        Some(Counters {
            total: u64::try_from(total).ok()?,
            idle: u64::try_from(idle).ok()?,
            at: DateTime::from_timestamp(at, 0)?,
        })
    }
}

/// Parses `/proc/stat`: aggregate (total, idle+iowait) and the number of CPUs.
pub fn parse_stat(text: &str) -> Option<(u64, u64, usize)> {
    let mut lines = text.lines();
    let first = lines.next()?;
    let mut f = first.split_whitespace();
    if f.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = f.map(|x| x.parse().ok()).collect::<Option<_>>()?;
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already counted in user/nice.
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    let cpus = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count()
        .max(1);
    Some((total, idle, cpus))
}

/// Parses the 1-minute load average from `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Percent busy between two counter readings; `None` if they do not advance.
pub fn usage(prev: (u64, u64), now: (u64, u64)) -> Option<f64> {
    usage_over(prev, now, MIN_JIFFIES)
}

/// Percent busy over the fallback sample. A 200 ms sample holds only
/// 20 jiffies per core (40 on two cores), below `MIN_JIFFIES`: it is coarse
/// by design (and labelled so), so any advance will do.
pub fn sample_usage(prev: (u64, u64), now: (u64, u64)) -> Option<f64> {
    usage_over(prev, now, 1)
}

fn usage_over(prev: (u64, u64), now: (u64, u64), min_jiffies: u64) -> Option<f64> {
    let dt = now.0.checked_sub(prev.0)?;
    let di = now.1.checked_sub(prev.1)?;
    if dt < min_jiffies || di > dt {
        return None;
    }
    Some(100.0 * (dt - di) as f64 / dt as f64)
}

fn read_stat(root: &Path) -> Result<(u64, u64, usize), String> {
    let p = root.join("stat");
    let text =
        std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    parse_stat(&text).ok_or_else(|| format!("cannot parse {}", p.display()))
}

pub fn probe(ctx: &Context<'_>) -> Outcome {
    let th = &ctx.config.check.thresholds;
    let (total, idle, cpus) = match read_stat(&ctx.proc_root) {
        Ok(v) => v,
        Err(e) => return Observation::new("cpu", Status::Unknown, e).into(),
    };
    let fresh = ctx.prior().cpu.filter(|p| {
        (ctx.now - p.at)
            .to_std()
            .is_ok_and(|age| age <= MAX_AGE && !age.is_zero())
    });
    // Recent counters that still count up are kept, not replaced, so that a
    // check soon after another averages over a growing window instead of
    // sampling again and again.
    let keep_prev = fresh.is_some_and(|p| {
        total >= p.total
            && (ctx.now - p.at)
                .to_std()
                .is_ok_and(|age| age < REFRESH_AFTER)
    });
    let (pct, note) = match fresh.and_then(|p| usage((p.total, p.idle), (total, idle))) {
        Some(u) => (Some(u), ""),
        None => {
            std::thread::sleep(SAMPLE);
            match read_stat(&ctx.proc_root) {
                Ok((t2, i2, _)) => (sample_usage((total, idle), (t2, i2)), " (short sample)"),
                Err(_) => (None, ""),
            }
        }
    };
    let load = std::fs::read_to_string(ctx.proc_root.join("loadavg"))
        .ok()
        .and_then(|t| parse_loadavg(&t));
    let mut obs = Observation::new("cpu", Status::Ok, "");
    let mut parts = Vec::new();
    if let Some(p) = pct {
        obs.status = obs.status.worst(Status::of(p, th.cpu));
        parts.push(format!("{p:.0}% used{note}"));
        obs = obs.metric(Metric::new("usage", p, Unit::Percent).thresholds(th.cpu));
    }
    if let Some(l) = load {
        let per_core = l / cpus as f64;
        obs.status = obs.status.worst(Status::of(per_core, th.load_per_core));
        parts.push(format!("load {l:.2} on {cpus} cores ({per_core:.2}/core)"));
        obs = obs
            .metric(Metric::new("load1", l, Unit::None).min0())
            .metric(
                Metric::new("load_per_core", per_core, Unit::None)
                    .min0()
                    .thresholds(th.load_per_core),
            );
    }
    if parts.is_empty() {
        obs.status = Status::Unknown;
        parts.push("no CPU figures could be read".into());
    }
    obs.message = parts.join(", ");
    let now = Counters {
        total,
        idle,
        at: ctx.now,
    };
    let mut samples = Vec::new();
    if let Some(l) = load {
        samples.push(("load_per_core".to_string(), l / cpus as f64));
    }
    if let Some(p) = pct {
        samples.push(("cpu".to_string(), p));
    }
    Outcome {
        observations: vec![obs],
        carry: super::Carry {
            cpu: if keep_prev { None } else { Some(now) },
            samples,
            ..Default::default()
        },
    }
}

impl Metric {
    /// A metric that cannot be negative.
    pub fn min0(mut self) -> Metric {
        self.min = Some(0.0);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  4705 150 1120 16250 520 0 25 0 0 0\ncpu0 2300 75 560 8125 260 0 12 0 0 0\ncpu1 2405 75 560 8125 260 0 13 0 0 0\nintr 12345\n";

    #[test]
    fn parses_proc_stat() {
        let (total, idle, cpus) = parse_stat(STAT).unwrap();
        assert_eq!(total, 4705 + 150 + 1120 + 16250 + 520 + 25);
        assert_eq!(idle, 16250 + 520);
        assert_eq!(cpus, 2);
        assert_eq!(parse_stat("intr 1\n"), None);
        assert_eq!(parse_stat("cpu 1 2\n"), None);
    }

    #[test]
    fn usage_between_readings() {
        assert_eq!(usage((1000, 800), (2000, 1300)), Some(50.0));
        assert_eq!(usage((1000, 800), (1000, 800)), None);
        assert_eq!(usage((1000, 800), (1010, 805)), None, "too few jiffies");
        // Counters went back: a reboot since the previous check.
        assert_eq!(usage((5000, 800), (1000, 300)), None);
    }

    #[test]
    fn short_sample_on_two_cores_gives_usage() {
        // 200 ms on 2 cores at USER_HZ=100: 40 jiffies, 10 of them busy.
        assert_eq!(sample_usage((1000, 800), (1040, 830)), Some(25.0));
        assert_eq!(sample_usage((1000, 800), (1000, 800)), None);
        assert_eq!(sample_usage((5000, 800), (1000, 300)), None);
    }

    #[test]
    fn loadavg_and_counter_encoding() {
        assert_eq!(parse_loadavg("0.52 0.58 0.59 1/467 12345\n"), Some(0.52));
        let c = Counters {
            total: 10,
            idle: 5,
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        };
        assert_eq!(Counters::decode(&c.encode()), Some(c));
        assert_eq!(Counters::decode("garbage"), None);
    }
}
