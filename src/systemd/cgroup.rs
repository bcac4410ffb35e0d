//! Whether a unit's `MemoryMax=`/`CPUQuota=` is really enforced, on cgroup
//! v2 (`cgroup.controllers`) and on v1/hybrid hosts (Debian 10/11 upgrades,
//! Ubuntu 20.04, many containers), where systemd applies the limits through
//! the v1 hierarchies: `memory/<unit cgroup>/memory.limit_in_bytes`,
//! `cpu/<unit cgroup>/cpu.cfs_quota_us`. Measured in a systemd 252 container
//! (hybrid layout): the v1 hierarchies are mounted read-only there, the unit
//! gets no cgroup in them, and its limits do nothing.

use std::path::Path;
use std::time::Duration;

/// What was found out about one limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// In force (how it was seen).
    Enforced(String),
    /// Set but doing nothing (why).
    NotEnforced(String),
    /// Cannot be told (why).
    Unknown(String),
}

/// A v1 controller's limit to look for.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// `MemoryMax=` in bytes.
    Memory(u64),
    /// `CPUQuota=` as CPU time per second.
    Cpu(Duration),
}

impl Limit {
    fn controller(self) -> &'static str {
        match self {
            Limit::Memory(_) => "memory",
            Limit::Cpu(_) => "cpu",
        }
    }
}

/// The `enabled` and `hierarchy` columns of `/proc/cgroups` for `name`.
fn proc_cgroups(text: &str, name: &str) -> Option<(bool, u32)> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 4 && f[0] == name).then(|| (f[3] == "1", f[1].parse().unwrap_or(0)))
    })
}

fn read_num(p: &Path) -> Option<i64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// Whether `p` is on a read-only mount.
fn read_only(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a zeroed statvfs is a valid out-parameter; `c` is a valid
    // NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    rc == 0 && (st.f_flag & libc::ST_RDONLY) != 0
}

/// Judges a limit on a host without cgroup v2 controllers (no
/// `cgroup.controllers`): `/proc/cgroups` (compiled in and enabled?), the
/// v1 hierarchy under `cgroup_root` (mounted? writable for systemd?), and,
/// while the unit runs, the limit file in its own cgroup.
pub fn v1(
    cgroup_root: &Path,
    proc_root: &Path,
    control_group: &str,
    running: bool,
    limit: Limit,
) -> Enforcement {
    let c = limit.controller();
    match std::fs::read_to_string(proc_root.join("cgroups")) {
        Ok(text) => match proc_cgroups(&text, c) {
            None => {
                return Enforcement::NotEnforced(format!(
                    "the kernel has no {c} cgroup controller (/proc/cgroups)"
                ));
            }
            Some((false, _)) => {
                return Enforcement::NotEnforced(format!(
                    "the {c} cgroup controller is disabled in this kernel (/proc/cgroups)"
                ));
            }
            Some((true, _)) => {}
        },
        Err(e) => {
            return Enforcement::Unknown(format!(
                "no cgroup v2 here and /proc/cgroups is unreadable ({e})"
            ));
        }
    }
    let hier = cgroup_root.join(c);
    if !hier.is_dir() {
        return Enforcement::NotEnforced(format!(
            "neither cgroup v2 nor a v1 {c} hierarchy ({}) is mounted",
            hier.display()
        ));
    }
    let cg = control_group.trim().trim_start_matches('/');
    if read_only(&hier) {
        return Enforcement::NotEnforced(format!(
            "cgroup v1 {c} hierarchy {} is read-only here (a container?), so systemd cannot put the unit in it",
            hier.display()
        ));
    }
    if !running || cg.is_empty() {
        return Enforcement::Enforced(format!(
            "cgroup v1 {c} controller on ({}); applied when the unit runs",
            hier.display()
        ));
    }
    let dir = hier.join(cg);
    if !dir.is_dir() {
        return Enforcement::NotEnforced(format!(
            "the running unit has no cgroup in the v1 {c} hierarchy ({})",
            dir.display()
        ));
    }
    match limit {
        Limit::Memory(want) => {
            let f = dir.join("memory.limit_in_bytes");
            match read_num(&f) {
                // The kernel rounds down to a page.
                Some(v) if v >= 0 && (v as u64) <= want && want - (v as u64) < 65536 => {
                    Enforcement::Enforced(format!("cgroup v1: {} = {v}", f.display()))
                }
                Some(v) => Enforcement::NotEnforced(format!(
                    "cgroup v1: {} is {v}, not the unit's {want}",
                    f.display()
                )),
                None => Enforcement::Unknown(format!("cannot read {}", f.display())),
            }
        }
        Limit::Cpu(want) => {
            let q = dir.join("cpu.cfs_quota_us");
            let p = dir.join("cpu.cfs_period_us");
            match (read_num(&q), read_num(&p)) {
                (Some(q), Some(p)) if q > 0 && p > 0 => {
                    let per_sec = q as f64 * 1e6 / p as f64;
                    let want_us = want.as_micros() as f64;
                    if (per_sec - want_us).abs() <= want_us * 0.01 + 1.0 {
                        Enforcement::Enforced(format!("cgroup v1: cpu.cfs_quota_us {q} per {p}us"))
                    } else {
                        Enforcement::NotEnforced(format!(
                            "cgroup v1: cpu.cfs_quota_us {q} per {p}us is not the unit's quota"
                        ))
                    }
                }
                (Some(q), Some(_)) => Enforcement::NotEnforced(format!(
                    "cgroup v1: {} is {q} (no quota)",
                    dir.join("cpu.cfs_quota_us").display()
                )),
                _ => Enforcement::Unknown(format!("cannot read {}", q.display())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC: &str = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t1\t1\nmemory\t4\t34\t1\npids\t8\t1\t1\n";

    fn world(proc_cgroups: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let proc = d.path().join("proc");
        let cg = d.path().join("cgroup");
        std::fs::create_dir_all(&proc).unwrap();
        std::fs::create_dir_all(&cg).unwrap();
        std::fs::write(proc.join("cgroups"), proc_cgroups).unwrap();
        (d, proc, cg)
    }

    const MAX: u64 = 524_288_000;

    #[test]
    fn v1_memory_limit_read_from_the_units_cgroup() {
        let (_d, proc, cg) = world(PROC);
        let unit = cg.join("memory/system.slice/grokmon.service");
        std::fs::create_dir_all(&unit).unwrap();
        std::fs::write(unit.join("memory.limit_in_bytes"), "524288000\n").unwrap();
        let e = v1(
            &cg,
            &proc,
            "/system.slice/grokmon.service",
            true,
            Limit::Memory(MAX),
        );
        assert!(
            matches!(e, Enforcement::Enforced(ref s) if s.contains("524288000")),
            "{e:?}"
        );
        // Not applied: the unit's cgroup is unlimited.
        std::fs::write(unit.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        let e = v1(
            &cg,
            &proc,
            "/system.slice/grokmon.service",
            true,
            Limit::Memory(MAX),
        );
        assert!(matches!(e, Enforcement::NotEnforced(_)), "{e:?}");
        // Running, but no cgroup of its own in the memory hierarchy.
        let e = v1(
            &cg,
            &proc,
            "/system.slice/other.service",
            true,
            Limit::Memory(MAX),
        );
        assert!(
            matches!(e, Enforcement::NotEnforced(ref s) if s.contains("has no cgroup")),
            "{e:?}"
        );
        // Not running: the controller is on, the limit applies at start.
        let e = v1(&cg, &proc, "", false, Limit::Memory(MAX));
        assert!(
            matches!(e, Enforcement::Enforced(ref s) if s.contains("when the unit runs")),
            "{e:?}"
        );
    }

    #[test]
    fn v1_controller_disabled_or_missing() {
        let (_d, proc, cg) =
            world("#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t1\t0\n");
        let e = v1(&cg, &proc, "/a.service", true, Limit::Memory(MAX));
        assert!(
            matches!(e, Enforcement::NotEnforced(ref s) if s.contains("disabled")),
            "{e:?}"
        );
        let (_d, proc, cg) = world("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t1\t1\n");
        let e = v1(&cg, &proc, "/a.service", true, Limit::Memory(MAX));
        assert!(
            matches!(e, Enforcement::NotEnforced(ref s) if s.contains("no memory")),
            "{e:?}"
        );
        // Enabled, but no hierarchy mounted.
        let (_d, proc, cg) = world(PROC);
        let e = v1(&cg, &proc, "/a.service", true, Limit::Memory(MAX));
        assert!(
            matches!(e, Enforcement::NotEnforced(ref s) if s.contains("mounted")),
            "{e:?}"
        );
        let e = v1(
            &cg,
            &proc.join("nope"),
            "/a.service",
            true,
            Limit::Memory(MAX),
        );
        assert!(matches!(e, Enforcement::Unknown(_)), "{e:?}");
    }

    #[test]
    fn v1_cpu_quota() {
        let (_d, proc, cg) = world(PROC);
        let unit = cg.join("cpu/system.slice/grokmon.service");
        std::fs::create_dir_all(&unit).unwrap();
        std::fs::write(unit.join("cpu.cfs_quota_us"), "200000\n").unwrap();
        std::fs::write(unit.join("cpu.cfs_period_us"), "100000\n").unwrap();
        let two = Limit::Cpu(Duration::from_secs(2));
        let e = v1(&cg, &proc, "/system.slice/grokmon.service", true, two);
        assert!(matches!(e, Enforcement::Enforced(_)), "{e:?}");
        std::fs::write(unit.join("cpu.cfs_quota_us"), "-1\n").unwrap();
        let e = v1(&cg, &proc, "/system.slice/grokmon.service", true, two);
        assert!(
            matches!(e, Enforcement::NotEnforced(ref s) if s.contains("no quota")),
            "{e:?}"
        );
    }
}
