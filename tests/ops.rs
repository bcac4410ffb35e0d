//! Integration tests for the `ops` area: the systemd units (verified by
//! `systemd-analyze`), `units install/print/verify`, `cron`, the reviewed
//! `restart` against a fake systemctl, man pages in sync, completions,
//! the Debian package metadata and the example configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;
use grokmon::config::{Config, Env, Scope, Source};
use grokmon::systemd::units::{self, Target};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn unit_names() -> Vec<&'static str> {
    units::UNITS.iter().map(|u| u.name).collect()
}

// ---- units: systemd-analyze verify ---------------------------------------

fn have_systemd_analyze() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `systemd-analyze [--user] verify` on files in `dir`; any stderr
/// output counts as a failure (it exits 0 even on unknown keys).
fn analyze(dir: &Path, user: bool, files: &[&str]) -> (bool, String) {
    let rt = dir.join("runtime");
    std::fs::create_dir_all(&rt).unwrap();
    let mut c = Command::new("systemd-analyze");
    if user {
        c.arg("--user");
    }
    c.args(["verify", "--man=no", "--recursive-errors=no"])
        .args(files.iter().map(|f| dir.join(f)))
        .env("XDG_RUNTIME_DIR", &rt)
        .env("SYSTEMD_LOG_COLOR", "0");
    let o = c.output().expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    (o.status.success() && stderr.trim().is_empty(), stderr)
}

#[test]
fn units_pass_systemd_analyze_verify() {
    if !have_systemd_analyze() {
        eprintln!(
            "note: systemd-analyze not found; unit verification skipped (.ci/run installs systemd)"
        );
        return;
    }
    for (scope, user) in [("user", true), ("system", false)] {
        let env = TestEnv::new();
        env.write_config(&format!("[service]\nscope = \"{scope}\"\n"));
        let out_dir = env.path("units");
        std::fs::create_dir_all(&out_dir).unwrap();
        // Rendered by the binary itself: the real binary path and --config.
        for name in unit_names() {
            let o = env.run(&["units", "print", name]);
            o.code(0);
            if name.ends_with(".service") {
                o.stdout_has(&format!("ExecStart={BIN} --config "));
            }
            std::fs::write(out_dir.join(name), &o.stdout).unwrap();
        }
        let (ok, stderr) = analyze(&out_dir, user, &unit_names());
        assert!(ok, "{scope} units fail systemd-analyze verify:\n{stderr}");

        // The check itself can fail: a typo is caught.
        let bad = std::fs::read_to_string(out_dir.join("grokmon.service")).unwrap()
            + "[Service]\nRestartSecc=3\n";
        std::fs::write(out_dir.join("typo.service"), bad).unwrap();
        let (ok, stderr) = analyze(&out_dir, user, &["typo.service"]);
        assert!(!ok && stderr.contains("RestartSecc"), "{stderr}");
    }
}

#[test]
fn restart_steps_dropin_needs_systemd_254() {
    if !have_systemd_analyze() {
        eprintln!("note: systemd-analyze not found; drop-in verification skipped");
        return;
    }
    let env = TestEnv::new();
    let dir = env.path("units");
    std::fs::create_dir_all(dir.join("grokmon.service.d")).unwrap();
    let target = Target {
        scope: Scope::System,
        exe: BIN.into(),
        config: None,
    };
    std::fs::write(
        dir.join("grokmon.service"),
        units::render(units::UNITS[0].template, &target).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join(units::DROPIN.name), units::DROPIN.template).unwrap();
    let version = grokmon::systemd::systemd_version();
    let (ok, stderr) = analyze(&dir, false, &["grokmon.service"]);
    match version {
        Some(v) if v >= units::DROPIN_MIN_VERSION => assert!(ok, "{stderr}"),
        // Why it is a separate drop-in: older systemd warns and ignores it.
        Some(_) => assert!(stderr.contains("Unknown key 'RestartSteps'"), "{stderr}"),
        None => eprintln!("note: systemd version unknown: {stderr}"),
    }
}

#[test]
fn user_units_in_sync() {
    // systemd/user/ holds the canonical user rendering for the Debian
    // package; GROKMON_BLESS=1 regenerates it.
    let bless = std::env::var_os("GROKMON_BLESS").is_some();
    let dir = repo("systemd/user");
    for u in units::UNITS {
        let want = units::render(u.template, &Target::canonical(Scope::User)).unwrap();
        let path = dir.join(u.name);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &want).unwrap();
        }
        assert_eq!(
            read(&path),
            want,
            "{} is out of date: GROKMON_BLESS=1 cargo test user_units_in_sync",
            path.display()
        );
    }
}

// ---- units install / print / verify, cron --------------------------------

fn fake_manager(env: &TestEnv, version: &str) {
    env.fake_systemctl(&format!(
        "case \"$*\" in --version) echo 'systemd {version}'; echo '+PAM +AUDIT';; *) exit 0;; esac"
    ));
}

fn unit_dir(env: &TestEnv) -> PathBuf {
    env.home.join(".config/systemd/user")
}

#[test]
fn units_install_dry_run_touches_nothing() {
    let env = TestEnv::new();
    fake_manager(&env, "252 (252.38-1~deb12u1)");
    let o = env.run(&["units", "install", "--user", "--dry-run"]);
    let dir = unit_dir(&env);
    o.code(0)
        .stdout_has("dry run")
        .stdout_has(&format!("would write {}/grokmon.service", dir.display()))
        .stdout_has(&format!(
            "would write {}/grokmon-check.timer",
            dir.display()
        ))
        .stdout_has("would run: systemctl --user daemon-reload")
        .stdout_has(
            "would run: systemctl --user enable --now grokmon-check.timer grokmon-backup.timer",
        )
        .stdout_has("skip grokmon.service.d/restart-steps.conf: systemd 252");
    assert!(!dir.exists(), "dry run created {}", dir.display());
    assert_eq!(env.systemctl_calls(), vec!["--version"]);
}

#[test]
fn units_install_system_dry_run_names_the_system_paths() {
    let env = TestEnv::new();
    fake_manager(&env, "257 (257.9-1)");
    env.run(&["units", "install", "--system", "--dry-run"])
        .code(0)
        .stdout_has("would write /etc/systemd/system/grokmon.service\n")
        .stdout_has("would write /etc/systemd/system/grokmon.service.d/restart-steps.conf")
        .stdout_has("would run: systemctl daemon-reload\n")
        .stdout_has("would run: systemctl enable --now grokmon-check.timer grokmon-backup.timer")
        // The grokmon user comes first, from its sysusers.d file.
        .stdout_has("would write /etc/sysusers.d/grokmon.conf\n")
        .stdout_has("would run: systemd-sysusers /etc/sysusers.d/grokmon.conf\n")
        // The config says scope = user: say so, and write none.
        .stdout_has("service.scope is \"user\"");
    assert_eq!(env.systemctl_calls(), vec!["--version"]);
    // No configuration in use: a system install gets one, and the units
    // name it.
    std::fs::remove_file(env.config_path()).unwrap();
    let o = env.run(&["units", "install", "--system", "--dry-run"]);
    o.code(0)
        .stdout_has("would write /etc/grokmon/config.toml\n")
        .stdout_has("would write /etc/sysusers.d/grokmon.conf\n");
    assert!(!o.stdout.contains("service.scope is"), "{}", o.stdout);
    let order: Vec<usize> = [
        "/etc/grokmon/config.toml",
        "sysusers.d/grokmon.conf",
        "would run: systemd-sysusers",
        "would run: install -d -m 0750 -o grokmon -g grokmon /var/lib/grokmon\n",
        "system/grokmon.service\n",
        "daemon-reload",
    ]
    .iter()
    .map(|k| {
        o.stdout
            .find(k)
            .unwrap_or_else(|| panic!("{k}: {}", o.stdout))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", o.stdout);
    env.write_config("[service]\nscope = \"system\"\n");
    env.run(&["units", "print", "grokmon.service"])
        .code(0)
        .stdout_has("WantedBy=multi-user.target")
        .stdout_has("ProtectSystem=full")
        .stdout_has("\nUser=grokmon\n");
}

#[test]
fn units_install_writes_reloads_and_enables_the_timers() {
    let env = TestEnv::new();
    fake_manager(&env, "255 (255.4-1)");
    let o = env.run(&["units", "install"]);
    o.code(0)
        .stdout_has("run: systemctl --user daemon-reload")
        .stdout_has("systemctl --user enable --now grokmon")
        .stdout_has("loginctl enable-linger");
    let dir = unit_dir(&env);
    let svc = read(&dir.join("grokmon.service"));
    assert!(
        svc.contains(&format!(
            "ExecStart={BIN} --config {} run\n",
            env.config_path().display()
        )),
        "{svc}"
    );
    assert!(svc.contains("WantedBy=default.target"), "{svc}");
    let check = read(&dir.join("grokmon-check.service"));
    assert!(
        check.contains(&format!("ExecStart={BIN} --config")) && check.contains("check --quiet"),
        "{check}"
    );
    for name in unit_names() {
        assert!(dir.join(name).is_file(), "{name} not written");
    }
    assert!(dir.join("grokmon.service.d/restart-steps.conf").is_file());
    assert_eq!(
        env.systemctl_calls(),
        vec![
            "--version",
            "--user daemon-reload",
            "--user enable --now grokmon-check.timer grokmon-backup.timer",
        ],
        "install never starts or restarts grokmon.service"
    );
    // Idempotent.
    env.run(&["units", "install", "--user"])
        .code(0)
        .stdout_has(&format!("unchanged {}/grokmon.service", dir.display()));
    // No temp files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn units_install_keeps_a_hand_edited_unit_as_grokmon_old() {
    let env = TestEnv::new();
    fake_manager(&env, "255 (255.4-1)");
    env.run(&["units", "install"]).code(0);
    let dir = unit_dir(&env);
    let unit = dir.join("grokmon-check.service");
    let copy = dir.join("grokmon-check.service.grokmon-old");
    let rendered = read(&unit);
    let edited = format!("{rendered}# hand edit\nNice=10\n");
    std::fs::write(&unit, &edited).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&unit, std::fs::Permissions::from_mode(0o640)).unwrap();
    }

    // --dry-run says it would keep the copy, and writes nothing.
    env.run(&["units", "install", "--dry-run"])
        .code(0)
        .stdout_has(&format!(
            "would write {} (would keep your previous version as {})",
            unit.display(),
            copy.display()
        ));
    assert!(!copy.exists(), "dry run wrote the copy");
    assert_eq!(read(&unit), edited, "dry run changed the unit");

    env.run(&["units", "install"])
        .code(0)
        .stdout_has(&format!(
            "wrote {} (kept your previous version as {})",
            unit.display(),
            copy.display()
        ))
        .stdout_has(&format!("unchanged {}/grokmon.service\n", dir.display()));
    assert_eq!(read(&copy), edited, "the copy holds the edit");
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o640, "the copy keeps the edited file's mode");
    }
    assert_eq!(read(&unit), rendered, "the unit is the rendered one again");
    // Only the edited unit got a copy.
    let copies: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".grokmon-old"))
        .collect();
    assert_eq!(copies, vec!["grokmon-check.service.grokmon-old"]);

    // No edits since: no new copy, the kept one is left as it is.
    std::fs::write(&copy, "marker").unwrap();
    let o = env.run(&["units", "install"]);
    o.code(0)
        .stdout_has(&format!("unchanged {}", unit.display()));
    assert!(
        !o.stdout.contains("kept your previous version"),
        "{}",
        o.stdout
    );
    assert_eq!(read(&copy), "marker");
}

#[test]
fn units_install_on_old_systemd_skips_the_dropin() {
    let env = TestEnv::new();
    fake_manager(&env, "252 (252.38-1~deb12u1)");
    env.run(&["units", "install", "--user"])
        .code(0)
        .stdout_has("systemd 252 does not know RestartSteps=");
    assert!(unit_dir(&env).join("grokmon.service").is_file());
    assert!(!unit_dir(&env).join("grokmon.service.d").exists());
}

#[test]
fn units_install_without_systemd_says_what_to_do() {
    let env = TestEnv::new();
    env.fake_systemctl_no_bus();
    env.run(&["units", "install", "--user"])
        .code(1)
        .stderr_has("no running systemd")
        .stderr_has("grokmon cron");
    assert!(unit_dir(&env).join("grokmon-check.timer").is_file());
}

#[test]
fn units_print_names_the_known_units() {
    let env = TestEnv::new();
    env.run(&["units", "print", "grokmon-backup.timer"])
        .code(0)
        .stdout_has("Persistent=true");
    env.run(&["units", "print", "nope.service"])
        .code(2)
        .stderr_has("no unit named")
        .stderr_has("grokmon-check.timer");
}

const GOOD_PROPS: &str = "LoadState=loaded\nActiveState=active\nExecStart={ path=/usr/bin/grokmon ; argv[]=/usr/bin/grokmon run ; ignore_errors=no }\nRestartUSec=30s\nFragmentPath=/u/grokmon.service\nStartLimitBurst=5\nStartLimitIntervalUSec=10min\nRestart=on-failure\nRestartPreventExitStatus=78\nTimeoutStopUSec=15s\nMemoryMax=524288000\nCPUQuotaPerSecUSec=2s\nWatchdogUSec=1min\nControlGroup=/user.slice/grokmon.service\n";

#[test]
fn units_verify_reports_each_protection_not_in_force() {
    let mut env = TestEnv::new();
    let cg = env.path("cgroup");
    std::fs::create_dir_all(&cg).unwrap();
    std::fs::write(cg.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
    env.set_env("GROKMON_CGROUP_ROOT", cg.to_str().unwrap());

    env.fake_systemctl_show(GOOD_PROPS);
    env.run(&["units", "verify"])
        .code(0)
        .stdout_has("every protection is in force");

    // StartLimit* under [Service] (systemd's 10s default) and no memory controller.
    env.fake_systemctl_show(&GOOD_PROPS.replace("10min", "10s"));
    std::fs::write(cg.join("cgroup.controllers"), "cpuset cpu io pids\n").unwrap();
    env.run(&["units", "verify"])
        .code(1)
        .stdout_has("StartLimitIntervalSec: is 10s, systemd's default")
        .stdout_has("MemoryMax: is set, but the memory cgroup controller is not enabled")
        .stdout_has("cgroup_enable=memory")
        .stdout_has("2 protection(s) not in force");
    assert!(
        env.systemctl_calls()
            .iter()
            .all(|c| c.starts_with("--user show grokmon.service")),
        "{:?}",
        env.systemctl_calls()
    );

    // Installed, never started: systemd 252 reports WatchdogUSec=infinity
    // then; the unit file says 60.
    std::fs::write(cg.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
    let frag = env.path("grokmon.service");
    std::fs::write(&frag, "[Service]\nWatchdogSec=60\n").unwrap();
    env.fake_systemctl_show(
        &GOOD_PROPS
            .replace("ActiveState=active", "ActiveState=inactive")
            .replace("WatchdogUSec=1min", "WatchdogUSec=infinity")
            .replace("/u/grokmon.service", frag.to_str().unwrap()),
    );
    env.run(&["units", "verify"])
        .code(0)
        .stdout_has("WatchdogSec=1m (from the unit files: not running)");
    std::fs::write(&frag, "[Service]\nType=notify\n").unwrap();
    env.run(&["units", "verify"])
        .code(1)
        .stdout_has("WatchdogSec: is off");

    // A plain app (not `grokmon run`): no watchdog, no 78, no limits asked.
    env.fake_systemctl_show(
        &GOOD_PROPS
            .replace("/usr/bin/grokmon run", "/opt/app/bin/app --serve")
            .replace("/usr/bin/grokmon ;", "/opt/app/bin/app ;")
            .replace("WatchdogUSec=1min", "WatchdogUSec=0")
            .replace("RestartPreventExitStatus=78", "RestartPreventExitStatus=")
            .replace("MemoryMax=524288000", "MemoryMax=infinity"),
    );
    env.run(&["units", "verify"])
        .code(0)
        .stdout_has("rules for any service")
        .stdout_has("every protection is in force");
}

#[test]
fn cron_prints_the_crontab_equivalent() {
    let env = TestEnv::new();
    env.run(&["cron"])
        .code(0)
        .stdout_has(&format!(
            "*/5 * * * * {BIN} --config {} check --quiet\n",
            env.config_path().display()
        ))
        .stdout_has(" backup\n");
}

// ---- restart ---------------------------------------------------------------

/// A fake systemctl: `show` prints `props`, `is-active` prints `state`,
/// everything else (restart) succeeds.
fn fake_service(env: &TestEnv, props: &str, state: &str) {
    let f = env.path("systemctl.show");
    std::fs::write(&f, props).unwrap();
    env.fake_systemctl(&format!(
        "case \"$*\" in *' show '*) cat '{}';; *is-active*) echo {state};; *) exit 0;; esac",
        f.display()
    ));
}

const ACTIVE: &str = "LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nNRestarts=0\nMainPID=42\n";

fn restart_env(server: &Server, wait: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.write_config(&format!(
        "[check]\nprobes = [\"api\", \"service\"]\n[check.api]\nurl = \"{}\"\ntimeout = \"2s\"\n[restart]\nwait = \"{wait}\"\n",
        server.url("/api/health")
    ));
    env.set_env("USER", "alice");
    env
}

fn healthy_server() -> Server {
    Server::start(|_| Response::json(200, r#"{"status":"healthy"}"#))
}

fn restarts(env: &TestEnv) -> usize {
    env.systemctl_calls()
        .iter()
        .filter(|c| c.split_whitespace().any(|w| w == "restart"))
        .count()
}

#[track_caller]
fn only_show_called(env: &TestEnv) {
    let calls = env.systemctl_calls();
    assert!(
        calls.iter().all(|c| c.starts_with("--user show ")),
        "a refused restart called more than show: {calls:?}"
    );
}

#[test]
fn restart_refuses_callers_that_are_not_a_person() {
    let server = healthy_server();
    let mut env = restart_env(&server, "2s");
    fake_service(&env, ACTIVE, "active");
    // From cron: no terminal, no --yes.
    env.run(&["restart"])
        .code(1)
        .stderr_has("no terminal")
        .stderr_has("never automatic");
    env.run(&["restart", "--yes"])
        .code(1)
        .stderr_has("needs --reason");
    // Under systemd, even with --yes --reason.
    env.set_env("INVOCATION_ID", "0123456789abcdef");
    env.run(&["restart", "--yes", "--reason", "x"])
        .code(1)
        .stderr_has("under systemd");
    assert_eq!(env.systemctl_calls(), Vec::<String>::new());
    assert!(env.alert_lines().is_empty());
}

#[test]
fn restart_refuses_while_a_restart_is_under_way() {
    let server = healthy_server();
    let env = restart_env(&server, "2s");
    fake_service(
        &env,
        "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\n",
        "activating",
    );
    env.run(&["restart", "--yes", "--reason", "x"])
        .code(1)
        .stderr_has("already under way")
        .stderr_has("--force");
    only_show_called(&env);
    assert_eq!(restarts(&env), 0);
}

#[test]
fn restart_refuses_when_systemd_gave_up_even_with_force() {
    let server = healthy_server();
    let env = restart_env(&server, "2s");
    fake_service(
        &env,
        "LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=start-limit-hit\n",
        "failed",
    );
    env.run(&["restart", "--yes", "--reason", "x", "--force"])
        .code(1)
        .stderr_has("journalctl --user -u grokmon -n 100")
        .stderr_has("systemctl --user reset-failed grokmon");
    only_show_called(&env);
}

#[test]
fn restart_happy_path_restarts_once_waits_and_records() {
    let server = healthy_server();
    let env = restart_env(&server, "5s");
    fake_service(&env, ACTIVE, "active");
    std::fs::write(
        env.alerts_log(),
        "2026-11-28T11:40:13Z CRIT api: unreachable: connection refused (2 checks, since 11:35:13Z)\n",
    )
    .unwrap();
    std::fs::set_permissions(
        env.alerts_log(),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let o = env.run(&["restart", "--yes", "--reason", "stuck sensor"]);
    o.code(0)
        .stdout_has("review of grokmon.service (user)")
        .stdout_has("state:     active (running), pid 42")
        .stdout_has("current checks:")
        .stdout_has("unreviewed alerts: 1")
        .stdout_has("CRIT api: unreachable")
        .stdout_has("active and healthy after");
    let calls = env.systemctl_calls();
    assert_eq!(restarts(&env), 1, "{calls:?}");
    let i = calls
        .iter()
        .position(|c| c == "--user restart grokmon.service")
        .expect("restart call");
    assert!(
        calls[..i].iter().all(|c| c.starts_with("--user show ")),
        "{calls:?}"
    );
    assert!(
        calls[i + 1..]
            .iter()
            .all(|c| c == "--user is-active grokmon.service"),
        "{calls:?}"
    );
    assert!(!server.requests().is_empty());
    let last = env.alert_lines().pop().unwrap();
    assert!(
        last.contains(" INFO restart: grokmon.service restarted by alice: \"stuck sensor\" (active and healthy after "),
        "{last}"
    );

    // Within the cooldown: refused, nothing restarted.
    env.run(&["restart", "--yes", "--reason", "again"])
        .code(1)
        .stderr_has("restart.cooldown");
    assert_eq!(restarts(&env), 1);
    // --force overrides the cooldown.
    env.run(&["restart", "--yes", "--reason", "again", "--force"])
        .code(0);
    assert_eq!(restarts(&env), 2);
}

#[test]
fn restart_that_does_not_come_back_is_crit() {
    let server = Server::start(|_| Response::json(503, r#"{"status":"starting"}"#));
    let env = restart_env(&server, "1s");
    fake_service(&env, ACTIVE, "activating");
    env.run(&["restart", "--yes", "--reason", "hung"])
        .code(1)
        .stderr_has("still activating after 1s");
    assert_eq!(restarts(&env), 1);
    let last = env.alert_lines().pop().unwrap();
    assert!(
        last.contains(
            " CRIT restart: grokmon.service restart by alice: \"hung\" failed: still activating"
        ),
        "{last}"
    );
}

/// Runs `grokmon ARGS` on a pseudo-terminal (util-linux `script`), typing
/// `input`; `None` when `script` is not available.
fn run_on_terminal(env: &TestEnv, args: &str, input: &str) -> Option<Out> {
    if !Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("note: util-linux script not found; terminal test skipped");
        return None;
    }
    let base = env.cmd(&[]);
    let mut c = Command::new("script");
    c.env_clear()
        .args(["-qec", &format!("{BIN} {args}"), "/dev/null"])
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let mut child = c.spawn().expect("run script");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    Some(Out::of(&[args], o))
}

#[test]
fn restart_at_a_terminal_asks_for_the_unit_name() {
    let server = healthy_server();
    let env = restart_env(&server, "2s");
    fake_service(&env, ACTIVE, "active");
    // A wrong answer restarts nothing.
    let Some(o) = run_on_terminal(&env, "restart", "testing\ny\n") else {
        return;
    };
    o.code(1)
        .stdout_has("type \"grokmon\" to restart grokmon.service")
        .stdout_has("not confirmed; nothing was restarted");
    assert_eq!(restarts(&env), 0);
    assert!(env.alert_lines().is_empty());
    // The unit's name confirms; the reason typed is recorded.
    let o = run_on_terminal(&env, "restart", "sensor stuck\ngrokmon\n").unwrap();
    o.code(0).stdout_has("active and healthy after");
    assert_eq!(restarts(&env), 1);
    let last = env.alert_lines().pop().unwrap();
    assert!(
        last.contains("restarted by alice: \"sensor stuck\""),
        "{last}"
    );
}

// ---- man pages, completions, packaging, example config ----------------------

#[test]
fn man_pages_in_sync() {
    let pages = grokmon::docs::render_pages().unwrap();
    let dir = repo("man");
    let mut checked_in: Vec<String> = std::fs::read_dir(&dir)
        .expect("man/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    checked_in.sort();
    let names: Vec<String> = pages.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        checked_in, names,
        "man/ has other pages than the CLI: regenerate with `cargo run -- man man`"
    );
    for (name, content) in &pages {
        assert!(
            std::fs::read(dir.join(name)).unwrap() == *content,
            "man/{name} is out of date: regenerate with `cargo run -- man man`"
        );
    }
}

#[test]
fn man_command_writes_the_pages() {
    let env = TestEnv::new();
    let out = env.path("pages");
    env.run(&["man", out.to_str().unwrap()])
        .code(0)
        .stdout_has("man pages");
    let page = read(&out.join("grokmon-restart.1"));
    assert!(page.contains(".TH grokmon-restart 1"), "{page}");
    assert!(out.join("grokmon.toml.5").is_file());
}

#[test]
fn completions_generate_for_each_shell() {
    let env = TestEnv::new();
    for (shell, needle) in [
        ("bash", "_grokmon()"),
        ("zsh", "#compdef grokmon"),
        ("fish", "complete -c grokmon"),
    ] {
        let o = env.run(&["completions", shell]);
        o.code(0).stdout_has(needle).stdout_has("restart");
        if shell == "bash" {
            let f = env.path("grokmon.bash");
            std::fs::write(&f, &o.stdout).unwrap();
            let st = Command::new("bash").arg("-n").arg(&f).status().unwrap();
            assert!(st.success(), "bash completion has a syntax error");
        }
    }
    env.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn deb_metadata_lists_existing_assets() {
    let cargo: toml::Value = toml::from_str(&read(&repo("Cargo.toml"))).unwrap();
    let deb = &cargo["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().expect("assets");
    let mut dests = Vec::new();
    for a in assets {
        let a = a.as_array().unwrap();
        let (src, dest) = (a[0].as_str().unwrap(), a[1].as_str().unwrap());
        dests.push(dest.to_string());
        if src.starts_with("target/") {
            continue;
        }
        if let Some(ext) = src.strip_prefix("man/*") {
            let n = std::fs::read_dir(repo("man"))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(ext))
                })
                .count();
            assert!(n > 0, "no man pages match {src}");
        } else {
            assert!(repo(src).is_file(), "deb asset {src} does not exist");
        }
    }
    for want in [
        "usr/bin/",
        "lib/systemd/system/",
        "usr/lib/systemd/user/",
        "usr/share/man/man1/",
        "usr/share/man/man5/",
        "usr/share/doc/grokmon/",
    ] {
        assert!(dests.iter().any(|d| d == want), "no asset goes to {want}");
    }
    // Every unit ships in both places.
    for name in unit_names() {
        for dir in ["systemd/", "systemd/user/"] {
            let src = format!("{dir}{name}");
            assert!(
                assets.iter().any(|a| a[0].as_str() == Some(&src)),
                "{src} is not packaged"
            );
        }
    }
}

/// The example config lists every key with its default: uncommenting every
/// `#key = value` and `#[section]` line gives exactly the built-in defaults.
#[test]
fn example_config_lists_the_defaults() {
    let text = read(&repo("examples/config.toml"));
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '[') => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let env = Env {
        home: Some("/home/u".into()),
        ..Env::default()
    };
    let parsed = Config::parse(&uncommented, Source::Defaults, &env)
        .unwrap_or_else(|e| panic!("uncommented example does not parse: {e}"));
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", Config::defaults(&env))
    );
    // Every top-level section is present.
    for s in [
        "[paths]",
        "[service]",
        "[check]",
        "[check.api]",
        "[check.thresholds]",
        "[alerts]",
        "[backup]",
        "[orchestrator]",
        "[ai]",
        "[restart]",
        "[[sensor]]",
        "[[action]]",
        "[[notify]]",
    ] {
        assert!(text.contains(s), "examples/config.toml lacks {s}");
    }
    // The commented-out examples of the repeated sections parse too.
    let examples: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|l| format!("{l}\n"))
        .collect();
    let cfg = Config::parse(&examples, Source::Defaults, &env)
        .unwrap_or_else(|e| panic!("the ## examples do not parse: {e}\n{examples}"));
    assert!(!cfg.sensors.is_empty() && !cfg.actions.is_empty() && !cfg.notify.is_empty());
}
