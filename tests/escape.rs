//! Outside text (systemctl's stderr, SQLite's integrity messages) escaped
//! exactly once in every output: stderr, stdout, the check rows and the
//! alerts log. Each fake writes a newline, an ESC and a backslash.

use crate::util::*;

/// What systemctl's stderr `...\nsee ESC[1mlogs\x` looks like escaped once.
const ONCE: &str = r"see \x1b[1mlogs\\x";
/// Any of these means a second escape.
const TWICE: [&str; 3] = [r"\\n", r"\\x1b", r"\\\\x"];

/// A shell `printf` format writing `first`, a newline, an ESC and a backslash.
fn stderr_printf(first: &str) -> String {
    format!("printf '{first}\\nsee \\033[1mlogs\\\\x\\n' >&2")
}

#[track_caller]
fn once_in(what: &str, text: &str, once: &str) {
    assert!(text.contains(once), "{what}: no {once:?} in {text:?}");
    for t in TWICE {
        assert!(!text.contains(t), "{what}: escaped twice ({t}) in {text:?}");
    }
    assert!(
        !text.contains('\u{1b}'),
        "{what}: a raw ESC reached the output: {text:?}"
    );
}

fn no_systemd(env: &TestEnv) {
    env.fake_systemctl(&format!(
        "{}; exit 1",
        stderr_printf("Failed to connect to bus: No medium found")
    ));
}

#[test]
fn systemd_unavailable_is_escaped_once_by_restart_units_status_and_restore() {
    let mut env = TestEnv::new();
    env.set_env("USER", "alice");
    no_systemd(&env);
    let once = &format!(r"No medium found\n{ONCE}");

    let o = env.run(&["restart", "--yes", "--reason", "r"]);
    o.code(1).stderr_has("cannot restart");
    once_in("restart", &o.stderr, once);

    let o = env.run(&["units", "verify"]);
    o.code(1).stderr_has("cannot verify");
    once_in("units verify", &o.stderr, once);

    let o = env.run(&["status"]);
    once_in("status", &o.stdout, once);

    // The units probe on its own: a skipped row, escaped once by each format.
    env.write_config("[check]\nprobes = [\"units\"]\n");
    let o = env.run(&["check"]);
    once_in("check units row", &o.stdout, once);
    let v = env.run(&["check", "--format", "json"]).json();
    let row = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["probe"] == "units")
        .unwrap_or_else(|| panic!("no units row: {v}"))
        .clone();
    assert_eq!(row["status"], "skipped", "{row}");
    once_in(
        "check json units row",
        row["message"].as_str().unwrap(),
        once,
    );

    // backup restore over the configured database: a note on stderr.
    env.write_config("");
    let db = env.database();
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (a); INSERT INTO t VALUES (1);")
        .unwrap();
    env.run(&["backup"]).code(0);
    let backup = std::fs::read_dir(env.backups())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .expect("a backup");
    let o = env.run(&["backup", "restore", &backup.to_string_lossy(), "--yes"]);
    o.code(0).stderr_has("cannot tell whether");
    once_in("backup restore", &o.stderr, once);
}

#[test]
fn units_install_says_systemd_is_unavailable_escaped_once() {
    let env = TestEnv::new();
    no_systemd(&env);
    let o = env.run(&["units", "install"]);
    o.code(1).stderr_has("the units are written to");
    once_in(
        "units install",
        &o.stderr,
        &format!(r"No medium found\n{ONCE}"),
    );
}

#[test]
fn a_failing_systemctl_is_escaped_once_in_the_units_row() {
    let env = TestEnv::new();
    env.fake_systemctl(&format!("{}; exit 1", stderr_printf("Access denied")));
    env.write_config("[check]\nprobes = [\"units\"]\n");
    let once = &format!(r"failed: Access denied\n{ONCE}");
    let o = env.run(&["check"]);
    once_in("check units row", &o.stdout, once);
    let v = env.run(&["check", "--format", "json"]).json();
    assert!(
        v.to_string().contains(r#""status":"unknown""#),
        "the units row is unknown: {v}"
    );
}

const ACTIVE: &str = "LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nNRestarts=0\nMainPID=42\n";

/// A restart whose `systemctl restart` (or, after it, `is-active`) fails with
/// outside text on stderr: the CRIT line and stderr carry it escaped once.
#[test]
fn a_failed_restart_is_escaped_once_in_the_alerts_line_and_stderr() {
    for (verb, case) in [("restart", "restart) "), ("is-active", "is-active) ")] {
        let mut env = TestEnv::new();
        env.set_env("USER", "alice");
        env.write_config("[check]\nprobes = [\"cpu\"]\n[restart]\nwait = \"1s\"\n");
        let show = env.path("systemctl.show");
        std::fs::write(&show, ACTIVE).unwrap();
        env.fake_systemctl(&format!(
            "case \"$2\" in show) cat '{}';; {case}{}; exit 1;; *) exit 0;; esac",
            show.display(),
            stderr_printf("Job failed")
        ));
        let o = env.run(&["restart", "--yes", "--reason", "r"]);
        o.code(1);
        let once = &format!(r"systemctl {verb} grokmon.service failed: Job failed\n{ONCE}");
        once_in(verb, &o.stderr, once);
        let lines = env.alert_lines();
        let last = lines.last().expect("the restart is recorded");
        assert!(last.contains(" CRIT restart: "), "{last}");
        once_in(verb, last, once);
    }
}

/// A damaged database whose integrity messages name an index called
/// `i<newline><ESC>[1m\x`.
fn damaged_db(path: &std::path::Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE t (a); INSERT INTO t VALUES (1), (2), (3);
         CREATE INDEX \"i\n\u{1b}[1m\\x\" ON t (a);
         PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = replace(sql, '(a)', '(a DESC)') WHERE type = 'index';",
    )
    .unwrap();
    drop(c);
    let c = rusqlite::Connection::open(path).unwrap();
    let first: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert!(first.contains("missing from index"), "{first}");
}

#[test]
fn integrity_messages_are_escaped_once() {
    let env = TestEnv::new();
    let once = r"missing from index i\n\x1b[1m\\x";
    // A damaged backup file.
    let file = env.path("damaged.db");
    damaged_db(&file);
    let o = env.run(&["backup", "verify", &file.to_string_lossy()]);
    o.code(1).stderr_has("integrity check failed");
    once_in("backup verify", &o.stderr, once);
    // A damaged database to back up.
    damaged_db(&env.database());
    let o = env.run(&["backup"]);
    o.code(1).stderr_has("integrity check failed");
    once_in("backup", &o.stderr, once);
}

/// The API's answer quoted by a restart that did not come back: escaped once
/// on stderr (it was printed raw) and in the alerts line.
#[test]
fn a_restart_quotes_the_apis_answer_escaped_once() {
    let server = Server::start(|_| Response::json(200, r#"{"status":"bad\nthing\u001b[2J\\x"}"#));
    let mut env = TestEnv::new();
    env.set_env("USER", "alice");
    env.write_config(&format!(
        "[check]\nprobes = [\"api\"]\n[check.api]\nurl = \"{}\"\ntimeout = \"2s\"\n[restart]\nwait = \"1s\"\n",
        server.url("/api/health")
    ));
    let show = env.path("systemctl.show");
    std::fs::write(&show, ACTIVE).unwrap();
    env.fake_systemctl(&format!(
        "case \"$2\" in show) cat '{}';; is-active) echo active;; *) exit 0;; esac",
        show.display()
    ));
    let o = env.run(&["restart", "--yes", "--reason", "r"]);
    o.code(1).stderr_has("still active after 1s; API: ");
    let once = r"bad\nthing\x1b[2J\\x";
    once_in("restart stderr", &o.stderr, once);
    let lines = env.alert_lines();
    let last = lines.last().expect("the restart is recorded");
    once_in("restart alerts line", last, once);
}

/// journalctl's complaint, quoted by the start-limit refusal: escaped once.
#[test]
fn the_start_limit_refusal_quotes_journalctl_escaped_once() {
    let mut env = TestEnv::new();
    env.set_env("USER", "alice");
    env.write_config("[check]\nprobes = [\"cpu\"]\n");
    let started = chrono::Utc::now().timestamp() - 60;
    let show = env.path("systemctl.show");
    std::fs::write(
        &show,
        format!(
            "{ACTIVE}StartLimitBurst=1\nStartLimitIntervalUSec=10min\nInactiveExitTimestamp=@{started}\n"
        ),
    )
    .unwrap();
    env.fake_systemctl(&format!(
        "case \"$2\" in show) cat '{}';; *) exit 0;; esac",
        show.display()
    ));
    env.write_bin(
        "journalctl",
        "#!/bin/sh\nprintf 'denied \\033[1m\\\\x\\n' >&2; exit 1\n",
    );
    let o = env.run(&["restart", "--yes", "--reason", "r"]);
    o.code(1).stderr_has("start limit");
    once_in(
        "restart refusal",
        &o.stderr,
        r"journalctl cannot read the manager's messages: denied \x1b[1m\\x",
    );
}
