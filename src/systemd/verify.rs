//! `grokmon units verify` and the checks behind it: what systemd really
//! enforces for `service.unit` (start limits, restart policy, stop timeout,
//! resource limits, watchdog) compared with what the shipped units promise.
//! `verify_findings` is pure; the service probe uses it too (this file, not
//! the installer).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::{Systemctl, SystemctlError};
use crate::{Ctx, exit};

/// The `systemctl show` properties `verify_findings` reads.
pub const VERIFY_PROPS: &[&str] = &[
    "LoadState",
    "FragmentPath",
    "StartLimitBurst",
    "StartLimitIntervalUSec",
    "Restart",
    "RestartPreventExitStatus",
    "TimeoutStopUSec",
    "MemoryMax",
    "CPUQuotaPerSecUSec",
    "WatchdogUSec",
    "ControlGroup",
];

/// What the shipped unit sets.
pub const EXPECT_START_LIMIT_BURST: u32 = 5;
pub const EXPECT_START_LIMIT_INTERVAL: Duration = Duration::from_secs(600);
pub const EXPECT_TIMEOUT_STOP: Duration = Duration::from_secs(15);

/// A protection that is not in force, with its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The unit setting concerned (`StartLimitIntervalSec`, `MemoryMax`, …).
    pub setting: &'static str,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; fix: {}", self.setting, self.problem, self.fix)
    }
}

/// A `systemctl show` time span (`10min`, `1min 30s`, `500ms`, `0`);
/// `Ok(None)` for `infinity`.
fn span(v: &str) -> Result<Option<Duration>, ()> {
    match v.trim() {
        "infinity" => Ok(None),
        "0" => Ok(Some(Duration::ZERO)),
        s => humantime::parse_duration(s).map(Some).map_err(|_| ()),
    }
}

/// Whether a controller is listed in a `cgroup.controllers` text.
fn has_controller(text: &str, name: &str) -> bool {
    text.split_whitespace().any(|c| c == name)
}

const REINSTALL: &str =
    "re-run `grokmon units install`, or set it in a drop-in (`systemctl edit`), then daemon-reload";

/// Checks that the protections of the shipped unit are really in force
/// (pure): `props` from `systemctl show UNIT -p VERIFY_PROPS`, `controllers`
/// the unit's (or the root's) `cgroup.controllers`, `None` when unreadable.
/// Returns only the problems; empty means every protection is in force.
pub fn verify_findings(
    props: &BTreeMap<String, String>,
    controllers: Option<&str>,
) -> Vec<Finding> {
    let get = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
    let mut out = Vec::new();
    if get("LoadState") == "not-found" {
        out.push(Finding {
            setting: "unit",
            problem: "not installed".into(),
            fix: "grokmon units install".into(),
        });
        return out;
    }
    let burst: Option<u32> = get("StartLimitBurst").parse().ok();
    let interval = span(get("StartLimitIntervalUSec")).ok().flatten();
    if interval != Some(EXPECT_START_LIMIT_INTERVAL) {
        let shown = get("StartLimitIntervalUSec");
        let problem = if interval == Some(Duration::from_secs(10)) {
            "is 10s, systemd's default, not 600s: a StartLimit* line under [Service] is silently ignored by systemd, so a crash loop is stopped only after 5 crashes in 10 seconds, i.e. practically never".to_string()
        } else {
            format!("is {shown:?}, expected 600s (at most 5 automatic restarts in 10 minutes)")
        };
        out.push(Finding {
            setting: "StartLimitIntervalSec",
            problem,
            fix: format!(
                "put StartLimitIntervalSec=600 and StartLimitBurst=5 under [Unit]; {REINSTALL}"
            ),
        });
    }
    if burst != Some(EXPECT_START_LIMIT_BURST) {
        out.push(Finding {
            setting: "StartLimitBurst",
            problem: format!(
                "is {:?}, expected {EXPECT_START_LIMIT_BURST}",
                get("StartLimitBurst")
            ),
            fix: format!("StartLimitBurst=5 under [Unit]; {REINSTALL}"),
        });
    }
    match get("Restart") {
        "on-failure" => {}
        other => out.push(Finding {
            setting: "Restart",
            problem: match other {
                "no" | "" => "is \"no\": a real crash leaves the service down".into(),
                "always" => "is \"always\": a clean stop or a configuration error restarts it too (a restart loop)".into(),
                o => format!("is {:?}, expected on-failure", crate::text::sanitize(o)),
            },
            fix: format!("Restart=on-failure under [Service]; {REINSTALL}"),
        }),
    }
    if !get("RestartPreventExitStatus")
        .split_whitespace()
        .any(|s| s == "78")
    {
        out.push(Finding {
            setting: "RestartPreventExitStatus",
            problem: "does not include 78: a configuration error (exit 78) is restarted in a loop"
                .into(),
            fix: format!("RestartPreventExitStatus=78 under [Service]; {REINSTALL}"),
        });
    }
    match span(get("TimeoutStopUSec")) {
        Ok(Some(d)) if d >= EXPECT_TIMEOUT_STOP => {}
        Ok(None) => out.push(Finding {
            setting: "TimeoutStopSec",
            problem: "is infinity: a hung shutdown blocks every stop and restart".into(),
            fix: format!("TimeoutStopSec=15 under [Service]; {REINSTALL}"),
        }),
        Ok(Some(d)) => out.push(Finding {
            setting: "TimeoutStopSec",
            problem: format!(
                "is {}: systemd kills the service before its 15s shutdown (store flush) can finish",
                crate::text::exact_duration(d)
            ),
            fix: format!("TimeoutStopSec=15 under [Service]; {REINSTALL}"),
        }),
        Err(()) => out.push(Finding {
            setting: "TimeoutStopSec",
            problem: format!("unreadable value {:?}", get("TimeoutStopUSec")),
            fix: format!("TimeoutStopSec=15 under [Service]; {REINSTALL}"),
        }),
    }
    let mem_limited = get("MemoryMax").parse::<u64>().is_ok();
    if !mem_limited {
        out.push(Finding {
            setting: "MemoryMax",
            problem: "is not set: a leak can take the whole machine down with it".into(),
            fix: format!("MemoryMax=500M under [Service]; {REINSTALL}"),
        });
    }
    let cpu_limited = matches!(span(get("CPUQuotaPerSecUSec")), Ok(Some(d)) if !d.is_zero());
    if !cpu_limited {
        out.push(Finding {
            setting: "CPUQuota",
            problem: "is not set: a runaway loop can starve the machine".into(),
            fix: format!("CPUQuota=200% under [Service]; {REINSTALL}"),
        });
    }
    match controllers {
        Some(text) => {
            if mem_limited && !has_controller(text, "memory") {
                out.push(Finding {
                    setting: "MemoryMax",
                    problem: "is set, but the memory cgroup controller is not enabled here, so the limit does nothing".into(),
                    fix: "on Raspberry Pi OS add `cgroup_enable=memory cgroup_memory=1` to /boot/firmware/cmdline.txt and reboot; for a user service the memory controller must also be delegated to user@.service (`systemctl edit user@.service`: [Service] Delegate=memory cpu pids)".into(),
                });
            }
            if cpu_limited && !has_controller(text, "cpu") {
                out.push(Finding {
                    setting: "CPUQuota",
                    problem: "is set, but the cpu cgroup controller is not enabled here, so the quota does nothing".into(),
                    fix: "for a user service delegate the cpu controller to user@.service (`systemctl edit user@.service`: [Service] Delegate=memory cpu pids)".into(),
                });
            }
        }
        None if mem_limited || cpu_limited => out.push(Finding {
            setting: "MemoryMax",
            problem: "cannot read cgroup.controllers, so whether MemoryMax and CPUQuota are enforced cannot be told".into(),
            fix: "check that /sys/fs/cgroup is a cgroup v2 mount (`stat -fc %T /sys/fs/cgroup` says cgroup2fs)".into(),
        }),
        None => {}
    }
    match span(get("WatchdogUSec")) {
        Ok(Some(d)) if !d.is_zero() => {}
        _ => out.push(Finding {
            setting: "WatchdogSec",
            problem: "is off: a hung orchestrator (alive but stuck) is never noticed by systemd"
                .into(),
            fix: format!("WatchdogSec=60 under [Service]; {REINSTALL}"),
        }),
    }
    out
}

/// Reads the controllers in force for a unit's cgroup (`ControlGroup`),
/// falling back to the root's when the unit has none (not running).
pub fn read_controllers(cgroup_root: &Path, control_group: &str) -> Option<String> {
    let cg = control_group.trim().trim_start_matches('/');
    if !cg.is_empty()
        && let Ok(t) = std::fs::read_to_string(cgroup_root.join(cg).join("cgroup.controllers"))
    {
        return Some(t);
    }
    std::fs::read_to_string(cgroup_root.join("cgroup.controllers")).ok()
}

pub fn run(ctx: &Ctx) -> anyhow::Result<u8> {
    let cfg = &ctx.config;
    let unit = &cfg.service.unit;
    let sc = Systemctl::new(cfg.service.scope);
    let props = match sc.show(unit, VERIFY_PROPS) {
        Ok(p) => p,
        Err(SystemctlError::Unavailable(why)) => {
            anyhow::bail!(
                "cannot verify {unit}: {why}; on a host without systemd see `grokmon cron`"
            )
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot verify {unit}"))),
    };
    let controllers = read_controllers(
        &ctx.roots.cgroup,
        props.get("ControlGroup").map_or("", |s| s),
    );
    let findings = verify_findings(&props, controllers.as_deref());
    let mut out = format!(
        "{unit} ({}{})\n",
        cfg.service.scope.as_str(),
        props
            .get("FragmentPath")
            .filter(|p| !p.is_empty())
            .map(|p| format!(", {}", crate::text::sanitize(p)))
            .unwrap_or_default()
    );
    if findings.is_empty() {
        let g = |k: &str| crate::text::sanitize(props.get(k).map_or("", |s| s));
        out.push_str(&format!(
            "ok: every protection is in force: StartLimitBurst={} in {}, Restart={}, RestartPreventExitStatus={}, TimeoutStopSec={}, MemoryMax={} (memory controller on), CPUQuota per second {}, WatchdogSec={}\n",
            g("StartLimitBurst"),
            g("StartLimitIntervalUSec"),
            g("Restart"),
            g("RestartPreventExitStatus"),
            g("TimeoutStopUSec"),
            g("MemoryMax"),
            g("CPUQuotaPerSecUSec"),
            g("WatchdogUSec"),
        ));
        crate::print_stdout(&out)?;
        return Ok(exit::OK);
    }
    for f in &findings {
        out.push_str(&format!("✗ {f}\n"));
    }
    out.push_str(&format!("{} protection(s) not in force\n", findings.len()));
    crate::print_stdout(&out)?;
    Ok(exit::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn good() -> BTreeMap<String, String> {
        crate::systemd::parse_show(
            "LoadState=loaded\nStartLimitBurst=5\nStartLimitIntervalUSec=10min\nRestart=on-failure\nRestartPreventExitStatus=78\nTimeoutStopUSec=15s\nMemoryMax=524288000\nCPUQuotaPerSecUSec=2s\nWatchdogUSec=1min\nControlGroup=/user.slice/grokmon.service\n",
        )
    }

    const CONTROLLERS: &str = "cpuset cpu io memory pids\n";

    #[test]
    fn verify_table() {
        assert_eq!(verify_findings(&good(), Some(CONTROLLERS)), vec![]);
        type Case = (
            &'static str,
            &'static str,
            Option<&'static str>,
            &'static str,
            &'static str,
        );
        let cases: &[Case] = &[
            // (property, value, controllers, setting flagged, text in the problem)
            (
                "StartLimitIntervalUSec",
                "10s",
                Some(CONTROLLERS),
                "StartLimitIntervalSec",
                "under [Service] is silently ignored",
            ),
            (
                "StartLimitIntervalUSec",
                "1min",
                Some(CONTROLLERS),
                "StartLimitIntervalSec",
                "expected 600s",
            ),
            (
                "StartLimitBurst",
                "10",
                Some(CONTROLLERS),
                "StartLimitBurst",
                "expected 5",
            ),
            (
                "Restart",
                "always",
                Some(CONTROLLERS),
                "Restart",
                "restart loop",
            ),
            (
                "Restart",
                "no",
                Some(CONTROLLERS),
                "Restart",
                "leaves the service down",
            ),
            (
                "RestartPreventExitStatus",
                "",
                Some(CONTROLLERS),
                "RestartPreventExitStatus",
                "78",
            ),
            (
                "TimeoutStopUSec",
                "5s",
                Some(CONTROLLERS),
                "TimeoutStopSec",
                "kills the service",
            ),
            (
                "TimeoutStopUSec",
                "infinity",
                Some(CONTROLLERS),
                "TimeoutStopSec",
                "infinity",
            ),
            (
                "MemoryMax",
                "infinity",
                Some(CONTROLLERS),
                "MemoryMax",
                "not set",
            ),
            (
                "MemoryMax",
                "524288000",
                Some("cpuset cpu io pids\n"),
                "MemoryMax",
                "memory cgroup controller is not enabled",
            ),
            (
                "MemoryMax",
                "524288000",
                None,
                "MemoryMax",
                "cannot read cgroup.controllers",
            ),
            (
                "CPUQuotaPerSecUSec",
                "infinity",
                Some(CONTROLLERS),
                "CPUQuota",
                "not set",
            ),
            (
                "CPUQuotaPerSecUSec",
                "2s",
                Some("memory pids"),
                "CPUQuota",
                "cpu cgroup controller",
            ),
            (
                "WatchdogUSec",
                "0",
                Some(CONTROLLERS),
                "WatchdogSec",
                "hung",
            ),
        ];
        for (prop, value, controllers, setting, needle) in cases {
            let mut p = good();
            p.insert(prop.to_string(), value.to_string());
            let f = verify_findings(&p, *controllers);
            assert_eq!(f.len(), 1, "{prop}={value}: {f:?}");
            assert_eq!(f[0].setting, *setting, "{prop}={value}");
            assert!(f[0].problem.contains(needle), "{prop}={value}: {}", f[0]);
            assert!(!f[0].fix.is_empty());
        }
        let mut p = good();
        p.insert("LoadState".into(), "not-found".into());
        let f = verify_findings(&p, Some(CONTROLLERS));
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.contains("grokmon units install"));
    }

    #[test]
    fn controllers_from_the_unit_cgroup_then_the_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        assert_eq!(
            read_controllers(d.path(), "/a.slice/x.service").as_deref(),
            Some("cpu memory\n")
        );
        std::fs::create_dir_all(d.path().join("a.slice/x.service")).unwrap();
        std::fs::write(
            d.path().join("a.slice/x.service/cgroup.controllers"),
            "pids\n",
        )
        .unwrap();
        assert_eq!(
            read_controllers(d.path(), "/a.slice/x.service").as_deref(),
            Some("pids\n")
        );
        assert_eq!(read_controllers(&d.path().join("none"), ""), None);
    }
}
