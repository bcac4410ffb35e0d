//! Integration tests for fitting the user's world (#12): health answers that
//! real services give, external schedulers (Nagios/NRPE), exporters,
//! flapping, and files left by the original scripts.

use crate::check::{healthy_env, probe};
use crate::util::*;

fn api_says(body: &'static str, config_extra: &str) -> (Server, TestEnv) {
    let server = Server::start(move |_| Response::json(200, body));
    let env = healthy_env(&server);
    if !config_extra.is_empty() {
        env.write_config(&format!(
            "[check.api]\nurl = \"{}\"\ntimeout = \"2s\"\n{config_extra}\n",
            server.url("/api/health")
        ));
    }
    (server, env)
}

#[test]
fn health_vocabularies_and_the_original_apps_body() {
    let cases: &[(&'static str, &str, &str, &str)] = &[
        (r#"{"status":"ok"}"#, "", "ok", "ok"),
        (
            r#"{"status":"UP","components":{"db":{"status":"UP"}}}"#,
            "",
            "ok",
            "up",
        ),
        (
            r#"{"status":"degraded","sensors":"disconnected","camera":"disconnected (using mock)","actuators":"connected"}"#,
            "",
            "warn",
            "degraded (camera: disconnected (using mock), sensors: disconnected)",
        ),
        (
            r#"{"status":"fail","checks":{"db:connection":[{"status":"fail","output":"refused"}]}}"#,
            "",
            "crit",
            "fail (db:connection: fail)",
        ),
        (
            r#"{"data":{"state":"nominal"}}"#,
            "status_pointer = \"/data/state\"\nhealthy_words = [\"nominal\"]",
            "ok",
            "nominal",
        ),
    ];
    for (body, extra, status, msg) in cases {
        let (_server, env) = api_says(body, extra);
        let v = env.run(&["check", "--format", "json"]).json();
        let api = probe(&v, "api");
        assert_eq!(api["status"], *status, "{body}: {api}");
        assert_eq!(api["message"], *msg, "{body}: {api}");
    }
}

#[test]
fn messages_are_escaped_once_in_every_output() {
    let (_server, env) = api_says(r#"{"status":"bad\nthing\u001b[2J"}"#, "");
    let once = r#"unrecognized health status "bad\nthing\x1b[2J""#;
    let twice = r"\\n";
    let v = env.run(&["check", "--format", "json"]).json();
    assert_eq!(probe(&v, "api")["message"], once, "{v}");
    let human = env.run(&["check"]);
    assert!(human.stdout.contains(once), "{}", human.stdout);
    assert!(!human.stdout.contains(twice), "{}", human.stdout);
    let nagios = env.run(&["check", "--format", "nagios"]);
    assert!(nagios.stdout.contains(once), "{}", nagios.stdout);
    let lines = env.alert_lines();
    assert!(
        lines.iter().any(|l| l.contains(once)),
        "confirmed after two checks: {lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains(twice)), "{lines:?}");
    let status = env.run(&["status"]);
    assert!(status.stdout.contains(once), "{}", status.stdout);
    assert!(!status.stdout.contains(twice), "{}", status.stdout);
    let sj = env.run(&["status", "--json"]).json();
    assert!(sj.to_string().contains(r#"bad\\nthing"#), "{sj}");
    assert!(!sj.to_string().contains(r#"bad\\\\nthing"#), "{sj}");
}

/// The one line a Nagios plugin prints, and nothing else on stdout.
fn unknown_line(out: &Out) -> String {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {:?}", out.stdout);
    assert!(
        lines[0].starts_with("GROKMON UNKNOWN - "),
        "stdout: {:?}",
        out.stdout
    );
    lines[0].to_string()
}

#[test]
fn nagios_format_reports_checker_failures_on_stdout() {
    let server = healthy_server_for_world();
    let env = healthy_env(&server);
    // A bad configuration.
    std::fs::write(env.config_path(), "[check]\nconfirm_after = \"two\"\n").unwrap();
    let out = env.run(&["check", "--format", "nagios"]);
    out.code(3).stderr_has("line 2");
    assert!(unknown_line(&out).contains("line 2"), "{}", out.stdout);
    // Without --format nagios stdout stays empty (stderr has the error).
    let out = env.run(&["check"]);
    out.code(3);
    assert!(out.stdout.is_empty(), "{}", out.stdout);

    // A clap usage error, both spellings of the format flag.
    env.write_config(&format!(
        "[check.api]\nurl = \"{}\"\n",
        server.url("/api/health")
    ));
    for args in [
        &["check", "--format", "nagios", "--bogus"][..],
        &["check", "--bogus", "--format=nagios"][..],
    ] {
        let out = env.run(args);
        out.code(3);
        let l = unknown_line(&out);
        assert!(l.contains("usage: ") && l.contains("--bogus"), "{l}");
    }

    // A textfile that cannot be written: the results and the reason, UNKNOWN.
    let bad = env.path("no-such-dir/grokmon.prom");
    let out = env.run(&[
        "check",
        "--format",
        "nagios",
        "--textfile",
        bad.to_str().unwrap(),
    ]);
    out.code(3).stderr_has("cannot write textfile");
    let l = unknown_line(&out);
    assert!(l.contains("cannot write textfile"), "{l}");
    assert!(l.contains(" | "), "perfdata kept: {l}");

    // A textfile name node_exporter would ignore is refused.
    let txt = env.path("grokmon.txt");
    let out = env.run(&[
        "check",
        "--format",
        "nagios",
        "--textfile",
        txt.to_str().unwrap(),
    ]);
    out.code(3).stderr_has(".prom");
    assert!(unknown_line(&out).contains(".prom"), "{}", out.stdout);
    assert!(!txt.exists());
    env.run(&["check", "--textfile", txt.to_str().unwrap()])
        .code(3)
        .stderr_has("must end in .prom");
}

fn healthy_server_for_world() -> Server {
    crate::check::healthy_server()
}

#[test]
fn stateless_check_reads_and_writes_nothing() {
    let server = Server::start(|_| Response::json(502, r#"{"status":"down"}"#));
    let env = healthy_env(&server);
    // The scheduler's user cannot write the state or the log directory.
    let blocker = env.path("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    std::fs::write(
        env.config_path(),
        format!(
            "[paths]\nstate = \"{0}/state.db\"\nalerts_log = \"{0}/alerts.log\"\n[check.api]\nurl = \"{1}\"\ntimeout = \"2s\"\n",
            blocker.display(),
            server.url("/api/health")
        ),
    )
    .unwrap();
    // Stateful, that is UNKNOWN (the checker cannot keep its state).
    env.run(&["check", "--format", "nagios"]).code(3);
    for _ in 0..3 {
        let out = env.run(&["check", "--stateless", "--format", "nagios"]);
        out.code(2);
        assert!(out.stderr.is_empty(), "{}", out.stderr);
        assert!(
            out.stdout.starts_with("GROKMON CRITICAL - api: HTTP 502"),
            "{}",
            out.stdout
        );
    }
    let v = env
        .run(&["check", "--stateless", "--format", "json"])
        .json();
    assert_eq!(v["errors"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["alerts_written"].as_array().unwrap().len(), 0, "{v}");
    // No stored counters: the CPU probe took its short (200 ms) sample.
    assert!(
        probe(&v, "cpu")["duration_ms"].as_f64().unwrap() >= 190.0,
        "{v}"
    );
    assert_eq!(probe(&v, "forecast")["status"], "skipped", "{v}");

    // With writable paths: still nothing created.
    let env = healthy_env(&server);
    for _ in 0..3 {
        env.run(&["check", "--stateless"]).code(2);
    }
    assert!(!env.state_db().exists(), "state database created");
    assert!(!env.alerts_log().exists(), "alerts log created");
}

/// Runs `promtool check metrics` on a textfile; `None` when promtool is not
/// installed outside CI (CI must run it: Debian package `prometheus`).
fn promtool_check(text: &str) -> Option<(bool, String)> {
    use std::io::Write as _;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is not installed (Debian package prometheus)"
            );
            println!("skipped: promtool not installed (Debian package prometheus)");
            return None;
        }
        Err(e) => panic!("promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success() && msg.trim().is_empty(), msg))
}

#[test]
fn textfile_passes_promtool_with_stable_names() {
    let server = crate::check::healthy_server();
    let env = healthy_env(&server);
    let prom = env.path("grokmon.prom");
    // Twice: the second check has history, so the forecast has its rows.
    for _ in 0..2 {
        env.run(&["check", "--quiet", "--textfile", prom.to_str().unwrap()])
            .code(0);
    }
    let text = read(&prom);
    assert!(text.contains("grokmon_backups_files 1\n"), "{text}");
    assert!(!text.contains("grokmon_backups_count"), "{text}");
    assert!(
        !text.contains("target="),
        "one label name per thing: {text}"
    );
    // Full precision: no value cut to 3 decimals (the API latency is well
    // under a millisecond on loopback, which 3 decimals made 0 or 0.001).
    let latency = text
        .lines()
        .find_map(|l| l.strip_prefix("grokmon_api_latency_seconds "))
        .expect("latency");
    assert!(
        latency.len() > 5 && latency.parse::<f64>().unwrap() > 0.0,
        "{latency}"
    );
    if let Some((ok, msg)) = promtool_check(&text) {
        assert!(ok, "promtool check metrics:\n{msg}\n{text}");
    }
}

#[test]
fn a_flapping_api_gets_one_line_not_one_per_flip() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let server = Server::start(move |_| {
        if n2.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Response::json(200, r#"{"status":"ok"}"#)
        } else {
            Response::json(200, r#"{"status":"degraded","sensors":"disconnected"}"#)
        }
    });
    let env = healthy_env(&server);
    env.write_config(&format!(
        "[check]\nconfirm_after = 1\n[check.api]\nurl = \"{}\"\n",
        server.url("/api/health")
    ));
    for _ in 0..12 {
        env.run(&["check", "--quiet"]);
    }
    let lines: Vec<String> = env
        .alert_lines()
        .into_iter()
        .filter(|l| l.contains(" api: "))
        .collect();
    // Flips OK→WARN→OK...: a WARN and an OK line per flip until the sixth
    // change, then one flapping line and quiet.
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert!(
        lines[5].ends_with(" WARN api: flapping (6 changes in 7 checks)"),
        "{lines:#?}"
    );
    assert!(lines[0].contains(" WARN api: degraded (sensors: disconnected)"));
}

#[test]
fn backup_verify_of_a_database_with_no_tables_is_reported() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.backups()).unwrap();
    let name = chrono::Utc::now()
        .format("grokmon-%Y%m%dT%H%M%SZ.db")
        .to_string();
    let f = env.backups().join(&name);
    // A valid SQLite file holding nothing (the schema was still in the WAL).
    let c = rusqlite::Connection::open(&f).unwrap();
    c.pragma_update(None, "user_version", 1).unwrap();
    drop(c);
    let out = env.run(&["backup", "verify"]);
    out.code(1).stdout_has("no tables").stdout_has(&name);
    assert!(!out.stdout.starts_with("ok"), "{}", out.stdout);
    // A backup with a table still verifies.
    let c = rusqlite::Connection::open(&f).unwrap();
    c.execute_batch("CREATE TABLE readings (v REAL); INSERT INTO readings VALUES (1);")
        .unwrap();
    drop(c);
    env.run(&["backup", "verify"])
        .code(0)
        .stdout_has("readings  1 rows");
}

#[test]
fn no_backup_yet_names_another_tools_backups() {
    let server = crate::check::healthy_server();
    let env = healthy_env(&server);
    for e in std::fs::read_dir(env.backups()).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    for n in [
        "grokmon_backup_20261101_030000.db.gz",
        "grokmon_backup_20261102_030000.db.gz",
        "notes.txt",
    ] {
        std::fs::write(env.backups().join(n), b"x").unwrap();
    }
    let v = env.run(&["check", "--format", "json"]).json();
    let b = probe(&v, "backups");
    assert_eq!(b["status"], "warn", "{b}");
    let msg = b["message"].as_str().unwrap();
    assert!(msg.starts_with("no backup yet in "), "{msg}");
    assert!(
        msg.contains("not counted: grokmon_backup_20261102_030000.db.gz and 1 more"),
        "{msg}"
    );
    assert!(!msg.contains("notes.txt"), "{msg}");
}

#[test]
fn alerts_tail_filters_say_how_many_foreign_lines_they_skipped() {
    use grokmon::alerts::{Event, Level};
    let env = TestEnv::new();
    let now = chrono::Utc::now();
    let ev = |secs: i64, level, msg: &str| {
        Event::new(now - chrono::Duration::seconds(secs), level, "api", msg).to_line() + "\n"
    };
    // The original scripts wrote free text into the same file.
    let text = [
        ev(50, Level::Crit, "unreachable"),
        "2026-11-20 03:00:01 backup done\n".to_string(),
        ev(40, Level::Ok, "recovered"),
        "WARNING: sensor camera disconnected\n".to_string(),
        "\n".to_string(),
        ev(30, Level::Warn, "degraded"),
    ]
    .concat();
    std::fs::write(env.alerts_log(), text).unwrap();
    let o = env.run(&["alerts", "tail", "--level", "warn"]);
    o.code(0)
        .stderr_has("note: 2 lines not in grokmon's format skipped");
    assert_eq!(o.stdout.lines().count(), 2, "{}", o.stdout);
    let o = env.run(&["alerts", "tail", "--since", "1h"]);
    o.code(0)
        .stderr_has("note: 2 lines not in grokmon's format skipped");
    assert_eq!(o.stdout.lines().count(), 3, "{}", o.stdout);
    // Unfiltered, they are shown (marked), and there is nothing to say.
    let o = env.run(&["alerts", "tail"]);
    o.code(0).stdout_has("[unparsed] WARNING: sensor camera");
    assert!(!o.stderr.contains("skipped"), "{}", o.stderr);
}

#[test]
fn systemctl_stderr_is_escaped_once_in_the_service_row() {
    let server = crate::check::healthy_server();
    let env = healthy_env(&server);
    env.fake_systemctl(
        "printf 'Failed to connect to bus: No medium found\\nsee \\033[1mlogs\\n' >&2; exit 1",
    );
    let once = r"No medium found\nsee \x1b[1mlogs";
    let v = env.run(&["check", "--format", "json"]).json();
    let svc = probe(&v, "service");
    assert_eq!(svc["status"], "skipped", "{svc}");
    assert!(svc["message"].as_str().unwrap().contains(once), "{svc}");
    let human = env.run(&["check"]);
    assert!(human.stdout.contains(once), "{}", human.stdout);
    assert!(!human.stdout.contains(r"\\"), "{}", human.stdout);
    // A failing systemctl (not a missing one): UNKNOWN, stderr escaped once.
    env.fake_systemctl("printf 'Access denied\\nby policy\\n' >&2; exit 1");
    let v = env.run(&["check", "--format", "json"]).json();
    let svc = probe(&v, "service");
    assert_eq!(svc["status"], "unknown", "{svc}");
    let msg = svc["message"].as_str().unwrap();
    assert!(msg.contains(r"failed: Access denied\nby policy"), "{msg}");
    assert!(!msg.contains(r"\\"), "{msg}");
}
