//! `units install` never takes over a unit it did not write (`--replace`,
//! `--timers-only`), against the fake systemctl.

use crate::util::{TestEnv, read};

const APP_UNIT: &str = "[Unit]\nDescription=grow room app\n[Service]\nExecStart=/opt/growroom/venv/bin/python -m growroom\nRestart=always\n[Install]\nWantedBy=default.target\n";

fn setup() -> (TestEnv, std::path::PathBuf) {
    let env = TestEnv::new();
    env.fake_systemctl(
        "case \"$*\" in --version) echo 'systemd 252 (252.38-1~deb12u1)';; *) exit 0;; esac",
    );
    let dir = env.home.join(".config/systemd/user");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("grokmon.service"), APP_UNIT).unwrap();
    (env, dir)
}

#[test]
fn install_refuses_to_take_over_anothers_grokmon_service() {
    let (env, dir) = setup();
    for args in [
        &["units", "install"][..],
        &["units", "install", "--dry-run"][..],
    ] {
        env.run(args)
            .code(1)
            .stderr_has("refusing to take over a unit grokmon did not write")
            .stderr_has("it runs /opt/growroom/venv/bin/python")
            .stderr_has("Nothing was written")
            .stderr_has("--timers-only")
            .stderr_has("--replace");
    }
    assert_eq!(read(&dir.join("grokmon.service")), APP_UNIT, "left alone");
    assert!(!dir.join("grokmon-check.timer").exists(), "nothing written");
    assert!(!dir.join("grokmon.service.grokmon-old").exists());
    assert_eq!(env.systemctl_calls(), vec!["--version", "--version"]);
}

#[test]
fn timers_only_installs_the_check_and_backup_and_leaves_the_service() {
    let (env, dir) = setup();
    let o = env.run(&["units", "install", "--timers-only"]);
    o.code(0)
        .stdout_has("grokmon.service not written (--timers-only)")
        .stdout_has("done: 4 written (grokmon-check.service, grokmon-check.timer, grokmon-backup.service, grokmon-backup.timer), 0 unchanged");
    assert!(!o.stdout.contains("enable --now grokmon`"), "{}", o.stdout);
    assert_eq!(read(&dir.join("grokmon.service")), APP_UNIT);
    for n in [
        "grokmon-check.service",
        "grokmon-check.timer",
        "grokmon-backup.service",
        "grokmon-backup.timer",
    ] {
        assert!(dir.join(n).is_file(), "{n}");
    }
    assert_eq!(
        env.systemctl_calls(),
        vec![
            "--version",
            "--user daemon-reload",
            "--user enable --now grokmon-check.timer grokmon-backup.timer"
        ]
    );
}

#[test]
fn replace_takes_over_keeping_the_old_file_and_says_so() {
    let (env, dir) = setup();
    env.run(&["units", "install", "--replace"])
        .code(0)
        .stdout_has(&format!(
            "wrote {}/grokmon.service (kept your previous version as {}/grokmon.service.grokmon-old)",
            dir.display(),
            dir.display()
        ))
        .stdout_has("--replace:")
        .stdout_has("it runs /opt/growroom/venv/bin/python")
        .stdout_has("done: 5 written");
    assert_eq!(read(&dir.join("grokmon.service.grokmon-old")), APP_UNIT);
    assert!(read(&dir.join("grokmon.service")).contains("grokmon"));
    // grokmon's own (even hand-edited) units are replaced without --replace.
    std::fs::write(
        dir.join("grokmon.service"),
        format!("{}\n# edit\n", read(&dir.join("grokmon.service"))),
    )
    .unwrap();
    env.run(&["units", "install"])
        .code(0)
        .stdout_has("done: 1 written");
}

/// Item: the rendered system units are hardened: at most 4.0 in
/// `systemd-analyze security --offline=true` (it scores a unit file without a
/// running systemd). The real-systemd tier runs all three under systemd.
#[test]
fn system_units_score_at_most_4_in_systemd_analyze_security() {
    if !std::path::Path::new("/usr/bin/systemd-analyze").exists() {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("systemd-analyze not installed under CI");
        }
        eprintln!("skipped: systemd-analyze not installed");
        return;
    }
    let env = TestEnv::new();
    env.write_config("[service]\nscope = \"system\"\n");
    for unit in [
        "grokmon.service",
        "grokmon-check.service",
        "grokmon-backup.service",
    ] {
        let o = env.run(&["units", "print", unit]);
        o.code(0);
        let path = env.path(unit);
        std::fs::write(&path, &o.stdout).unwrap();
        let out = std::process::Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let score: f64 = text
            .lines()
            .find_map(|l| {
                l.split_once("Overall exposure level for ")?
                    .1
                    .split_once(": ")?
                    .1
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| {
                panic!(
                    "no score for {unit}\n{text}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        eprintln!("{unit}: {score}");
        assert!(score <= 4.0, "{unit} scores {score}\n{text}");
    }
}
