//! The protections a unit is held to, judged from what systemd really
//! enforces (measured under systemd 252), by rules that fit the unit:
//!
//! - every service: a start limit that can trip, `Restart=on-failure`, a stop
//!   timeout, and whatever resource limits it sets actually enforced;
//! - grokmon's own orchestrator (a unit that runs `grokmon … run`) also: the
//!   shipped values, `MemoryMax=`/`CPUQuota=` set, `WatchdogSec=` (it pings
//!   the watchdog; a plain app would be killed every 60 s) and
//!   `RestartPreventExitStatus=78` (its exit code for a configuration error).
//!
//! Before a unit's first start systemd reports `WatchdogUSec=infinity`, so
//! the watchdog is read from the unit files then. Without cgroup v2
//! controllers (v1/hybrid hosts) the limits are read from the v1
//! hierarchies (`systemd::cgroup`). `findings` is pure; `gather` reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::cgroup::{self, Enforcement, Limit};
use super::unitfile;

/// The `systemctl show` properties the rules read.
pub const PROPS: &[&str] = &[
    "LoadState",
    "ActiveState",
    "FragmentPath",
    "DropInPaths",
    "ExecStart",
    "StartLimitBurst",
    "StartLimitIntervalUSec",
    "Restart",
    "RestartUSec",
    "RestartPreventExitStatus",
    "TimeoutStopUSec",
    "MemoryMax",
    "CPUQuotaPerSecUSec",
    "WatchdogUSec",
    "ControlGroup",
];

/// What the shipped orchestrator unit sets.
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

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}; fix: {}", self.setting, self.problem, self.fix)
    }
}

/// What was read besides `systemctl show`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// cgroup v2: the unit's (or the root's) `cgroup.controllers`.
    pub controllers: Option<String>,
    /// cgroup v1/hybrid (no v2 controllers): the memory limit's truth.
    pub memory_v1: Option<Enforcement>,
    /// cgroup v1/hybrid: the CPU quota's truth.
    pub cpu_v1: Option<Enforcement>,
    /// `WatchdogSec=` from the unit files, read while the unit is not
    /// running: `Ok(None)` when off, `Err` when the files are unreadable.
    pub watchdog_configured: Option<Result<Option<Duration>, String>>,
}

fn get<'a>(props: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    props.get(k).map(String::as_str).unwrap_or("")
}

/// Whether the unit runs now (its cgroup and its watchdog are live).
pub fn running(props: &BTreeMap<String, String>) -> bool {
    matches!(
        get(props, "ActiveState"),
        "active" | "activating" | "deactivating" | "reloading"
    )
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

fn show_span(d: Duration) -> String {
    crate::text::human_duration(d)
}

fn has_controller(text: &str, name: &str) -> bool {
    text.split_whitespace().any(|c| c == name)
}

/// Reads what the rules need besides `props`: the cgroup controllers (v2,
/// else the v1 truth) and, while the unit is not running, its configured
/// `WatchdogSec=`.
pub fn gather(props: &BTreeMap<String, String>, cgroup_root: &Path, proc_root: &Path) -> Seen {
    let cg = get(props, "ControlGroup");
    let controllers = super::units::read_controllers(cgroup_root, cg);
    let run = running(props);
    let mut seen = Seen {
        controllers,
        ..Seen::default()
    };
    if seen.controllers.is_none() {
        if let Ok(max) = get(props, "MemoryMax").parse::<u64>() {
            seen.memory_v1 = Some(cgroup::v1(
                cgroup_root,
                proc_root,
                cg,
                run,
                Limit::Memory(max),
            ));
        }
        if let Ok(Some(q)) = span(get(props, "CPUQuotaPerSecUSec"))
            && !q.is_zero()
        {
            seen.cpu_v1 = Some(cgroup::v1(cgroup_root, proc_root, cg, run, Limit::Cpu(q)));
        }
    }
    if !run {
        seen.watchdog_configured = Some(
            unitfile::read_unit(get(props, "FragmentPath"), get(props, "DropInPaths")).map(
                |texts| {
                    unitfile::configured(&texts, "Service", "WatchdogSec")
                        .and_then(|v| unitfile::timespan(&v))
                        .filter(|d| !d.is_zero())
                },
            ),
        );
    }
    seen
}

const REINSTALL: &str =
    "re-run `grokmon units install`, or set it in a drop-in (`systemctl edit`), then daemon-reload";

/// The protections not in force for the unit in `props` (pure). Empty means
/// every protection that fits the unit is in force.
pub fn findings(props: &BTreeMap<String, String>, seen: &Seen) -> Vec<Finding> {
    let get = |k: &str| get(props, k);
    let mut out = Vec::new();
    if get("LoadState") == "not-found" {
        out.push(Finding {
            setting: "unit",
            problem: "not installed".into(),
            fix: "grokmon units install".into(),
        });
        return out;
    }
    let ours = unitfile::runs_orchestrator(get("ExecStart"));
    let fix_unit = if ours {
        REINSTALL.to_string()
    } else {
        "set it in a drop-in (`systemctl edit UNIT`), then daemon-reload".to_string()
    };

    // The start limit: in force, and able to trip.
    let burst: Option<u32> = get("StartLimitBurst").parse().ok();
    let interval = span(get("StartLimitIntervalUSec")).ok().flatten();
    let restart_sec = span(get("RestartUSec")).ok().flatten();
    let legacy = "on systemd 252 `StartLimitIntervalSec=` under [Service] is rejected (\"Unknown key … ignoring\" in the journal at daemon-reload), while `StartLimitBurst=` and the legacy `StartLimitInterval=` are accepted there as aliases";
    match (burst, interval) {
        (Some(0), _) | (_, Some(Duration::ZERO)) => out.push(Finding {
            setting: "StartLimitIntervalSec",
            problem: "is off (burst or interval 0): systemd restarts a crash loop forever".into(),
            fix: format!(
                "StartLimitIntervalSec=600 and StartLimitBurst=5 under [Unit]; {fix_unit}"
            ),
        }),
        (Some(b), Some(i)) => {
            // The (b+1)-th start comes b restart delays after the first.
            let can_trip = restart_sec.is_none_or(|r| r * b < i);
            if ours && i != EXPECT_START_LIMIT_INTERVAL {
                let problem = if i == Duration::from_secs(10) {
                    format!(
                        "is 10s, systemd's default, not 600s: {legacy}; with restarts 30s apart, 5 starts never fit in 10s, so a crash loop is never stopped"
                    )
                } else {
                    format!(
                        "is {}, expected 600s (at most 5 automatic restarts in 10 minutes)",
                        show_span(i)
                    )
                };
                out.push(Finding {
                    setting: "StartLimitIntervalSec",
                    problem,
                    fix: format!(
                        "put StartLimitIntervalSec=600 and StartLimitBurst=5 under [Unit]; {fix_unit}"
                    ),
                });
            } else if !can_trip {
                let r = restart_sec.unwrap_or_default();
                out.push(Finding {
                    setting: "StartLimitIntervalSec",
                    problem: format!(
                        "is {}: {} starts {} apart (RestartSec) take {}, longer than the interval, so the start limit never trips and a crash loop is never stopped{}",
                        show_span(i),
                        b + 1,
                        show_span(r),
                        show_span(r * b),
                        if i == Duration::from_secs(10) {
                            format!(" (10s is systemd's default: {legacy})")
                        } else {
                            String::new()
                        }
                    ),
                    fix: format!(
                        "StartLimitIntervalSec= longer than StartLimitBurst × RestartSec, under [Unit]; {fix_unit}"
                    ),
                });
            }
            if ours && b != EXPECT_START_LIMIT_BURST {
                out.push(Finding {
                    setting: "StartLimitBurst",
                    problem: format!("is {b}, expected {EXPECT_START_LIMIT_BURST}"),
                    fix: format!("StartLimitBurst=5 under [Unit]; {fix_unit}"),
                });
            }
        }
        _ => out.push(Finding {
            setting: "StartLimitIntervalSec",
            problem: format!(
                "unreadable (StartLimitBurst={:?}, StartLimitIntervalUSec={:?})",
                get("StartLimitBurst"),
                get("StartLimitIntervalUSec")
            ),
            fix: format!(
                "StartLimitIntervalSec=600 and StartLimitBurst=5 under [Unit]; {fix_unit}"
            ),
        }),
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
            fix: format!("Restart=on-failure under [Service]; {fix_unit}"),
        }),
    }
    if ours
        && !get("RestartPreventExitStatus")
            .split_whitespace()
            .any(|s| s == "78")
    {
        out.push(Finding {
            setting: "RestartPreventExitStatus",
            problem: "does not include 78: a configuration error (exit 78) is restarted in a loop"
                .into(),
            fix: format!("RestartPreventExitStatus=78 under [Service]; {fix_unit}"),
        });
    }
    let stop_fix = if ours {
        format!("TimeoutStopSec=15 under [Service]; {fix_unit}")
    } else {
        format!("a finite TimeoutStopSec= under [Service]; {fix_unit}")
    };
    match span(get("TimeoutStopUSec")) {
        Ok(Some(d)) if d >= EXPECT_TIMEOUT_STOP || (!ours && !d.is_zero()) => {}
        Ok(None) | Ok(Some(Duration::ZERO)) => out.push(Finding {
            setting: "TimeoutStopSec",
            problem: "is infinity: a hung shutdown blocks every stop and restart".into(),
            fix: stop_fix,
        }),
        Ok(Some(d)) => out.push(Finding {
            setting: "TimeoutStopSec",
            problem: format!(
                "is {}: systemd kills the service before its 15s shutdown (store flush) can finish",
                show_span(d)
            ),
            fix: stop_fix,
        }),
        Err(()) => out.push(Finding {
            setting: "TimeoutStopSec",
            problem: format!("unreadable value {:?}", get("TimeoutStopUSec")),
            fix: stop_fix,
        }),
    }

    // Resource limits: grokmon's own must be set; any that is set must be
    // enforced.
    let mem_limited = get("MemoryMax").parse::<u64>().is_ok();
    if ours && !mem_limited {
        out.push(Finding {
            setting: "MemoryMax",
            problem: "is not set: a leak can take the whole machine down with it".into(),
            fix: format!("MemoryMax=500M under [Service]; {fix_unit}"),
        });
    }
    let cpu_limited = matches!(span(get("CPUQuotaPerSecUSec")), Ok(Some(d)) if !d.is_zero());
    if ours && !cpu_limited {
        out.push(Finding {
            setting: "CPUQuota",
            problem: "is not set: a runaway loop can starve the machine".into(),
            fix: format!("CPUQuota=200% under [Service]; {fix_unit}"),
        });
    }
    let mem_fix = "on Raspberry Pi OS add `cgroup_enable=memory cgroup_memory=1` to /boot/firmware/cmdline.txt and reboot; for a user service the memory controller must also be delegated to user@.service (`systemctl edit user@.service`: [Service] Delegate=memory cpu pids)";
    let cpu_fix = "for a user service delegate the cpu controller to user@.service (`systemctl edit user@.service`: [Service] Delegate=memory cpu pids)";
    match &seen.controllers {
        Some(text) => {
            if mem_limited && !has_controller(text, "memory") {
                out.push(Finding {
                    setting: "MemoryMax",
                    problem: "is set, but the memory cgroup controller is not enabled here, so the limit does nothing".into(),
                    fix: mem_fix.into(),
                });
            }
            if cpu_limited && !has_controller(text, "cpu") {
                out.push(Finding {
                    setting: "CPUQuota",
                    problem: "is set, but the cpu cgroup controller is not enabled here, so the quota does nothing".into(),
                    fix: cpu_fix.into(),
                });
            }
        }
        None => {
            for (setting, limited, truth, fix) in [
                ("MemoryMax", mem_limited, &seen.memory_v1, mem_fix),
                ("CPUQuota", cpu_limited, &seen.cpu_v1, cpu_fix),
            ] {
                if !limited {
                    continue;
                }
                match truth {
                    Some(Enforcement::Enforced(_)) => {}
                    Some(Enforcement::NotEnforced(why)) => out.push(Finding {
                        setting,
                        problem: format!("is set, but does nothing here: {why}"),
                        fix: format!("{fix}; in a container, delegate the controller to it (or use cgroup v2)"),
                    }),
                    Some(Enforcement::Unknown(why)) => out.push(Finding {
                        setting,
                        problem: format!("is set, but whether it is enforced cannot be told: {why}"),
                        fix: "check that /sys/fs/cgroup is a cgroup v2 mount (`stat -fc %T /sys/fs/cgroup` says cgroup2fs), or that the v1 hierarchy is mounted".into(),
                    }),
                    None => out.push(Finding {
                        setting,
                        problem: "is set, but neither cgroup v2 controllers nor the v1 hierarchy could be read, so whether it is enforced cannot be told".into(),
                        fix: "check that /sys/fs/cgroup is a cgroup v2 mount (`stat -fc %T /sys/fs/cgroup` says cgroup2fs)".into(),
                    }),
                }
            }
        }
    }

    if ours {
        let live = span(get("WatchdogUSec"))
            .ok()
            .flatten()
            .filter(|d| !d.is_zero());
        let off = Finding {
            setting: "WatchdogSec",
            problem: "is off: a hung orchestrator (alive but stuck) is never noticed by systemd"
                .into(),
            fix: format!("WatchdogSec=60 under [Service]; {fix_unit}"),
        };
        match (live, &seen.watchdog_configured) {
            (Some(_), _) => {}
            // Not running: systemd says infinity before the first start;
            // the unit files say what it will be.
            (None, Some(Ok(Some(_)))) => {}
            (None, Some(Ok(None))) => out.push(off),
            (None, Some(Err(why))) => out.push(Finding {
                setting: "WatchdogSec",
                problem: format!(
                    "cannot be told before the unit runs (systemd reports infinity until its first start) and the unit files cannot be read: {}",
                    crate::text::sanitize(why)
                ),
                fix: "start the unit, then verify again".into(),
            }),
            (None, None) => out.push(off),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORCH: &str =
        "ExecStart={ path=/usr/bin/grokmon ; argv[]=/usr/bin/grokmon run ; ignore_errors=no }\n";
    const APP: &str = "ExecStart={ path=/opt/app/bin/app ; argv[]=/opt/app/bin/app --serve ; ignore_errors=no }\n";

    fn props(exec: &str, extra: &str) -> BTreeMap<String, String> {
        let mut p = super::super::parse_show(&format!(
            "LoadState=loaded\nActiveState=active\n{exec}StartLimitBurst=5\nStartLimitIntervalUSec=10min\nRestart=on-failure\nRestartUSec=30s\nRestartPreventExitStatus=78\nTimeoutStopUSec=15s\nMemoryMax=524288000\nCPUQuotaPerSecUSec=2s\nWatchdogUSec=1min\nControlGroup=/system.slice/x.service\n"
        ));
        p.extend(super::super::parse_show(extra));
        p
    }

    fn v2() -> Seen {
        Seen {
            controllers: Some("cpuset cpu io memory pids\n".into()),
            ..Seen::default()
        }
    }

    #[test]
    fn grokmons_orchestrator_as_shipped_is_clean() {
        assert_eq!(findings(&props(ORCH, ""), &v2()), vec![]);
    }

    #[test]
    fn a_plain_app_is_not_asked_for_a_watchdog_or_exit_78_or_limits() {
        // No watchdog, no 78, no MemoryMax/CPUQuota, a 90s stop timeout, a
        // start limit that can trip: in force for an app.
        let app = props(
            APP,
            "WatchdogUSec=0\nRestartPreventExitStatus=\nMemoryMax=infinity\nCPUQuotaPerSecUSec=infinity\nTimeoutStopUSec=1min 30s\nRestartUSec=5s\nStartLimitIntervalUSec=1min\n",
        );
        assert_eq!(findings(&app, &v2()), vec![]);
        // The same values for grokmon's orchestrator are findings.
        let orch = props(
            ORCH,
            "WatchdogUSec=0\nRestartPreventExitStatus=\nMemoryMax=infinity\nCPUQuotaPerSecUSec=infinity\nTimeoutStopUSec=1min 30s\nRestartUSec=5s\nStartLimitIntervalUSec=1min\n",
        );
        let settings: Vec<&str> = findings(&orch, &v2()).iter().map(|f| f.setting).collect();
        assert_eq!(
            settings,
            vec![
                "StartLimitIntervalSec",
                "RestartPreventExitStatus",
                "MemoryMax",
                "CPUQuota",
                "WatchdogSec"
            ]
        );
        // Universal rules hold for the app too.
        let f = findings(
            &props(APP, "Restart=always\nTimeoutStopUSec=infinity\n"),
            &v2(),
        );
        let settings: Vec<&str> = f.iter().map(|f| f.setting).collect();
        assert_eq!(settings, vec!["Restart", "TimeoutStopSec"]);
    }

    #[test]
    fn a_start_limit_that_cannot_trip_is_named_with_the_252_wording() {
        // systemd's default 10s with 30s between restarts.
        let f = findings(&props(APP, "StartLimitIntervalUSec=10s\n"), &v2());
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].problem.contains("never trips"), "{}", f[0].problem);
        assert!(
            f[0].problem.contains("6 starts 30s apart"),
            "{}",
            f[0].problem
        );
        assert!(
            f[0].problem.contains("rejected") && f[0].problem.contains("aliases"),
            "{}",
            f[0].problem
        );
        assert!(!f[0].problem.contains("silently"), "{}", f[0].problem);
        let f = findings(&props(ORCH, "StartLimitIntervalUSec=10s\n"), &v2());
        assert!(
            f[0].problem.contains("10s, systemd's default"),
            "{}",
            f[0].problem
        );
        assert!(f[0].problem.contains("Unknown key"), "{}", f[0].problem);
        let f = findings(&props(APP, "StartLimitBurst=0\n"), &v2());
        assert!(f[0].problem.contains("off"), "{}", f[0].problem);
    }

    #[test]
    fn the_watchdog_before_the_first_start_is_read_from_the_unit_files() {
        // As systemd 252 reports an installed unit that never ran.
        let never_ran = props(ORCH, "ActiveState=inactive\nWatchdogUSec=infinity\n");
        let configured = Seen {
            watchdog_configured: Some(Ok(Some(Duration::from_secs(60)))),
            ..v2()
        };
        assert_eq!(findings(&never_ran, &configured), vec![]);
        let off = Seen {
            watchdog_configured: Some(Ok(None)),
            ..v2()
        };
        assert_eq!(findings(&never_ran, &off)[0].setting, "WatchdogSec");
        let unreadable = Seen {
            watchdog_configured: Some(Err("cannot read /x: denied".into())),
            ..v2()
        };
        let f = findings(&never_ran, &unreadable);
        assert!(
            f[0].problem.contains("cannot be told before the unit runs"),
            "{}",
            f[0].problem
        );
    }

    #[test]
    fn v1_truth_decides_the_limits_on_hybrid_hosts() {
        let p = props(ORCH, "");
        let enforced = Seen {
            memory_v1: Some(Enforcement::Enforced("cgroup v1: 524288000".into())),
            cpu_v1: Some(Enforcement::Enforced("cgroup v1".into())),
            ..Seen::default()
        };
        assert_eq!(findings(&p, &enforced), vec![]);
        let container = Seen {
            memory_v1: Some(Enforcement::NotEnforced(
                "cgroup v1 memory hierarchy /sys/fs/cgroup/memory is read-only here".into(),
            )),
            cpu_v1: Some(Enforcement::Enforced("cgroup v1".into())),
            ..Seen::default()
        };
        let f = findings(&p, &container);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].setting, "MemoryMax");
        assert!(
            f[0].problem.contains("does nothing here") && f[0].problem.contains("read-only"),
            "{}",
            f[0].problem
        );
        let f = findings(&p, &Seen::default());
        assert!(
            f.iter().all(|f| f.problem.contains("cannot be told")),
            "{f:?}"
        );
    }

    #[test]
    fn gather_reads_the_unit_files_only_when_not_running() {
        let d = tempfile::tempdir().unwrap();
        let frag = d.path().join("grokmon.service");
        std::fs::write(&frag, "[Service]\nWatchdogSec=60\n").unwrap();
        let drop = d.path().join("speed.conf");
        std::fs::write(&drop, "[Service]\nWatchdogSec=4\n").unwrap();
        let p = props(
            ORCH,
            &format!(
                "ActiveState=inactive\nWatchdogUSec=infinity\nFragmentPath={}\nDropInPaths={}\n",
                frag.display(),
                drop.display()
            ),
        );
        let seen = gather(&p, &d.path().join("cg"), &d.path().join("proc"));
        assert_eq!(
            seen.watchdog_configured,
            Some(Ok(Some(Duration::from_secs(4))))
        );
        let running = props(ORCH, "");
        assert_eq!(
            gather(&running, d.path(), d.path()).watchdog_configured,
            None
        );
    }
}
