//! Regression tests for the bugs found in QA, each named after its bug.

use std::time::{Duration, Instant};

use crate::util::*;

/// Runs the binary, killing it (and failing the test) if it hangs: the bug
/// these guard against is a hang, so waiting forever is not an option.
fn run_or_kill(env: &TestEnv, args: &[&str]) -> Out {
    let mut child = env
        .cmd(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn grokmon");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("grokmon {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Out::of(args, child.wait_with_output().expect("output"))
}

#[test]
fn a_fifo_at_the_alerts_log_path_does_not_hang_readers() {
    let env = TestEnv::new();
    let log = env.alerts_log();
    let c = std::ffi::CString::new(log.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    env.fake_systemctl_no_bus();
    for args in [
        &["alerts", "tail"][..],
        &["alerts", "ack"],
        &["alerts", "tail", "--unreviewed"],
    ] {
        run_or_kill(&env, args)
            .code(1)
            .stderr_has("is not a regular file");
    }
    // status still works and says what it could not read.
    run_or_kill(&env, &["status"])
        .code(0)
        .stdout_has("is not a regular file");
}

#[test]
fn a_directory_at_the_database_path_is_not_reported_ok() {
    let env = TestEnv::new();
    env.write_config("[check]\nprobes = [\"database\"]\n");
    std::fs::create_dir_all(env.database()).unwrap();
    let v = env.run(&["check", "--format", "json"]).code(2).json();
    let db = &v["probes"][0];
    assert_eq!(db["status"], "crit", "{db}");
    assert!(
        db["message"]
            .as_str()
            .unwrap()
            .contains("is not a regular file"),
        "{db}"
    );
}

#[test]
fn errors_do_not_repeat_their_cause() {
    let env = TestEnv::new();
    // A state database that is a directory, and an alerts log in a missing,
    // uncreatable place: each error names its cause once.
    let state = env.path("state-is-a-dir.db");
    std::fs::create_dir_all(&state).unwrap();
    env.write_config_with_paths(&format!("state = \"{}\"\n", state.display()), "");
    let out = env.run(&["alerts", "ack"]);
    out.code(1).stderr_has("state-is-a-dir.db");
    let cause = "unable to open database file";
    assert_eq!(out.stderr.matches(cause).count(), 1, "{}", out.stderr);

    let env = TestEnv::new();
    std::fs::write(
        env.config_path(),
        "[paths]\nalerts_log = \"/proc/nonexistent/grokmon_alerts.log\"\n[check]\nprobes = [\"database\"]\nconfirm_after = 1\n",
    )
    .unwrap();
    let out = env.run(&["check"]);
    out.code(3).stderr_has("cannot write alerts log");
    let n = out.stderr.matches("(os error").count();
    assert_eq!(n, 1, "{}", out.stderr);
}

#[test]
fn status_does_not_say_none_yet_when_it_cannot_read() {
    let env = TestEnv::new();
    env.fake_systemctl_no_bus();
    let state = env.path("state-is-a-dir.db");
    std::fs::create_dir_all(&state).unwrap();
    let backups = env.path("backups-is-a-file");
    std::fs::write(&backups, b"not a directory").unwrap();
    env.write_config_with_paths(
        &format!(
            "state = \"{}\"\nbackups = \"{}\"\n",
            state.display(),
            backups.display()
        ),
        "",
    );
    let out = env.run(&["status"]);
    out.code(0)
        .stdout_has("checks  unknown (state database unreadable)")
        .stdout_has("backups  unknown (");
    assert!(
        !out.stdout.contains("no check has run yet"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("none yet"), "{}", out.stdout);
}

#[test]
fn restore_does_not_go_on_when_systemctl_cannot_tell_the_state() {
    let env = TestEnv::new();
    env.create_database();
    env.run(&["backup"]).code(0);
    let backup = std::fs::read_dir(env.backups())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".db.zst"))
        .expect("a backup");
    let before = std::fs::read(env.database()).unwrap();
    // is-active prints no state, only an error: whether the service runs is unknown.
    env.fake_systemctl("echo 'Failed to get unit state: Access denied' >&2; exit 4");
    let b = backup.to_str().unwrap();
    env.run(&["backup", "restore", b, "--yes"])
        .code(1)
        .stderr_has("cannot tell whether grokmon.service is running")
        .stderr_has("Access denied")
        .stderr_has("--force");
    assert_eq!(
        std::fs::read(env.database()).unwrap(),
        before,
        "database replaced"
    );
    // --force goes on, with a warning.
    env.run(&["backup", "restore", b, "--yes", "--force"])
        .code(0)
        .stderr_has("warning: cannot tell whether grokmon.service is running");
}

#[test]
fn a_future_dated_backup_does_not_hide_that_backups_stopped() {
    let env = TestEnv::new();
    env.write_config("[check]\nprobes = [\"backups\"]\n");
    std::fs::create_dir_all(env.backups()).unwrap();
    let name =
        |t: chrono::DateTime<chrono::Utc>| t.format("grokmon-%Y%m%dT%H%M%SZ.db.zst").to_string();
    let now = chrono::Utc::now();
    // The real backups stopped 3 days ago (CRIT at 50h); one file is dated
    // in the future by a clock that once jumped.
    std::fs::write(
        env.backups().join(name(now - chrono::Duration::days(3))),
        b"x",
    )
    .unwrap();
    std::fs::write(
        env.backups().join(name(now + chrono::Duration::days(400))),
        b"x",
    )
    .unwrap();
    let v = env.run(&["check", "--format", "json"]).code(2).json();
    let b = &v["probes"][0];
    assert_eq!(b["status"], "crit", "{b}");
    let msg = b["message"].as_str().unwrap();
    assert!(msg.contains("3d old"), "{b}");
    assert!(msg.contains("dated in the future"), "{b}");
}

#[test]
fn status_does_not_call_a_future_dated_backup_the_newest() {
    let env = TestEnv::new();
    env.fake_systemctl_no_bus();
    std::fs::create_dir_all(env.backups()).unwrap();
    let name =
        |t: chrono::DateTime<chrono::Utc>| t.format("grokmon-%Y%m%dT%H%M%SZ.db.zst").to_string();
    let now = chrono::Utc::now();
    let real = name(now - chrono::Duration::hours(3));
    let future = name(now + chrono::Duration::days(400));
    std::fs::write(env.backups().join(&real), b"x").unwrap();
    std::fs::write(env.backups().join(&future), b"x").unwrap();
    let out = env.run(&["status"]);
    out.code(0)
        .stdout_has(&format!("backups  newest {real}, 3h"))
        .stdout_has("is dated in the future");
    let v = env.run(&["status", "--json"]).code(0).json();
    assert!(
        v["backups"]["newest"].as_str().unwrap().ends_with(&real),
        "{v}"
    );
}

#[test]
fn status_marks_a_probe_the_last_check_did_not_run() {
    let env = TestEnv::new();
    env.fake_systemctl_no_bus();
    // The API probe fails and alerts, then is taken out of check.probes.
    env.write_config(
        "[check]\nprobes = [\"api\", \"memory\"]\nconfirm_after = 1\n[check.api]\nurl = \"http://127.0.0.1:9/api/health\"\ntimeout = \"1s\"\n",
    );
    env.run(&["check"]).code(2);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.write_config("[check]\nprobes = [\"memory\"]\nconfirm_after = 1\n");
    env.run(&["check"]);
    let out = env.run(&["status"]);
    let api = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("api "))
        .unwrap_or_else(|| panic!("no api row:\n{}", out.stdout));
    assert!(api.contains("not in the last check"), "{api}");
    let memory = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("memory "))
        .unwrap();
    assert!(!memory.contains("not in the last check"), "{memory}");
}

#[test]
fn backup_verify_defaults_to_the_newest_backup_not_in_the_future() {
    let env = TestEnv::new();
    env.create_database();
    env.run(&["backup"]).code(0);
    let real = std::fs::read_dir(env.backups())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".db.zst"))
        .expect("a backup");
    // A copy dated in the future, damaged: verifying it would fail.
    let future = (chrono::Utc::now() + chrono::Duration::days(400))
        .format("grokmon-%Y%m%dT%H%M%SZ.db.zst")
        .to_string();
    std::fs::write(env.backups().join(&future), b"damaged").unwrap();
    env.run(&["backup", "verify"])
        .code(0)
        .stdout_has(&format!("ok: {real}"));
}

#[test]
fn a_huge_duration_does_not_make_check_panic() {
    let env = TestEnv::new();
    env.write_config("[check]\nprobes = [\"memory\"]\nkeep_samples = \"100000000000d\"\n");
    let out = env.run(&["check"]);
    out.code(3)
        .stderr_has("100000000000d")
        .stderr_has("too long");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // At the limit, every probe and the policy still work.
    env.write_config(
        "[check]\nprobes = [\"memory\", \"backups\", \"forecast\"]\nkeep_samples = \"1000y\"\nrenotify = \"1000y\"\nforecast_horizon = \"1000y\"\n",
    );
    let out = env.run(&["check"]);
    assert!(matches!(out.code, 0..=2), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn backup_and_restart_lines_are_notified_like_check_lines() {
    let hook = Server::start(|_| Response::json(200, "{}"));
    let env = TestEnv::new();
    env.write_config_with_paths(
        "database = \"/nonexistent/grokmon.db\"\n",
        &format!(
            "[[notify]]\nkind = \"webhook\"\nformat = \"json\"\nurl = \"{}\"\nmin_level = \"info\"\n[restart]\nwait = \"1s\"\ncooldown = \"1s\"\n[check]\nprobes = [\"service\"]\n",
            hook.url("/hook/secret")
        ),
    );
    // A failed nightly backup (CRIT) must reach the phone, not only the log.
    env.run(&["backup"]).code(1);
    // A restart that did not come back, too.
    env.fake_systemctl(
        "case \"$*\" in *' show '*) printf 'LoadState=loaded\\nActiveState=active\\n';; *is-active*) echo failed;; *) exit 0;; esac",
    );
    env.run(&["restart", "--yes", "--reason", "qa"]).code(1);
    let sent: Vec<serde_json::Value> = hook
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let lines = env.alert_lines();
    // The restart's automatic silence is an INFO line, sent at min_level info.
    assert_eq!(sent.len(), 3, "{sent:?}\n{lines:?}");
    assert_eq!(sent[0]["source"], "backup");
    assert_eq!(sent[0]["level"], "CRIT");
    assert_eq!(sent[1]["source"], "silence");
    assert_eq!(sent[1]["level"], "INFO");
    assert_eq!(sent[2]["source"], "restart");
    assert_eq!(sent[2]["level"], "CRIT");
    for s in &sent {
        assert!(
            lines.contains(&s["line"].as_str().unwrap().to_string()),
            "{s}"
        );
    }
}
