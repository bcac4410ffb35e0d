//! Memory: used percent of RAM, as `MemTotal - MemAvailable` (what the kernel
//! could not hand out without swapping), from `/proc/meminfo`.

use super::{Context, Metric, Observation, Outcome, Status, Unit};
use crate::text::human_bytes;

/// `(MemTotal, MemAvailable)` in bytes.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    let total = field("MemTotal")?;
    let avail = field("MemAvailable").or_else(|| {
        // Kernels before 3.14 lack MemAvailable.
        Some(field("MemFree")? + field("Buffers").unwrap_or(0) + field("Cached").unwrap_or(0))
    })?;
    (total > 0).then_some((total, avail.min(total)))
}

pub fn probe(ctx: &Context<'_>) -> Outcome {
    let t = ctx.config.check.thresholds.memory;
    let p = ctx.proc_root.join("meminfo");
    let parsed = std::fs::read_to_string(&p)
        .map_err(|e| format!("cannot read {}: {e}", p.display()))
        .and_then(|s| parse_meminfo(&s).ok_or_else(|| format!("cannot parse {}", p.display())));
    let (total, avail) = match parsed {
        Ok(v) => v,
        Err(e) => return Observation::new("memory", Status::Unknown, e).into(),
    };
    let used = total - avail;
    let pct = 100.0 * used as f64 / total as f64;
    let obs = Observation::new(
        "memory",
        Status::of(pct, t),
        format!(
            "{pct:.0}% used ({} of {})",
            human_bytes(used as f64),
            human_bytes(total as f64)
        ),
    )
    .metric(Metric::new("used", pct, Unit::Percent).thresholds(t))
    .metric(Metric::new("available", avail as f64, Unit::Bytes));
    Outcome {
        observations: vec![obs],
        carry: super::Carry {
            samples: vec![("memory".into(), pct)],
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo() {
        let t = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\nBuffers: 1 kB\n";
        assert_eq!(
            parse_meminfo(t),
            Some((16_000_000 * 1024, 4_000_000 * 1024))
        );
        let old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n";
        assert_eq!(parse_meminfo(old), Some((1000 * 1024, 400 * 1024)));
        assert_eq!(parse_meminfo("nonsense"), None);
        assert_eq!(parse_meminfo("MemTotal: 0 kB\nMemAvailable: 0 kB\n"), None);
    }
}
