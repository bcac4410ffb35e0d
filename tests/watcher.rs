//! Who watches the watcher (issue 13): heartbeats to loopback receivers
//! after each check, `run` noticing that checks stopped, silences, and the
//! automatic silence of `restart`. The heartbeat URL holds a sentinel token
//! that must never show up in any output, the log or the state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::util::*;

/// Stands for the secret part of a heartbeat URL.
const SENTINEL: &str = "hbSENTINEL7f3a9c";

/// An API whose health is switched by `up`.
fn api(up: Arc<AtomicBool>) -> Server {
    Server::start(move |_| {
        if up.load(Ordering::SeqCst) {
            Response::json(200, r#"{"status":"healthy"}"#)
        } else {
            Response::text(502, b"bad gateway")
        }
    })
}

/// A config that probes only `api`, then `extra`.
fn check_env(api: &Server, confirm_after: u32, extra: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.write_config(&format!(
        "[check]\nconfirm_after = {confirm_after}\nprobes = [\"api\"]\n[check.api]\nurl = \"{}\"\ntimeout = \"2s\"\n{extra}",
        api.url("/api/health")
    ));
    env.set_env("USER", "alice");
    env
}

fn heartbeat(receiver: &Server, format: &str, path: &str) -> String {
    format!(
        "[heartbeat]\nurl = \"{}\"\nformat = \"{format}\"\ntimeout = \"2s\"\n",
        receiver.url(path)
    )
}

fn webhook(hook: &Server) -> String {
    format!(
        "[[notify]]\nkind = \"webhook\"\nformat = \"json\"\nurl = \"{}\"\nmin_level = \"warn\"\n",
        hook.url("/hook")
    )
}

/// The secret is in no output, nor in the log or the state database.
#[track_caller]
fn secret_kept(env: &TestEnv, outs: &[&Out]) {
    for o in outs {
        assert!(
            !o.stdout.contains(SENTINEL) && !o.stderr.contains(SENTINEL),
            "the heartbeat URL leaked: {:?}\n{}\n{}",
            o.args,
            o.stdout,
            o.stderr
        );
    }
    assert!(!read(&env.alerts_log()).contains(SENTINEL), "in the log");
    for f in ["state.db", "state.db-wal"] {
        let p = env.home.join(".local/state/grokmon").join(f);
        let bytes = std::fs::read(&p).unwrap_or_default();
        assert!(
            !bytes
                .windows(SENTINEL.len())
                .any(|w| w == SENTINEL.as_bytes()),
            "in {}",
            p.display()
        );
    }
}

fn body(r: &Request) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn heartbeat_healthchecks_posts_url_when_ok_and_url_fail_when_crit() {
    let up = Arc::new(AtomicBool::new(true));
    let api = api(up.clone());
    let hc = Server::start(|_| Response::text(200, b"OK"));
    let path = format!("/ping/{SENTINEL}");
    let env = check_env(&api, 2, &heartbeat(&hc, "healthchecks", &path));

    let ok = env.run(&["check"]);
    ok.code(0);
    let reqs = hc.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", path.as_str())
    );
    assert_eq!(body(&reqs[0]), "OK - 1 probes ok");

    up.store(false, Ordering::SeqCst);
    let crit = env.run(&["check", "--format", "json"]);
    crit.code(2);
    let reqs = hc.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].method, "POST");
    assert_eq!(reqs[1].path, format!("{path}/fail"));
    assert!(
        body(&reqs[1]).starts_with("CRITICAL - api: HTTP 502"),
        "{}",
        body(&reqs[1])
    );
    // A delivered heartbeat writes no line.
    assert!(env.alert_lines().is_empty(), "{:?}", env.alert_lines());
    let status = env.run(&["status"]);
    secret_kept(&env, &[&ok, &crit, &status]);
}

#[test]
fn heartbeat_uptime_kuma_gets_status_msg_and_ping() {
    let up = Arc::new(AtomicBool::new(true));
    let api = api(up.clone());
    let kuma = Server::start(|_| Response::json(200, r#"{"ok":true}"#));
    // The push URL as Uptime Kuma shows it, defaults included.
    let path = format!("/api/push/{SENTINEL}?status=up&msg=OK&ping=");
    let env = check_env(&api, 2, &heartbeat(&kuma, "uptime-kuma", &path));
    let ok = env.run(&["check"]);
    ok.code(0);
    up.store(false, Ordering::SeqCst);
    let crit = env.run(&["check"]);
    crit.code(2);
    let reqs = kuma.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let prefix = format!("/api/push/{SENTINEL}?status=up&msg=OK+-+1+probes+ok&ping=");
    assert_eq!(reqs[0].method, "GET");
    assert!(reqs[0].path.starts_with(&prefix), "{}", reqs[0].path);
    let ms = &reqs[0].path[prefix.len()..];
    assert!(
        ms.parse::<u64>().is_ok(),
        "ping is the check's milliseconds: {ms:?}"
    );
    assert_eq!(reqs[1].method, "GET");
    assert!(
        reqs[1].path.starts_with(&format!(
            "/api/push/{SENTINEL}?status=down&msg=CRITICAL+-+api%3A+HTTP+502"
        )),
        "{}",
        reqs[1].path
    );
    secret_kept(&env, &[&ok, &crit]);
}

#[test]
fn a_failing_heartbeat_is_retried_then_one_confirmed_warn_and_never_changes_the_status() {
    let api = api(Arc::new(AtomicBool::new(true)));
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let hc = Server::start(move |_| {
        if h.load(Ordering::SeqCst) {
            Response::text(200, b"OK")
        } else {
            Response::text(500, format!("error for /ping/{SENTINEL}").as_bytes())
        }
    });
    let env = check_env(
        &api,
        2,
        &heartbeat(&hc, "healthchecks", &format!("/ping/{SENTINEL}")),
    );
    // First failure: retried (3 attempts), not yet confirmed, check still OK.
    let first = env.run(&["check"]);
    first.code(0);
    assert_eq!(hc.requests().len(), 3, "retried like notifications");
    assert!(env.alert_lines().is_empty(), "{:?}", env.alert_lines());
    // Second: one WARN heartbeat line, the check still OK.
    let second = env.run(&["check"]);
    second.code(0);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(
            " WARN heartbeat: healthchecks up not delivered: HTTP 500 (attempt 3 of 3) (2 checks, since "
        ),
        "{}",
        lines[0]
    );
    // Third: no repeat before renotify.
    let third = env.run(&["check", "--format", "nagios"]);
    third.code(0);
    assert_eq!(env.alert_lines().len(), 1);
    // Delivered again: one OK line.
    healthy.store(true, Ordering::SeqCst);
    let fourth = env.run(&["check"]);
    fourth.code(0);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].contains(" OK   heartbeat: recovered after "),
        "{}",
        lines[1]
    );
    let tail = env.run(&["alerts", "tail", "--json"]);
    let status = env.run(&["status", "--json"]);
    secret_kept(&env, &[&first, &second, &third, &fourth, &tail, &status]);
}

#[test]
fn an_unreachable_heartbeat_receiver_is_named_without_the_url() {
    let api = api(Arc::new(AtomicBool::new(true)));
    let port = free_port();
    let env = check_env(
        &api,
        1,
        &format!(
            "[heartbeat]\nurl = \"http://127.0.0.1:{port}/ping/{SENTINEL}\"\ntimeout = \"1s\"\n"
        ),
    );
    let out = env.run(&["check"]);
    out.code(0);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" WARN heartbeat: healthchecks up not delivered: cannot connect: "),
        "{}",
        lines[0]
    );
    secret_kept(&env, &[&out]);
}

#[test]
fn bad_watcher_config_names_the_key_exit_3_for_check_78_for_run() {
    let env = TestEnv::new();
    for (extra, key) in [
        (
            format!("[heartbeat]\nurl = \"https://hc.example/{SENTINEL}\"\nformat = \"pager\"\n"),
            "heartbeat.format",
        ),
        (
            format!("[heartbeat]\nurl = \"ftp://hc.example/{SENTINEL}\"\n"),
            "heartbeat.url",
        ),
        (
            format!("[heartbeat]\nurl = \"https://hc.example/{SENTINEL}\"\ntimeout = \"0s\"\n"),
            "heartbeat.timeout",
        ),
        (
            format!("[heartbeat]\nurl = \"https://hc.example/{SENTINEL}\"\nperiod = \"1m\"\n"),
            "period",
        ),
        ("[check]\ninterval = \"0s\"\n".to_string(), "check.interval"),
        (
            "[check]\ninterval = \"30d\"\n".to_string(),
            "check.interval",
        ),
    ] {
        env.write_config(&extra);
        let c = env.run(&["check"]);
        c.code(3).stderr_has(key);
        let r = env.run(&["run"]);
        r.code(78).stderr_has(key);
        secret_kept(&env, &[&c, &r]);
    }
}

#[test]
fn a_silenced_outage_is_logged_not_notified_and_its_end_notifies_once() {
    let up = Arc::new(AtomicBool::new(false));
    let api = api(up.clone());
    let hook = Server::start(|_| Response::json(200, "{}"));
    let hc = Server::start(|_| Response::text(200, b"OK"));
    let env = check_env(
        &api,
        1,
        &format!(
            "{}{}",
            webhook(&hook),
            heartbeat(&hc, "healthchecks", &format!("/ping/{SENTINEL}"))
        ),
    );
    let s = env.run(&[
        "alerts",
        "silence",
        "30m",
        "--reason",
        "firmware upgrade",
        "--source",
        "api",
    ]);
    s.code(0).stdout_has("silence #1 until ");
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" INFO silence: #1 by alice until ")
            && lines[0].ends_with(" (30m) for api: \"firmware upgrade\""),
        "{}",
        lines[0]
    );
    env.run(&["alerts", "silence", "--list"])
        .code(0)
        .stdout_has("#1  until ")
        .stdout_has("api  by alice: \"firmware upgrade\"");
    env.run(&["status"])
        .stdout_has("  silenced: #1  until ")
        .stdout_has("api  by alice: \"firmware upgrade\"");

    // The outage: the check tells the truth (exit 2), the line is written
    // marked, nothing is notified, and the heartbeat is not a /fail.
    let c1 = env.run(&["check"]);
    c1.code(2);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].contains(" CRIT api: HTTP 502") && lines[1].ends_with(" (silenced)"),
        "{}",
        lines[1]
    );
    assert!(
        hook.requests().is_empty(),
        "notified: {:?}",
        hook.requests()
    );
    let hb = hc.requests();
    assert_eq!(hb.len(), 1);
    assert_eq!(
        hb[0].path,
        format!("/ping/{SENTINEL}"),
        "no /fail while silenced"
    );
    assert!(body(&hb[0]).contains("(silenced: api)"), "{}", body(&hb[0]));
    env.run(&["check"]).code(2);
    assert!(hook.requests().is_empty());

    // The silence ends: the alert still open is notified once.
    env.run(&["alerts", "silence", "--clear", "1"])
        .code(0)
        .stdout_has("silence #1 cleared");
    assert!(
        env.alert_lines()
            .last()
            .unwrap()
            .contains(" INFO silence: #1 cleared by alice (was until "),
        "{:?}",
        env.alert_lines()
    );
    let c3 = env.run(&["check"]);
    c3.code(2);
    let last = env.alert_lines().pop().unwrap();
    assert!(
        last.contains(" CRIT api: still failing after the silence ended: HTTP 502")
            && !last.ends_with("(silenced)"),
        "{last}"
    );
    let sent = hook.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let v: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(v["level"], "CRIT");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("still failing after the silence ended")
    );
    assert!(hc.requests().last().unwrap().path.ends_with("/fail"));
    env.run(&["check"]).code(2);
    assert_eq!(hook.requests().len(), 1, "notified once");
    // The recovery is written as usual, unmarked (min_level warn: not sent).
    up.store(true, Ordering::SeqCst);
    env.run(&["check"]).code(0);
    let last = env.alert_lines().pop().unwrap();
    assert!(
        last.contains(" OK   api: recovered after ") && !last.ends_with("(silenced)"),
        "{last}"
    );
    env.run(&["alerts", "silence", "--list"])
        .code(0)
        .stdout_has("no active silence");
    secret_kept(&env, &[&s, &c1, &c3]);
}

#[test]
fn silence_bad_input_is_a_usage_error_naming_what_is_wrong() {
    let api = api(Arc::new(AtomicBool::new(true)));
    let env = check_env(&api, 1, "");
    for (args, needle) in [
        (
            &["alerts", "silence", "0s", "--reason", "x"][..],
            "more than 0",
        ),
        (
            &["alerts", "silence", "8d", "--reason", "x"][..],
            "longer than 7 days",
        ),
        (
            &["alerts", "silence", "soon", "--reason", "x"][..],
            "DURATION",
        ),
        (
            &["alerts", "silence", "1h", "--reason", "  "][..],
            "--reason",
        ),
        (&["alerts", "silence", "1h"][..], "--reason"),
        (
            &[
                "alerts", "silence", "1h", "--reason", "x", "--source", "dns",
            ][..],
            "--source \"dns\": unknown source",
        ),
        (
            &[
                "alerts",
                "silence",
                "1h",
                "--reason",
                "x",
                "--source",
                "sensor.nope",
            ][..],
            "unknown source",
        ),
        (
            &["alerts", "silence", "--list", "--clear"][..],
            "cannot be used with",
        ),
    ] {
        env.run(args).code(2).stderr_has(needle);
    }
    assert!(env.alert_lines().is_empty(), "{:?}", env.alert_lines());
    env.run(&["alerts", "silence", "--clear", "7"])
        .code(1)
        .stderr_has("no active silence #7");
    env.run(&["alerts", "silence", "--list"])
        .code(0)
        .stdout_has("no active silence");
    // Several sources, and a whole family.
    env.run(&[
        "alerts",
        "silence",
        "2h",
        "--reason",
        "disk swap",
        "--source",
        "disk",
        "--source",
        "sensor",
    ])
    .code(0);
    env.run(&["alerts", "silence", "--list"])
        .code(0)
        .stdout_has("disk, sensor  by alice: \"disk swap\"");
}

/// Sets the state database's last check time.
fn set_last_check(env: &TestEnv, t: chrono::DateTime<chrono::Utc>) {
    let c = rusqlite::Connection::open(env.state_db()).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.execute(
        "UPDATE kv SET value = ?1 WHERE key = 'check.last_run'",
        [t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)],
    )
    .unwrap();
}

#[test]
fn run_says_when_checks_stopped_and_when_they_resume() {
    let env = TestEnv::new();
    let port = free_port();
    config(
        &env,
        port,
        "[check]\ninterval = \"10s\"\nprobes = [\"memory\"]\n",
    );
    env.run(&["check"]);
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    set_last_check(&env, hour_ago);
    // `status` says it too.
    env.run(&["status"])
        .code(0)
        .stdout_has("WARN no check for 1h (expected every 10s): is grokmon-check.timer running?");

    let mut run = Running::start(&env, port);
    let warn = "WARN check: no check for 1h";
    // Not at once but three intervals (30 s) after run started: after a
    // boot, the timer's first check comes a little after run starts. (An
    // absence in another process: given more than one read period, 2 s.)
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !env.alert_lines().iter().any(|l| l.contains(warn)),
        "{:?}",
        env.alert_lines()
    );
    assert!(
        wait_until(WAIT * 3, || env
            .alert_lines()
            .iter()
            .any(|l| l.contains(warn))),
        "no stopped-checks line: {:?}\n{}",
        env.alert_lines(),
        run.stderr()
    );
    let line = env
        .alert_lines()
        .into_iter()
        .find(|l| l.contains(warn))
        .unwrap();
    assert!(
        line.ends_with(
            "(expected every 10s): is grokmon-check.timer running? see `systemctl --user list-timers grokmon-check.timer`"
        ),
        "{line}"
    );
    let (_, _, metrics) = run.get("/metrics").unwrap();
    assert!(
        metrics.contains(&format!(
            "\ngrokmon_check_last_run_timestamp_seconds {}\n",
            hour_ago.timestamp()
        )),
        "{metrics}"
    );

    // `run` restarted while checks are still stopped: the warning is open
    // already (remembered in the state database), not written again, even
    // after the three intervals a new `run` waits.
    assert_eq!(run.stop(libc::SIGTERM), 0);
    let mut run = Running::start(&env, port);
    std::thread::sleep(Duration::from_secs(34));
    let warns = |env: &TestEnv| {
        env.alert_lines()
            .iter()
            .filter(|l| l.contains(" WARN check: "))
            .count()
    };
    assert_eq!(warns(&env), 1, "{:?}\n{}", env.alert_lines(), run.stderr());

    // Checks resume: one OK line, and the metric follows.
    env.run(&["check"]);
    assert!(
        wait_until(WAIT, || env
            .alert_lines()
            .iter()
            .any(|l| l.contains(" OK   check: checks resumed (last at "))),
        "{:?}",
        env.alert_lines()
    );
    let (_, _, metrics) = run.get("/metrics").unwrap();
    assert!(
        !metrics.contains(&format!(
            "grokmon_check_last_run_timestamp_seconds {}\n",
            hour_ago.timestamp()
        )),
        "{metrics}"
    );
    assert_eq!(run.stop(libc::SIGTERM), 0);
    assert_eq!(warns(&env), 1, "{:?}", env.alert_lines());
    let oks = env
        .alert_lines()
        .iter()
        .filter(|l| l.contains(" OK   check: checks resumed"))
        .count();
    assert_eq!(oks, 1, "{:?}", env.alert_lines());
}

#[test]
fn run_lines_under_a_silence_are_written_marked_and_not_notified() {
    let env = TestEnv::new();
    let port = free_port();
    let hook = Server::start(|_| Response::json(200, "{}"));
    config(
        &env,
        port,
        &format!(
            "[[sensor]]\nname = \"broken\"\nkind = \"command\"\ncommand = [\"/bin/false\"]\ninterval = \"100ms\"\ntimeout = \"1s\"\n\n{}",
            webhook(&hook)
        ),
    );
    env.run(&[
        "alerts", "silence", "1h", "--reason", "rewiring", "--source", "sensor",
    ])
    .code(0);
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || env.alert_lines().iter().any(|l| l
            .contains(" WARN sensor.broken: ")
            && l.ends_with(" (silenced)"))),
        "{:?}\n{}",
        env.alert_lines(),
        run.stderr()
    );
    assert_eq!(run.stop(libc::SIGTERM), 0);
    assert!(hook.requests().is_empty(), "{:?}", hook.requests());
}

#[test]
fn restart_records_an_automatic_silence_for_api_and_service() {
    let up = Arc::new(AtomicBool::new(true));
    let api = api(up.clone());
    let hook = Server::start(|_| Response::json(200, "{}"));
    let mut env = TestEnv::new();
    env.write_config(&format!(
        "[check]\nconfirm_after = 1\nprobes = [\"api\", \"service\"]\n[check.api]\nurl = \"{}\"\ntimeout = \"2s\"\n[restart]\nwait = \"5s\"\n{}",
        api.url("/api/health"),
        webhook(&hook)
    ));
    env.set_env("USER", "alice");
    let show = env.path("systemctl.show");
    std::fs::write(
        &show,
        "LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nNRestarts=0\nMainPID=42\nActiveEnterTimestamp=@1\n",
    )
    .unwrap();
    env.fake_systemctl(&format!(
        "case \"$*\" in *' show '*) cat '{}';; *is-active*) echo active;; *) exit 0;; esac",
        show.display()
    ));
    env.run(&["restart", "--yes", "--reason", "deploy"]).code(0);
    let lines = env.alert_lines();
    let silence = lines
        .iter()
        .position(|l| l.contains(" INFO silence: #1 by grokmon restart (alice) until "))
        .unwrap_or_else(|| panic!("no automatic silence: {lines:?}"));
    assert!(
        lines[silence].ends_with(
            " (1m 5s) for api, service: \"automatic, for the restart of grokmon.service\""
        ),
        "{}",
        lines[silence]
    );
    let restart = lines
        .iter()
        .position(|l| l.contains(" INFO restart: grokmon.service restarted by alice"))
        .unwrap();
    assert!(
        silence < restart,
        "the silence is in force before the restart: {lines:?}"
    );
    env.run(&["alerts", "silence", "--list"])
        .code(0)
        .stdout_has("api, service  by grokmon restart (alice)");
    // An API failure right after the restart is logged, not notified.
    up.store(false, Ordering::SeqCst);
    env.run(&["check"]).code(2);
    let lines = env.alert_lines();
    let api_line = lines
        .iter()
        .find(|l| l.contains(" CRIT api: HTTP 502"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(api_line.ends_with(" (silenced)"), "{api_line}");
    let alerts: Vec<Request> = hook
        .requests()
        .into_iter()
        .filter(|r| body(r).contains("\"api\""))
        .collect();
    assert!(alerts.is_empty(), "{alerts:?}");
}

/// Runs grokmon under `faketime -f OFFSET` (the clock moved, nothing else);
/// `None` (after saying so) when faketime is missing outside CI.
fn at_offset(env: &TestEnv, offset: &str, args: &[&str]) -> Option<Out> {
    if std::process::Command::new("faketime")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "faketime is not installed (CI must run this test)"
        );
        eprintln!("skipped: faketime not installed");
        return None;
    }
    let inner = env.cmd(args);
    let mut c = std::process::Command::new("faketime");
    c.env_clear()
        .arg("-f")
        .arg(offset)
        .arg(BIN)
        .args(args)
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    Some(Out::of(args, c.output().expect("run faketime")))
}

#[test]
fn a_silence_that_expires_notifies_what_still_fails_once() {
    let api = api(Arc::new(AtomicBool::new(false)));
    let hook = Server::start(|_| Response::json(200, "{}"));
    let env = check_env(&api, 1, &webhook(&hook));
    env.run(&["alerts", "silence", "30m", "--reason", "swap the router"])
        .code(0);
    env.run(&["check"]).code(2);
    assert!(hook.requests().is_empty(), "{:?}", hook.requests());
    // 29 minutes on: still silenced.
    let Some(o) = at_offset(&env, "+29m", &["check"]) else {
        return;
    };
    o.code(2);
    assert!(hook.requests().is_empty(), "{:?}", hook.requests());
    // 31 minutes on, the silence has expired: one notification, once.
    at_offset(&env, "+31m", &["check"]).unwrap().code(2);
    at_offset(&env, "+36m", &["check"]).unwrap().code(2);
    let sent = hook.requests();
    assert_eq!(sent.len(), 1, "{sent:?}\n{:?}", env.alert_lines());
    let v: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(v["source"], "api");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("still failing after the silence ended: HTTP 502"),
        "{v}"
    );
    at_offset(&env, "+36m", &["alerts", "silence", "--list"])
        .unwrap()
        .code(0)
        .stdout_has("no active silence");
}

#[test]
fn the_check_timer_and_crontab_run_the_check_every_check_interval() {
    let env = TestEnv::new();
    env.run(&["units", "print", "grokmon-check.timer"])
        .code(0)
        .stdout_has("\nOnUnitActiveSec=5min\n");
    env.write_config("[check]\ninterval = \"2m\"\n");
    env.run(&["units", "print", "grokmon-check.timer"])
        .code(0)
        .stdout_has("\nOnUnitActiveSec=2min\n")
        .stdout_has("Description=grokmon check every 2m (check.interval)");
    env.run(&["cron"]).code(0).stdout_has("\n*/2 * * * * ");
    env.fake_systemctl("exit 0");
    env.run(&["units", "install", "--user"]).code(0);
    let timer = read(&env.home.join(".config/systemd/user/grokmon-check.timer"));
    assert!(timer.contains("\nOnUnitActiveSec=2min\n"), "{timer}");
}

#[test]
fn an_uptime_kuma_push_refused_is_not_retried_and_is_one_warn_line() {
    let api = api(Arc::new(AtomicBool::new(true)));
    // Uptime Kuma answers 404 {"ok":false} to an unknown push token.
    let kuma = Server::start(|_| {
        Response::json(
            404,
            r#"{"ok":false,"msg":"Monitor not found or not active."}"#,
        )
    });
    let env = check_env(
        &api,
        1,
        &heartbeat(&kuma, "uptime-kuma", &format!("/api/push/{SENTINEL}")),
    );
    let out = env.run(&["check"]);
    out.code(0);
    assert_eq!(kuma.requests().len(), 1, "a 4xx is not retried");
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" WARN heartbeat: uptime-kuma up not delivered: HTTP 404 (attempt 1 of 3) (1 check, since "),
        "{}",
        lines[0]
    );
    secret_kept(&env, &[&out]);
}
