//! Disk: used percent and free bytes of each filesystem that holds the
//! database, the backups, the alerts log or the state; one row per filesystem,
//! named by its mount point.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Context, Metric, Observation, Outcome, Status, Unit};
use crate::text::human_bytes;

/// Mount points from `/proc/self/mountinfo` (field 5), unescaped.
pub fn parse_mountinfo(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_octal(m)))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\NNN`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The longest mount point that contains `path`.
pub fn mount_point_of(path: &Path, mounts: &[PathBuf]) -> Option<PathBuf> {
    mounts
        .iter()
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .cloned()
}

/// The path itself, or its nearest ancestor that exists (a database not yet
/// created still lives on some filesystem).
fn existing(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|p| p.exists())
        .and_then(|p| p.canonicalize().ok())
}

/// df's figure: used / (used + available to unprivileged users), in percent.
pub fn used_percent(total: u64, free: u64, avail: u64) -> f64 {
    let used = total.saturating_sub(free);
    let denom = used + avail;
    if denom == 0 {
        0.0
    } else {
        100.0 * used as f64 / denom as f64
    }
}

pub fn probe(ctx: &Context<'_>) -> Outcome {
    let t = ctx.config.check.thresholds.disk;
    let p = &ctx.config.paths;
    let mounts = std::fs::read_to_string(ctx.proc_root.join("self/mountinfo"))
        .map(|s| parse_mountinfo(&s))
        .unwrap_or_default();
    // (device, representative path, mount point, what it holds)
    let mut fss: Vec<(u64, PathBuf, String, Vec<&str>)> = Vec::new();
    let mut out = Outcome::default();
    for (what, path) in [
        ("database", &p.database),
        ("backups", &p.backups),
        ("alerts log", &p.alerts_log),
        ("state", &p.state),
    ] {
        let Some(e) = existing(path) else { continue };
        let Ok(md) = std::fs::metadata(&e) else {
            continue;
        };
        match fss.iter_mut().find(|f| f.0 == md.dev()) {
            Some(f) => f.3.push(what),
            None => {
                let mp = mount_point_of(&e, &mounts)
                    .map(|m| m.display().to_string())
                    .unwrap_or_else(|| format!("dev {}", md.dev()));
                fss.push((md.dev(), e, mp, vec![what]));
            }
        }
    }
    if fss.is_empty() {
        return Observation::new(
            "disk",
            Status::Unknown,
            "no configured path exists on any filesystem",
        )
        .into();
    }
    for (_, path, mp, holds) in fss {
        let stats = fs2::total_space(&path)
            .and_then(|total| Ok((total, fs2::free_space(&path)?, fs2::available_space(&path)?)));
        let obs = match stats {
            Ok((total, free, avail)) => {
                let pct = used_percent(total, free, avail);
                out.carry.samples.push((format!("disk:{mp}"), pct));
                Observation::new(
                    "disk",
                    Status::of(pct, t),
                    format!(
                        "{pct:.0}% used, {} free (holds {})",
                        human_bytes(avail as f64),
                        holds.join(", ")
                    ),
                )
                .metric(Metric::new("used", pct, Unit::Percent).thresholds(t))
                .metric(Metric::new("free", avail as f64, Unit::Bytes))
                .metric(Metric::new("size", total as f64, Unit::Bytes))
            }
            Err(e) => Observation::new(
                "disk",
                Status::Unknown,
                format!("cannot stat filesystem of {}: {e}", path.display()),
            ),
        };
        out.observations.push(obs.target(mp));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_and_longest_prefix() {
        let mi = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
                  30 22 8:2 / /var rw - ext4 /dev/sda2 rw\n\
                  31 22 0:40 / /mnt/my\\040disk rw - ext4 /dev/sdb rw\n";
        let m = parse_mountinfo(mi);
        assert_eq!(
            m,
            vec![
                PathBuf::from("/"),
                PathBuf::from("/var"),
                PathBuf::from("/mnt/my disk")
            ]
        );
        assert_eq!(
            mount_point_of(Path::new("/var/lib/x.db"), &m),
            Some(PathBuf::from("/var"))
        );
        assert_eq!(
            mount_point_of(Path::new("/variable"), &m),
            Some(PathBuf::from("/"))
        );
        assert_eq!(
            mount_point_of(Path::new("/mnt/my disk/b"), &m),
            Some(PathBuf::from("/mnt/my disk"))
        );
    }

    #[test]
    fn used_percent_like_df() {
        // 100 blocks, 10 free, 5 of them reserved for root.
        assert!((used_percent(100, 10, 5) - 94.736).abs() < 0.01);
        assert_eq!(used_percent(0, 0, 0), 0.0);
    }
}
