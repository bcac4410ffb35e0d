//! `grokmon units verify` and the checks behind it: what systemd really
//! enforces for `service.unit` (start limits, restart policy, stop timeout,
//! resource limits, watchdog) compared with what the shipped units promise.
//! `verify_findings` is pure; the service probe uses it too (this file, not
//! the installer).

use std::path::Path;

use super::{Systemctl, SystemctlError};
use crate::{Ctx, exit};

/// The properties and rules moved to `systemd::rules` (rules that fit the
/// unit, the v1 cgroup truth, the watchdog before the first start).
pub use super::rules::{
    EXPECT_START_LIMIT_BURST, EXPECT_START_LIMIT_INTERVAL, EXPECT_TIMEOUT_STOP, Finding,
    PROPS as VERIFY_PROPS,
};

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
    let seen = super::rules::gather(&props, &ctx.roots.cgroup, &ctx.roots.proc);
    let findings = super::rules::findings(&props, &seen);
    let orchestrator = super::unitfile::runs_orchestrator(props.get("ExecStart").map_or("", |s| s));
    let mut out = format!(
        "{unit} ({}{})\n",
        cfg.service.scope.as_str(),
        props
            .get("FragmentPath")
            .filter(|p| !p.is_empty())
            .map(|p| format!(", {}", crate::text::sanitize(p)))
            .unwrap_or_default()
    );
    let rules = if orchestrator {
        "rules for grokmon's orchestrator"
    } else {
        "rules for any service: no watchdog, exit-78 or limit values demanded, as it does not run `grokmon run`"
    };
    out.push_str(&format!("judged by the {rules}\n"));
    if findings.is_empty() {
        let g = |k: &str| crate::text::sanitize(props.get(k).map_or("", |s| s));
        out.push_str(&format!(
            "ok: every protection is in force: StartLimitBurst={} in {}, Restart={}, RestartPreventExitStatus={}, TimeoutStopSec={}, MemoryMax={}, CPUQuota per second {}, WatchdogSec={}\n",
            g("StartLimitBurst"),
            g("StartLimitIntervalUSec"),
            g("Restart"),
            g("RestartPreventExitStatus"),
            g("TimeoutStopUSec"),
            g("MemoryMax"),
            g("CPUQuotaPerSecUSec"),
            match &seen.watchdog_configured {
                Some(Ok(Some(d))) => format!("{} (from the unit files: not running)", crate::text::human_duration(*d)),
                _ => g("WatchdogUSec"),
            },
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
