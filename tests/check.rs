//! Integration tests for `grokmon check`: the built binary in a temp HOME, a
//! loopback API, a fake `systemctl` on PATH and a fixture `/proc`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::util::*;

/// A fixture /proc: 2 CPUs, 25% memory used, a low load.
pub(crate) fn fake_proc(env: &TestEnv, busy: u64) -> String {
    let root = env.path("proc");
    std::fs::create_dir_all(root.join("self")).unwrap();
    let idle = 100_000 - busy;
    std::fs::write(
        root.join("stat"),
        format!("cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n"),
    )
    .unwrap();
    std::fs::write(root.join("loadavg"), "0.40 0.30 0.20 1/100 999\n").unwrap();
    std::fs::write(
        root.join("meminfo"),
        "MemTotal: 4000000 kB\nMemFree: 1000000 kB\nMemAvailable: 3000000 kB\n",
    )
    .unwrap();
    std::fs::write(
        root.join("self/mountinfo"),
        "22 1 8:1 / / rw - ext4 /dev/root rw\n",
    )
    .unwrap();
    root.display().to_string()
}

/// The protections of the shipped unit, in force (what `units verify` wants).
pub(crate) const PROTECTED: &str = "ExecStart={ path=/usr/bin/grokmon ; argv[]=/usr/bin/grokmon run ; ignore_errors=no }\nRestartUSec=30s\nStartLimitBurst=5\nStartLimitIntervalUSec=10min\nRestart=on-failure\nRestartPreventExitStatus=78\nTimeoutStopUSec=15s\nMemoryMax=524288000\nCPUQuotaPerSecUSec=2s\nWatchdogUSec=1min\nControlGroup=/user.slice/grokmon.service\n";

/// A fixture cgroup tree with the memory and cpu controllers enabled.
fn fake_cgroup(env: &TestEnv) -> String {
    let root = env.path("cgroup");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    )
    .unwrap();
    root.display().to_string()
}

/// An environment whose API, database, backups and service are all fine.
pub(crate) fn healthy_env(server: &Server) -> TestEnv {
    let mut env = TestEnv::new();
    let proc = fake_proc(&env, 1000);
    env.set_env("GROKMON_PROC_ROOT", &proc);
    let cg = fake_cgroup(&env);
    env.set_env("GROKMON_CGROUP_ROOT", &cg);
    env.write_config(&format!(
        "[check.api]\nurl = \"{}\"\ntimeout = \"2s\"\n",
        server.url("/api/health")
    ));
    env.create_database();
    std::fs::create_dir_all(env.backups()).unwrap();
    let name = chrono::Utc::now()
        .format("grokmon-%Y%m%dT%H%M%SZ.db.zst")
        .to_string();
    std::fs::write(env.backups().join(name), b"x").unwrap();
    env.fake_systemctl_show(&format!(
        "LoadState=loaded\nActiveState=active\nSubState=running\nActiveEnterTimestamp=@1\nNRestarts=0\nMainPID=42\n{PROTECTED}"
    ));
    env
}

pub(crate) fn healthy_server() -> Server {
    Server::start(|_| Response::json(200, r#"{"status":"healthy"}"#))
}

pub(crate) fn probe<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["probe"] == name)
        .unwrap_or_else(|| panic!("no probe {name} in {v}"))
}

#[test]
fn all_ok_exits_0_and_quiet_prints_nothing() {
    let server = healthy_server();
    let env = healthy_env(&server);
    let out = env.run(&["check"]);
    out.code(0).stdout_has("✓ api").stdout_has("OK: ");
    env.run(&["check", "--quiet"]).code(0).no_output();
    assert!(env.alert_lines().is_empty(), "{:?}", env.alert_lines());
}

#[test]
fn defaults_without_any_config_file_run() {
    // A fresh machine: no config, nothing listening on the default API port
    // (maybe), no database: still a complete report and a Nagios exit code.
    let env = TestEnv::new();
    std::fs::remove_file(env.config_path()).unwrap();
    let mut c = env.cmd(&["check", "--format", "json"]);
    c.env("GROKMON_PROC_ROOT", fake_proc(&env, 1000));
    let out = Out::of(&["check"], c.output().unwrap());
    assert!(
        out.code == 1 || out.code == 2,
        "exit {}: {}",
        out.code,
        out.stderr
    );
    let v = out.json();
    assert_eq!(v["probes"].as_array().unwrap().len(), 9, "{v}");
    assert_eq!(probe(&v, "database")["status"], "crit");
    assert_eq!(probe(&v, "backups")["status"], "warn");
}

#[test]
fn api_down_alerts_only_after_confirmation_then_recovers_once() {
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let h = healthy.clone();
    let server = Server::start(move |_| {
        if h.load(std::sync::atomic::Ordering::SeqCst) {
            Response::json(200, r#"{"status":"healthy"}"#)
        } else {
            Response::text(502, b"bad gateway")
        }
    });
    let env = healthy_env(&server);
    env.run(&["check"]).code(2).stdout_has("HTTP 502");
    assert!(env.alert_lines().is_empty(), "first failure must not alert");
    env.run(&["check"]).code(2);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" CRIT api: HTTP 502 (2 checks, since "),
        "{}",
        lines[0]
    );
    env.run(&["check"]).code(2);
    assert_eq!(env.alert_lines().len(), 1, "no repeat before renotify");
    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    env.run(&["check"]).code(0);
    env.run(&["check"]).code(0);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].contains(" OK   api: recovered after "),
        "{}",
        lines[1]
    );
}

#[test]
fn api_bad_answers_are_named() {
    let cases: Vec<(&str, Response, &str, &str)> = vec![
        (
            "garbage",
            Response::text(200, b"\x1b[31m<html>oops\n"),
            "warn",
            "not JSON",
        ),
        (
            "degraded",
            Response::json(200, r#"{"status":"degraded"}"#),
            "warn",
            "degraded",
        ),
        (
            "huge",
            Response::text(200, &vec![b'a'; 10 << 20]),
            "warn",
            "body over 64 KiB",
        ),
        (
            "error",
            Response::json(503, r#"{"status":"starting"}"#),
            "crit",
            "HTTP 503",
        ),
    ];
    for (name, resp, status, needle) in cases {
        let server = Server::start(move |_| resp.clone());
        let env = healthy_env(&server);
        let v = env.run(&["check", "--format", "json"]).json();
        let api = probe(&v, "api");
        assert_eq!(api["status"], status, "{name}: {api}");
        let msg = api["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{name}: {msg}");
        assert!(
            !msg.contains('\x1b') && !msg.contains('\n'),
            "{name}: unsanitized {msg:?}"
        );
    }
}

#[test]
fn api_redirect_loop_and_hang_are_critical_within_the_timeout() {
    let server = Server::start(|r| {
        if r.path == "/hang" {
            Response::json(200, r#"{"status":"healthy"}"#).delay(Duration::from_secs(5))
        } else {
            Response::text(302, b"").header("Location", "/loop")
        }
    });
    let env = healthy_env(&server);
    env.write_config(&format!("[check.api]\nurl = \"{}\"\n", server.url("/loop")));
    let v = env.run(&["check", "--format", "json"]).json();
    assert_eq!(
        probe(&v, "api")["message"],
        "unreachable: too many redirects"
    );

    env.write_config(&format!(
        "[check.api]\nurl = \"{}\"\ntimeout = \"300ms\"\n",
        server.url("/hang")
    ));
    let out = env.run(&["check", "--format", "json"]);
    out.code(2);
    let msg = probe(&out.json(), "api")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("timed out"), "{msg}");
}

#[test]
fn edge_serving_while_origin_is_down_is_a_warning() {
    let server = Server::start(|r| {
        if r.path == "/edge" {
            Response::json(200, r#"{"status":"healthy"}"#)
        } else {
            Response::text(502, b"")
        }
    });
    let env = healthy_env(&server);
    env.write_config(&format!(
        "[check.api]\nurl = \"{}\"\nedge_url = \"{}\"\n",
        server.url("/origin"),
        server.url("/edge")
    ));
    let v = env.run(&["check", "--format", "json"]).json();
    let api = probe(&v, "api");
    assert_eq!(api["status"], "warn");
    assert!(
        api["message"]
            .as_str()
            .unwrap()
            .starts_with("origin down, edge serving"),
        "{api}"
    );
}

#[test]
fn api_failures_while_the_service_starts_are_not_alerts() {
    let server = Server::start(|_| Response::text(502, b""));
    let env = healthy_env(&server);
    env.fake_systemctl_show(&format!(
        "ActiveState=activating\nSubState=start\nNRestarts=0\n{PROTECTED}"
    ));
    for _ in 0..3 {
        let out = env.run(&["check", "--format", "json"]);
        let v = out.json();
        assert_eq!(probe(&v, "api")["status"], "starting", "{v}");
        assert_eq!(probe(&v, "service")["status"], "starting", "{v}");
        out.code(0);
    }
    assert!(env.alert_lines().is_empty(), "{:?}", env.alert_lines());
}

#[test]
fn check_only_asks_systemctl_show_never_acts() {
    let server = Server::start(|_| Response::text(502, b""));
    let env = healthy_env(&server);
    env.fake_systemctl_show(
        "ActiveState=failed\nSubState=failed\nResult=start-limit-hit\nNRestarts=5\n",
    );
    for _ in 0..3 {
        env.run(&["check"])
            .code(2)
            .stdout_has("journalctl --user -u grokmon -n 100");
    }
    let calls = env.systemctl_calls();
    assert!(!calls.is_empty());
    for c in &calls {
        let verb = c
            .split_whitespace()
            .find(|w| !w.starts_with('-'))
            .unwrap_or("");
        assert!(
            verb == "show" || verb == "is-active",
            "check called systemctl {c:?}"
        );
    }
}

#[test]
fn restart_loop_is_detected_from_nrestarts_deltas() {
    let server = healthy_server();
    let env = healthy_env(&server);
    for n in [0, 2, 5, 8] {
        env.fake_systemctl_show(&format!(
            "ActiveState=active\nSubState=running\nActiveEnterTimestamp=@1\nNRestarts={n}\n{PROTECTED}"
        ));
        env.run(&["check"]);
    }
    let v = env.run(&["check", "--format", "json"]).json();
    let svc = probe(&v, "service");
    assert_eq!(svc["status"], "crit", "{svc}");
    assert!(
        svc["message"]
            .as_str()
            .unwrap()
            .contains("8 automatic restarts in the last hour"),
        "{svc}"
    );
}

#[test]
fn no_systemd_is_skipped_not_a_failure() {
    let server = healthy_server();
    let env = healthy_env(&server);
    env.fake_systemctl_no_bus();
    let v = env.run(&["check", "--format", "json"]).json();
    assert_eq!(probe(&v, "service")["status"], "skipped");
    assert_eq!(v["exit_code"], 0, "{v}");

    // systemctl absent from PATH altogether.
    std::fs::remove_file(env.bin.join("systemctl")).unwrap();
    let mut c = env.cmd(&["check", "--format", "json"]);
    c.env("PATH", &env.bin);
    let out = Out::of(&["check"], c.output().unwrap());
    let v = out.json();
    assert_eq!(probe(&v, "service")["status"], "skipped");
    assert!(
        probe(&v, "service")["message"]
            .as_str()
            .unwrap()
            .contains("not found")
    );
}

#[test]
fn config_errors_are_unknown_for_check_and_78_elsewhere() {
    let env = TestEnv::new();
    std::fs::write(env.config_path(), "[check]\nconfirm_after = \"two\"\n").unwrap();
    env.run(&["check"]).code(3).stderr_has("line 2");
    std::fs::write(env.config_path(), "[check]\nrenotfy = \"1h\"\n").unwrap();
    env.run(&["check"])
        .code(3)
        .stderr_has("renotfy")
        .stderr_has("line 2, column 1");
    env.run(&["status"]).code(78).stderr_has("renotfy");
    env.run(&["check", "--no-such-flag"]).code(3);
    env.run(&["status", "--no-such-flag"]).code(2);
    env.run(&["--config", "/nonexistent/grokmon.toml", "check"])
        .code(3)
        .stderr_has("/nonexistent/grokmon.toml");
}

#[test]
fn config_lookup_order() {
    let env = TestEnv::new();
    let other = env.path("other.toml");
    std::fs::write(&other, "[check]\nprobes = [\"memory\"]\n").unwrap();
    // $GROKMON_CONFIG wins over the XDG file, --config over both.
    let mut c = env.cmd(&["check", "--format", "json"]);
    c.env("GROKMON_CONFIG", &other);
    let v = Out::of(&["check"], c.output().unwrap()).json();
    assert_eq!(v["probes"].as_array().unwrap().len(), 1, "{v}");
    let third = env.path("third.toml");
    std::fs::write(&third, "[check]\nprobes = [\"memory\", \"cpu\"]\n").unwrap();
    let mut c = env.cmd(&[
        "--config",
        third.to_str().unwrap(),
        "check",
        "--format",
        "json",
    ]);
    c.env("GROKMON_CONFIG", &other);
    let v = Out::of(&["check"], c.output().unwrap()).json();
    assert_eq!(v["probes"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn unsafe_alerts_log_paths_are_refused_with_exit_3() {
    let server = Server::start(|_| Response::text(502, b""));
    let env = healthy_env(&server);
    let cfg_api = format!(
        "[check]\nconfirm_after = 1\n[check.api]\nurl = \"{}\"\n",
        server.url("/")
    );

    // A symlink planted at the path: never followed.
    let target = env.path("victim");
    std::fs::write(&target, "precious\n").unwrap();
    let link = env.path("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    env.write_config_with_paths("", "");
    std::fs::write(
        env.config_path(),
        format!("[paths]\nalerts_log = \"{}\"\n{cfg_api}", link.display()),
    )
    .unwrap();
    env.run(&["check"]).code(3).stderr_has("symbolic link");
    assert_eq!(read(&target), "precious\n");

    // A directory.
    let dir = env.path("dir.log");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        env.config_path(),
        format!("[paths]\nalerts_log = \"{}\"\n{cfg_api}", dir.display()),
    )
    .unwrap();
    env.run(&["check"]).code(3).stderr_has("not a regular file");

    // Someone else's file (needs root to set up).
    if unsafe { libc_geteuid() } == 0 {
        let theirs = env.path("theirs.log");
        std::fs::write(&theirs, "").unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        std::fs::write(
            env.config_path(),
            format!("[paths]\nalerts_log = \"{}\"\n{cfg_api}", theirs.display()),
        )
        .unwrap();
        env.run(&["check"]).code(3).stderr_has("owned by uid 65534");
        assert_eq!(read(&theirs), "");
    } else {
        eprintln!("note: not root, skipping the foreign-owner case");
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn an_unwritable_log_loses_no_alert() {
    let server = Server::start(|_| Response::text(502, b""));
    let env = healthy_env(&server);
    let dir = env.path("dir.log");
    std::fs::create_dir(&dir).unwrap();
    let api = format!(
        "[check]\nconfirm_after = 1\n[check.api]\nurl = \"{}\"\n",
        server.url("/")
    );
    std::fs::write(
        env.config_path(),
        format!("[paths]\nalerts_log = \"{}\"\n{api}", dir.display()),
    )
    .unwrap();
    env.run(&["check"]).code(3).stderr_has("will be retried");
    // Fix the path: the alert that could not be written is written now.
    env.write_config(&api);
    env.run(&["check"]).code(2);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("CRIT api: HTTP 502"), "{lines:?}");
}

#[test]
fn corrupt_state_is_unknown_but_still_reports() {
    let server = healthy_server();
    let env = healthy_env(&server);
    std::fs::create_dir_all(env.state_db().parent().unwrap()).unwrap();
    std::fs::write(env.state_db(), vec![0x42u8; 16384]).unwrap();
    let out = env.run(&["check", "--format", "json"]);
    out.code(3)
        .stderr_has("state database")
        .stderr_has("move it aside");
    assert_eq!(probe(&out.json(), "api")["status"], "ok");
}

#[test]
fn twenty_concurrent_checks_stay_consistent() {
    let server = Server::start(|_| Response::text(502, b""));
    let env = healthy_env(&server);
    env.write_config(&format!(
        "[check]\nconfirm_after = 1\n[check.api]\nurl = \"{}\"\n",
        server.url("/")
    ));
    let children: Vec<_> = (0..20)
        .map(|_| {
            env.cmd(&["check", "--quiet"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        let status = c.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(2),
            "every concurrent check completes with CRITICAL"
        );
    }
    let lines = env.alert_lines();
    for l in &lines {
        assert!(parse_line(l), "unparsable line {l:?}");
    }
    // The API alert was confirmed exactly once, whatever the interleaving.
    assert_eq!(
        lines.iter().filter(|l| l.contains(" api: ")).count(),
        1,
        "{lines:?}"
    );
    // The state is readable and consistent afterwards.
    env.run(&["check", "--format", "json"]).code(2);
}

fn parse_line(l: &str) -> bool {
    let mut it = l.splitn(3, ' ');
    let ts = it.next().unwrap_or("");
    chrono::DateTime::parse_from_rfc3339(ts).is_ok() && l.contains(": ")
}

#[test]
fn hostile_api_bodies_cannot_forge_log_lines() {
    let server = Server::start(|_| {
        Response::json(
            200,
            "{\"status\":\"ok\\n2026-01-01T00:00:00Z OK   api: forged\\u001b[2J\"}",
        )
    });
    let env = healthy_env(&server);
    env.write_config(&format!(
        "[check]\nconfirm_after = 1\n[check.api]\nurl = \"{}\"\n",
        server.url("/")
    ));
    env.run(&["check"]).code(1);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(!lines[0].contains('\x1b'));
    assert!(
        lines[0].contains("\\n2026-01-01T00:00:00Z OK"),
        "{}",
        lines[0]
    );
}

#[test]
fn log_is_created_0600() {
    let server = Server::start(|_| Response::text(500, b""));
    let env = healthy_env(&server);
    env.write_config(&format!(
        "[check]\nconfirm_after = 1\n[check.api]\nurl = \"{}\"\n",
        server.url("/")
    ));
    env.run(&["check"]).code(2);
    let mode = std::fs::metadata(env.alerts_log())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn nagios_and_textfile_formats() {
    let server = healthy_server();
    let env = healthy_env(&server);
    let out = env.run(&["check", "--format", "nagios"]);
    out.code(0);
    let first = out.stdout.lines().next().unwrap();
    assert!(first.starts_with("GROKMON OK - "), "{first}");
    let (_, perf) = first.split_once(" | ").expect("perfdata");
    for item in perf.split(' ').filter(|s| !s.is_empty() && s.contains('=')) {
        let (_, rest) = item.rsplit_once('=').unwrap();
        let value = rest.split(';').next().unwrap();
        let num = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
        assert!(
            num.parse::<f64>().is_ok() && !num.contains('e'),
            "bad perfdata value {item:?}"
        );
    }
    assert!(perf.contains("'memory_used'=25%;85;95;0;100"), "{perf}");

    let prom = env.path("grokmon.prom");
    env.run(&["check", "--quiet", "--textfile", prom.to_str().unwrap()])
        .code(0)
        .no_output();
    let text = read(&prom);
    assert!(text.contains("grokmon_check_status 0\n"), "{text}");
    assert!(text.contains("grokmon_memory_used_ratio 0.25\n"), "{text}");
    assert!(
        text.contains("grokmon_probe_status{probe=\"disk\",mountpoint=\"/\"} 0\n"),
        "{text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("grokmon.prom."))
        .collect();
    assert!(leftovers.is_empty(), "temporary textfile left behind");
}

#[test]
fn cpu_usage_is_averaged_since_the_previous_check() {
    let server = healthy_server();
    let env = healthy_env(&server);
    env.run(&["check"]).code(0);
    // 10_000 more jiffies, 9_000 of them busy: 90% since the previous check.
    let proc = env.path("proc");
    std::fs::write(
        proc.join("stat"),
        "cpu  10000 0 0 100000 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n",
    )
    .unwrap();
    let v = env.run(&["check", "--format", "json"]).json();
    let cpu = probe(&v, "cpu");
    assert_eq!(cpu["status"], "warn", "{cpu}");
    assert!(
        cpu["message"].as_str().unwrap().starts_with("90% used"),
        "{cpu}"
    );
    assert!(
        !cpu["message"].as_str().unwrap().contains("short sample"),
        "{cpu}"
    );
}

#[test]
fn stale_backup_and_missing_database() {
    let server = healthy_server();
    let env = healthy_env(&server);
    std::fs::remove_file(env.database()).unwrap();
    for e in std::fs::read_dir(env.backups()).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let old = (chrono::Utc::now() - chrono::Duration::hours(30))
        .format("grokmon-%Y%m%dT%H%M%SZ.db.zst")
        .to_string();
    std::fs::write(env.backups().join(&old), b"x").unwrap();
    std::fs::write(env.backups().join("notes.txt"), b"foreign").unwrap();
    let v = env.run(&["check", "--format", "json"]).json();
    assert_eq!(probe(&v, "database")["status"], "crit");
    assert!(
        probe(&v, "database")["message"]
            .as_str()
            .unwrap()
            .starts_with("database missing")
    );
    let b = probe(&v, "backups");
    assert_eq!(b["status"], "warn", "{b}");
    assert!(b["message"].as_str().unwrap().contains("1d 6h old"), "{b}");
}

#[test]
fn protections_not_in_force_are_a_units_warning_apart_from_the_service() {
    let server = healthy_server();
    let env = healthy_env(&server);
    // StartLimitIntervalSec under [Service] is rejected on 252: systemd keeps
    // its 10 s default. And the memory controller is off (many Raspberry Pi
    // kernels): a finding that cannot be fixed on this host.
    let props = PROTECTED.replace("StartLimitIntervalUSec=10min", "StartLimitIntervalUSec=10s");
    let show = |state: &str| {
        env.fake_systemctl_show(&format!(
            "LoadState=loaded\n{state}ActiveEnterTimestamp=@1\nNRestarts=0\nExecMainCode=0\nExecMainStatus=0\n{props}"
        ))
    };
    show("ActiveState=active\nSubState=running\n");
    std::fs::write(
        env.path("cgroup/cgroup.controllers"),
        "cpuset cpu io pids\n",
    )
    .unwrap();
    let out = env.run(&["check", "--format", "json"]);
    out.code(1);
    let v = out.json();
    let svc = probe(&v, "service");
    assert_eq!(svc["status"], "ok", "the service itself is fine: {svc}");
    assert!(
        !svc["message"].as_str().unwrap().contains("protection"),
        "{svc}"
    );
    let units = probe(&v, "units");
    assert_eq!(units["status"], "warn", "{units}");
    let msg = units["message"].as_str().unwrap();
    assert!(msg.contains("2 protection(s) not in force"), "{msg}");
    assert!(
        msg.contains("StartLimitIntervalSec") && msg.contains("MemoryMax"),
        "{msg}"
    );
    assert!(msg.contains("grokmon units verify"), "{msg}");
    // Only one systemctl call per check: state and protections share the `show`.
    assert_eq!(
        env.systemctl_calls().len(),
        1,
        "{:?}",
        env.systemctl_calls()
    );
    // Confirmed: the standing finding is one WARN line of its own.
    env.run(&["check"]).code(1);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("WARN units:"), "{lines:?}");
    // Then the service fails: its own alert is written, not hidden behind
    // the standing WARN, and it does not carry the findings text.
    show(
        "ActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainCode=1\nExecMainStatus=1\n",
    );
    env.run(&["check"]).code(2);
    env.run(&["check"]).code(2);
    let lines = env.alert_lines();
    let svc_lines: Vec<&String> = lines.iter().filter(|l| l.contains(" service:")).collect();
    assert_eq!(svc_lines.len(), 1, "{lines:?}");
    assert!(svc_lines[0].contains("CRIT service:"), "{lines:?}");
    assert!(!svc_lines[0].contains("protection"), "{lines:?}");
}

#[test]
fn a_check_right_after_another_keeps_the_older_cpu_counters() {
    let server = healthy_server();
    let env = healthy_env(&server);
    let stat = |busy: u64, idle: u64| {
        std::fs::write(
            env.path("proc/stat"),
            format!("cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n"),
        )
        .unwrap();
    };
    stat(1000, 99_000);
    env.run(&["check"]).code(0);
    // Too few jiffies since: no average, and the stored counters stay.
    stat(1005, 99_005);
    let v = env.run(&["check", "--format", "json"]).json();
    assert!(
        !probe(&v, "cpu")["message"]
            .as_str()
            .unwrap()
            .contains("% used,"),
        "{v}"
    );
    // Averaged against the first check's counters: 2000 busy of 10000.
    stat(3000, 107_000);
    let v = env.run(&["check", "--format", "json"]).json();
    let msg = probe(&v, "cpu")["message"].as_str().unwrap().to_string();
    assert!(msg.starts_with("20% used, load"), "{msg}");
}
