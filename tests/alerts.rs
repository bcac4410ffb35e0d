//! Integration tests for the `alerts` area: `alerts tail`, `alerts ack` and
//! notifications (`status` is in `status.rs`).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use grokmon::alerts::{AlertLog, Event, Level};

use crate::util::*;

fn ago(secs: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(secs)
}

fn line(t: DateTime<Utc>, level: Level, source: &str, msg: &str) -> String {
    Event::new(t, level, source, msg).to_line() + "\n"
}

pub(crate) fn write_log(env: &TestEnv, text: &str) {
    std::fs::write(env.alerts_log(), text).unwrap();
}

fn rotated(env: &TestEnv, n: u32) -> std::path::PathBuf {
    AlertLog::new(env.alerts_log(), 1 << 20, 5).rotated(n)
}

fn stdout_lines(o: &Out) -> Vec<&str> {
    o.stdout.lines().collect()
}

#[test]
fn tail_of_a_missing_log_is_no_alerts_yet() {
    let env = TestEnv::new();
    let o = env.run(&["alerts", "tail"]);
    o.code(0).stderr_has("no alerts yet");
    assert!(o.stdout.is_empty(), "{}", o.stdout);
}

#[test]
fn tail_shows_the_last_n_across_rotated_files() {
    let env = TestEnv::new();
    let mut older = String::new();
    for i in 0..30 {
        older.push_str(&line(
            ago(3000 - i),
            Level::Warn,
            "api",
            &format!("old {i}"),
        ));
    }
    std::fs::write(rotated(&env, 1), older).unwrap();
    write_log(
        &env,
        &(line(ago(100), Level::Crit, "disk", "new 0")
            + &line(ago(50), Level::Ok, "disk", "new 1")),
    );
    let o = env.run(&["alerts", "tail"]);
    o.code(0);
    let lines = stdout_lines(&o);
    assert_eq!(lines.len(), 20, "{}", o.stdout);
    assert!(lines[0].ends_with("api: old 12"), "{}", lines[0]);
    assert!(lines[19].ends_with("disk: new 1"));
    let o = env.run(&["alerts", "tail", "-n", "3"]);
    assert_eq!(
        stdout_lines(&o)
            .iter()
            .map(|l| l.rsplit(": ").next().unwrap())
            .collect::<Vec<_>>(),
        ["old 29", "new 0", "new 1"]
    );
    let o = env.run(&["alerts", "tail", "-n", "0"]);
    o.code(0);
    assert!(o.stdout.is_empty());
}

#[test]
fn tail_filters_by_level_and_source() {
    let env = TestEnv::new();
    write_log(
        &env,
        &[
            line(ago(40), Level::Info, "restart", "restarted by alice"),
            line(ago(30), Level::Warn, "sensor.temp", "read failed"),
            line(ago(20), Level::Crit, "api", "unreachable"),
            line(ago(10), Level::Ok, "api", "recovered"),
        ]
        .concat(),
    );
    let o = env.run(&["alerts", "tail", "--level", "warn"]);
    assert_eq!(stdout_lines(&o).len(), 2, "{}", o.stdout);
    let o = env.run(&["alerts", "tail", "--level", "crit"]);
    o.stdout_has("CRIT api: unreachable");
    assert_eq!(stdout_lines(&o).len(), 1);
    let o = env.run(&["alerts", "tail", "--source", "api"]);
    assert_eq!(stdout_lines(&o).len(), 2);
    let o = env.run(&["alerts", "tail", "--source", "sensor"]);
    o.stdout_has("sensor.temp: read failed");
    assert_eq!(stdout_lines(&o).len(), 1);
    let o = env.run(&["alerts", "tail", "--source", "restart", "--level", "warn"]);
    o.code(0);
    assert!(o.stdout.is_empty());
    env.run(&["alerts", "tail", "--level", "bogus"]).code(2);
}

#[test]
fn tail_since_a_duration_or_a_time_spans_rotated_files() {
    let env = TestEnv::new();
    std::fs::write(
        rotated(&env, 1),
        line(ago(3 * 3600), Level::Warn, "api", "three hours")
            + &line(ago(5400), Level::Warn, "api", "ninety minutes"),
    )
    .unwrap();
    write_log(
        &env,
        &(line(ago(1800), Level::Warn, "api", "half an hour")
            + "a hand-edited line\n"
            + &line(ago(60), Level::Crit, "api", "a minute")),
    );
    let o = env.run(&["alerts", "tail", "--since", "1h"]);
    o.code(0);
    assert_eq!(stdout_lines(&o).len(), 2, "{}", o.stdout);
    o.stdout_has("half an hour").stdout_has("a minute");
    let o = env.run(&["alerts", "tail", "--since", "2h"]);
    assert_eq!(stdout_lines(&o).len(), 3, "{}", o.stdout);
    o.stdout_has("ninety minutes");
    let t = ago(2 * 3600).to_rfc3339_opts(SecondsFormat::Secs, true);
    let o = env.run(&["alerts", "tail", "--since", &t, "-n", "1"]);
    // -n limits what --since selects to the newest.
    assert_eq!(stdout_lines(&o).len(), 1, "{}", o.stdout);
    assert!(stdout_lines(&o)[0].ends_with("api: a minute"));
}

#[test]
fn tail_since_in_the_future_or_unparsable_is_a_usage_error() {
    let env = TestEnv::new();
    write_log(&env, &line(ago(60), Level::Crit, "api", "x"));
    env.run(&["alerts", "tail", "--since", "2999-01-01T00:00:00Z"])
        .code(2)
        .stderr_has("in the future");
    env.run(&["alerts", "tail", "--since", "last tuesday"])
        .code(2)
        .stderr_has("not a duration");
}

#[test]
fn tail_shows_foreign_lines_marked_and_never_crashes() {
    let env = TestEnv::new();
    let mut bytes = line(ago(90), Level::Warn, "api", "before").into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\x00binary \x1b[2J garbage\n");
    bytes.extend(std::iter::repeat_n(b'z', 1 << 20));
    bytes.push(b'\n');
    bytes.extend_from_slice(line(ago(10), Level::Crit, "api", "after").as_bytes());
    std::fs::write(env.alerts_log(), &bytes).unwrap();
    let o = env.run(&["alerts", "tail"]);
    o.code(0);
    let lines = stdout_lines(&o);
    assert_eq!(lines.len(), 4, "{}", o.stdout);
    assert!(lines[1].starts_with("[unparsed] "), "{}", lines[1]);
    assert!(lines[1].contains("\\x1b[2J"), "{}", lines[1]);
    assert!(
        !o.stdout.contains('\x1b'),
        "escape codes reached the output"
    );
    assert!(lines[2].starts_with("[unparsed] zzz") && lines[2].ends_with("[cut]"));
    assert!(lines[2].len() < 10_000);
    // Filters select events only; --json marks foreign lines.
    let o = env.run(&["alerts", "tail", "--level", "warn"]);
    assert_eq!(stdout_lines(&o).len(), 2, "{}", o.stdout);
    let o = env.run(&["alerts", "tail", "--json"]);
    let v: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[1]["unparsed"], true);
    assert_eq!(v[1]["ts"], serde_json::Value::Null);
    assert_eq!(v[3]["message"], "after");
}

#[test]
fn tail_json_round_trips_every_line_the_writer_can_produce() {
    let env = TestEnv::new();
    let log = AlertLog::new(env.alerts_log(), 1 << 20, 5);
    let hostile = [
        "body\n2026-11-28T00:00:00Z OK   api: all good",
        "\x1b[2J\x1b[31mred\x07",
        "cr\roverwrite",
        "tab\tand \\n literal backslash-n",
        "nel\u{85}csi\u{9b}ls\u{2028}ps\u{2029}",
        "bidi \u{202E}gnp.exe zero\u{200B}width bom \u{FEFF}",
        "del\x7f and nul\0",
        "\\x41 \\u{41} look like escapes",
        "ünïcødé 温度 °C stays",
        "trailing backslash \\",
        "",
        "  leading spaces: and a colon",
    ];
    let events: Vec<Event> = hostile
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let lv = [Level::Info, Level::Ok, Level::Warn, Level::Crit][i % 4];
            Event::new(
                ago(100 - i as i64),
                lv,
                ["api", "sensor.temp", "notify", "x-y_z"][i % 4],
                *m,
            )
        })
        .collect();
    log.append(&events).unwrap();
    let o = env.run(&["alerts", "tail", "--json", "-n", "100"]);
    o.code(0);
    assert!(
        !o.stdout.contains('\x1b')
            && !o.stdout.contains('\u{9b}')
            && !o.stdout.contains('\u{202e}')
    );
    let got: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), events.len(), "{}", o.stdout);
    for (g, e) in got.iter().zip(&events) {
        assert_eq!(g["ts"], e.ts.to_rfc3339_opts(SecondsFormat::Secs, true));
        assert_eq!(g["level"], e.level.as_str());
        assert_eq!(g["source"], e.source.as_str());
        assert_eq!(g["message"], e.message.as_str(), "message of {e:?}");
    }
    // The plain output is the log's own lines.
    let o = env.run(&["alerts", "tail", "-n", "100"]);
    assert_eq!(o.stdout, read(&env.alerts_log()));
}

#[test]
fn ack_then_unreviewed_shows_only_later_events() {
    let env = TestEnv::new();
    write_log(
        &env,
        &(line(ago(300), Level::Warn, "api", "seen")
            + &line(ago(200), Level::Crit, "api", "seen too")),
    );
    let o = env.run(&["alerts", "tail", "--unreviewed"]);
    assert_eq!(stdout_lines(&o).len(), 2, "{}", o.stdout);
    env.run(&["alerts", "ack"])
        .code(0)
        .stdout_has("2 alerts marked as reviewed");
    let o = env.run(&["alerts", "tail", "--unreviewed"]);
    o.code(0);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    // A line written after the ack (its time is later than the mark).
    let later = Utc::now() + chrono::Duration::seconds(5);
    std::fs::OpenOptions::new()
        .append(true)
        .open(env.alerts_log())
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, line(later, Level::Crit, "disk", "new").as_bytes())
        })
        .unwrap();
    let o = env.run(&["alerts", "tail", "--unreviewed"]);
    assert_eq!(stdout_lines(&o).len(), 1, "{}", o.stdout);
    o.stdout_has("disk: new");
    // The mark is a position in the log, not a time: a line dated after
    // the ack (a clock that was ahead) is reviewed by the ack after it.
    env.run(&["alerts", "ack"])
        .code(0)
        .stdout_has("1 alert marked as reviewed");
    let o = env.run(&["alerts", "tail", "--unreviewed"]);
    o.code(0);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    env.run(&["alerts", "ack"])
        .code(0)
        .stdout_has("no new alerts");
}

#[test]
fn ack_without_a_log_works() {
    let env = TestEnv::new();
    env.run(&["alerts", "ack"])
        .code(0)
        .stdout_has("no new alerts");
    assert!(env.state_db().exists());
}

/// Collects a child's stdout lines on a thread.
fn collect_lines(child: &mut std::process::Child) -> Arc<Mutex<Vec<String>>> {
    let out = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            l2.lock().unwrap().push(l);
        }
    });
    lines
}

#[test]
fn follow_prints_appended_lines_and_survives_rotation() {
    let env = TestEnv::new();
    write_log(&env, &line(ago(60), Level::Warn, "api", "existing"));
    let mut child = env
        .cmd(&["alerts", "tail", "-f", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    let has = |s: &str| {
        let lines = lines.clone();
        let s = s.to_string();
        move || lines.lock().unwrap().iter().any(|l| l.ends_with(&s))
    };
    let ok = wait_until(Duration::from_secs(10), has("existing"));
    // The writer's own rotation (tiny max_size) and a rename by hand.
    let log = AlertLog::new(env.alerts_log(), 400, 3);
    log.append(&[Event::new(Utc::now(), Level::Crit, "api", "one")])
        .unwrap();
    let ok1 = ok && wait_until(Duration::from_secs(10), has("one"));
    for i in 0..5 {
        log.append(&[Event::new(
            Utc::now(),
            Level::Warn,
            "disk",
            format!("rotating {i} {}", "p".repeat(100)),
        )])
        .unwrap();
    }
    assert!(log.rotated(1).exists(), "the writer did not rotate");
    let ok2 = ok1
        && wait_until(
            Duration::from_secs(10),
            has(&format!("rotating 4 {}", "p".repeat(100))),
        );
    std::fs::rename(env.alerts_log(), env.path("moved.log")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    log.append(&[Event::new(Utc::now(), Level::Ok, "api", "after rename")])
        .unwrap();
    let ok3 = ok2 && wait_until(Duration::from_secs(10), has("after rename"));
    let _ = child.kill();
    let _ = child.wait();
    let got = lines.lock().unwrap().clone();
    assert!(ok && ok1 && ok2 && ok3, "follow missed lines: {got:#?}");
    // Every line exactly once, in order.
    let msgs: Vec<&str> = got.iter().map(|l| l.split_once(": ").unwrap().1).collect();
    assert_eq!(msgs.len(), 8, "{got:#?}");
    assert_eq!(msgs[0], "existing");
    assert_eq!(msgs[1], "one");
    assert_eq!(msgs[7], "after rename");
}

#[test]
fn follow_waits_for_a_log_that_does_not_exist_yet() {
    let env = TestEnv::new();
    let mut child = env
        .cmd(&["alerts", "tail", "-f", "--level", "crit"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    std::thread::sleep(Duration::from_millis(300));
    let log = AlertLog::new(env.alerts_log(), 1 << 20, 3);
    log.append(&[
        Event::new(Utc::now(), Level::Warn, "api", "filtered out"),
        Event::new(Utc::now(), Level::Crit, "api", "first crit"),
    ])
    .unwrap();
    let ok = wait_until(Duration::from_secs(10), || {
        !lines.lock().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let got = lines.lock().unwrap().clone();
    assert!(ok, "nothing followed");
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].ends_with("CRIT api: first crit"), "{got:#?}");
}

/// Runs check once (creating the state) and returns the disk probe's target and percent.
pub(crate) fn disk_now(env: &TestEnv) -> (String, f64) {
    let o = env.run(&["check", "--format", "json"]);
    let v = o.json();
    let disk = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["probe"] == "disk")
        .unwrap_or_else(|| panic!("no disk probe: {}", o.stdout))
        .clone();
    let used = disk["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "used")
        .unwrap()["value"]
        .as_f64()
        .unwrap();
    (disk["target"].as_str().unwrap().to_string(), used)
}

pub(crate) fn seed_samples(env: &TestEnv, metric: &str, points: &[(DateTime<Utc>, f64)]) {
    let c = rusqlite::Connection::open(env.state_db()).unwrap();
    for (t, v) in points {
        c.execute(
            "INSERT INTO samples (ts, metric, value) VALUES (?1, ?2, ?3)",
            rusqlite::params![t.timestamp(), metric, v],
        )
        .unwrap();
    }
}

/// Rising 10 points a day for the last 3 days up to `used`, on `mp`.
fn seed_rising(env: &TestEnv, mp: &str, used: f64) {
    let pts: Vec<_> = (1..=36)
        .map(|i| (ago(i * 7200), used - 10.0 * (i as f64 * 2.0 / 24.0)))
        .collect();
    seed_samples(env, &format!("disk:{mp}"), &pts);
}

/// The `forecast` row of a `check --format json`.
#[track_caller]
fn forecast_of(o: &Out) -> serde_json::Value {
    o.json()["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["probe"] == "forecast")
        .unwrap_or_else(|| panic!("no forecast: {}", o.stdout))
        .clone()
}

#[test]
fn check_reports_a_disk_filling_within_the_horizon_as_warn() {
    let env = TestEnv::new();
    env.write_config("[check]\nprobes = [\"disk\", \"forecast\"]\n");
    let (mp, used) = disk_now(&env);
    seed_rising(&env, &mp, used);
    let o = env.run(&["check", "--format", "json"]);
    let f = forecast_of(&o);
    assert_eq!(f["status"], "warn", "{f}");
    assert_eq!(f["target"], mp.as_str());
    assert!(f["message"].as_str().unwrap().contains("full in ~"), "{f}");
    o.code(1);
    // Switched off like any probe.
    env.write_config("[check]\nprobes = [\"disk\"]\n");
    let o = env.run(&["check", "--format", "json"]);
    assert!(!o.stdout.contains("\"forecast\""), "{}", o.stdout);
}

/// An install upgraded from schema 2 (samples a row each): the first check
/// moves them into `sample_hours`, forecasts from them, and so does the next.
#[test]
fn an_upgraded_state_keeps_its_disk_history_and_forecast() {
    let env = TestEnv::new();
    env.write_config("[check]\nprobes = [\"disk\", \"forecast\"]\n");
    let (mp, used) = disk_now(&env);
    seed_rising(&env, &mp, used);
    // What grokmon of schema 2 left: no `sample_hours`, version 2.
    let c = rusqlite::Connection::open(env.state_db()).unwrap();
    c.execute_batch("DROP TABLE sample_hours; PRAGMA user_version = 2;")
        .unwrap();
    drop(c);
    for round in ["upgrading", "upgraded"] {
        let o = env.run(&["check", "--format", "json"]);
        let f = forecast_of(&o);
        assert_eq!(f["status"], "warn", "{round}: {f}");
        o.code(1);
    }
    let c = rusqlite::Connection::open(env.state_db()).unwrap();
    let (legacy, moved, version): (i64, i64, i64) = c
        .query_row(
            "SELECT (SELECT count(*) FROM samples), \
                    (SELECT sum(length(data)) / 16 FROM sample_hours WHERE metric = ?1), \
                    (SELECT user_version FROM pragma_user_version)",
            [format!("disk:{mp}")],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((legacy, version), (0, 3));
    // The 36 seeded and the two checks' own (`disk_now`'s check stored its
    // sample in the table dropped above).
    assert_eq!(moved, 36 + 2, "every sample moved once");
}

const SENTINEL: &str = "SENTINEL-TOKEN-4242";

/// A config where one check writes a CRIT api line (nothing listens on port 1).
fn crit_config(env: &TestEnv, notify: &str) {
    env.write_config(&format!(
        "[check]\nconfirm_after = 1\nprobes = [\"api\"]\n[check.api]\nurl = \"http://127.0.0.1:1/health\"\ntimeout = \"1s\"\n{notify}"
    ));
}

fn webhook(format: &str, url: &str, extra: &str) -> String {
    format!("[[notify]]\nkind = \"webhook\"\nformat = \"{format}\"\nurl = \"{url}\"\n{extra}\n")
}

/// Nothing anywhere shows the token: output, errors, the log.
#[track_caller]
fn no_sentinel(env: &TestEnv, o: &Out) {
    assert!(
        !o.stdout.contains(SENTINEL),
        "stdout leaks the token:\n{}",
        o.stdout
    );
    assert!(
        !o.stderr.contains(SENTINEL),
        "stderr leaks the token:\n{}",
        o.stderr
    );
    let log = read(&env.alerts_log());
    assert!(!log.contains(SENTINEL), "the log leaks the token:\n{log}");
}

fn bodies(s: &Server) -> Vec<(String, serde_json::Value)> {
    s.requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| (r.path.clone(), serde_json::from_slice(&r.body).unwrap()))
        .collect()
}

#[test]
fn notify_retries_a_5xx_then_delivers() {
    let env = TestEnv::new();
    let hits = Arc::new(Mutex::new(0));
    let h2 = hits.clone();
    let server = Server::start(move |_| {
        let mut n = h2.lock().unwrap();
        *n += 1;
        if *n == 1 {
            Response::text(500, b"oops")
        } else {
            Response::text(200, b"ok")
        }
    });
    let url = server.url(&format!("/hooks/{SENTINEL}"));
    crit_config(&env, &webhook("json", &url, ""));
    let o = env.run(&["check"]);
    o.code(2);
    let b = bodies(&server);
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(b[0], b[1], "a retry sends the same body");
    assert_eq!(b[1].1["level"], "CRIT");
    assert_eq!(b[1].1["source"], "api");
    assert!(b[1].1["message"].as_str().unwrap().contains("unreachable"));
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(b[1].1["line"], lines[0].as_str());
    no_sentinel(&env, &o);
}

#[test]
fn notify_that_keeps_failing_is_recorded_as_a_warn_without_the_url() {
    let env = TestEnv::new();
    let server = Server::start(|_| Response::text(503, SENTINEL.as_bytes()));
    let url = server.url(&format!("/hooks/{SENTINEL}?token={SENTINEL}"));
    crit_config(&env, &webhook("discord", &url, ""));
    let o = env.run(&["check"]);
    assert_eq!(server.requests().len(), 3, "bounded retries");
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("CRIT api:"),
        "the alert line comes first: {lines:#?}"
    );
    assert!(
        lines[1].contains("WARN notify: notify #1 (discord)"),
        "{lines:#?}"
    );
    assert!(lines[1].contains("HTTP 503"), "{lines:#?}");
    no_sentinel(&env, &o);
    // A 4xx is not retried: the request itself is wrong.
    let env = TestEnv::new();
    let server = Server::start(|_| Response::text(404, b"no such webhook"));
    crit_config(
        &env,
        &webhook("slack", &server.url(&format!("/{SENTINEL}")), ""),
    );
    let o = env.run(&["check"]);
    assert_eq!(server.requests().len(), 1);
    assert!(env.alert_lines()[1].contains("HTTP 404"));
    no_sentinel(&env, &o);
}

#[test]
fn notify_gives_up_on_a_hang_at_its_timeout() {
    let env = TestEnv::new();
    let server = Server::start(|_| Response::text(200, b"late").delay(Duration::from_secs(4)));
    let url = server.url(&format!("/hooks/{SENTINEL}"));
    crit_config(&env, &webhook("json", &url, "timeout = \"1s\""));
    let o = env.run(&["check"]);
    o.code(2);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[1].contains("WARN notify:") && lines[1].contains("timed out after 1s"),
        "{lines:#?}"
    );
    no_sentinel(&env, &o);
}

#[test]
fn notify_shapes_bodies_per_service_and_honours_min_level() {
    let env = TestEnv::new();
    let server = Server::start(|r| {
        if r.path == "/health" {
            Response::json(200, r#"{"status":"healthy"}"#)
        } else {
            Response::text(200, b"")
        }
    });
    let cfg = [
        webhook("discord", &server.url(&format!("/discord/{SENTINEL}")), ""),
        webhook(
            "slack",
            &server.url(&format!("/slack/{SENTINEL}")),
            "min_level = \"crit\"",
        ),
        webhook("ntfy", &server.url("/ntfy/grow"), ""),
        webhook(
            "json",
            &server.url(&format!("/all/{SENTINEL}")),
            "min_level = \"ok\"",
        ),
    ]
    .concat();
    crit_config(&env, &cfg);
    let o = env.run(&["check"]);
    o.code(2);
    no_sentinel(&env, &o);
    // The API comes back: one OK line, below every min_level but "ok".
    env.write_config(&format!(
        "[check]\nconfirm_after = 1\nprobes = [\"api\"]\n[check.api]\nurl = \"{}\"\n{cfg}",
        server.url("/health")
    ));
    let o = env.run(&["check"]);
    o.code(0);
    no_sentinel(&env, &o);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[1].contains(" OK   api:"), "{lines:#?}");
    let b: Vec<_> = bodies(&server)
        .into_iter()
        .filter(|(p, _)| p != "/health")
        .collect();
    let to = |p: &str| {
        b.iter()
            .filter(|(path, _)| path.starts_with(p))
            .map(|x| x.1.clone())
            .collect::<Vec<_>>()
    };
    let d = to("/discord/");
    assert_eq!(d.len(), 1, "{b:?}");
    assert!(
        d[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("**CRIT** api: unreachable"),
        "{d:?}"
    );
    assert_eq!(d[0]["allowed_mentions"]["parse"], serde_json::json!([]));
    let s = to("/slack/");
    assert_eq!(s.len(), 1, "{b:?}");
    assert!(
        s[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("CRIT api: unreachable"),
        "{s:?}"
    );
    // ntfy: JSON publishing to the server root, the topic in the body.
    let n = to("/ntfy/");
    assert_eq!(n.len(), 1, "{b:?}");
    assert!(b.iter().any(|(p, _)| p == "/ntfy/"));
    assert_eq!(n[0]["topic"], "grow");
    assert_eq!(n[0]["priority"], 5);
    assert_eq!(n[0]["title"], "grokmon CRIT api");
    let all = to("/all/");
    assert_eq!(all.len(), 2, "{b:?}");
    assert_eq!(all[0]["level"], "CRIT");
    assert_eq!(all[1]["level"], "OK");
    assert_eq!(all[1]["line"], lines[1].as_str());
}

#[test]
fn tail_into_a_closed_pipe_exits_quietly() {
    let env = TestEnv::new();
    let text: String = (0..20_000)
        .map(|i| {
            line(
                ago(30_000 - i),
                Level::Warn,
                "api",
                &format!("line {i} {}", "x".repeat(60)),
            )
        })
        .collect();
    write_log(&env, &text);
    let mut child = env
        .cmd(&["alerts", "tail", "-n", "20000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    assert!(
        first.ends_with(&format!("line 0 {}\n", "x".repeat(60))),
        "{first}"
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn follow_starts_over_when_the_log_is_truncated() {
    let env = TestEnv::new();
    write_log(
        &env,
        &line(ago(60), Level::Warn, "api", "before truncation"),
    );
    let mut child = env
        .cmd(&["alerts", "tail", "-f", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = collect_lines(&mut child);
    let ok = wait_until(Duration::from_secs(10), || lines.lock().unwrap().len() == 1);
    // Truncated in place (`: > log`), then a shorter line.
    std::fs::write(env.alerts_log(), line(ago(1), Level::Crit, "x", "y")).unwrap();
    let ok2 = ok && wait_until(Duration::from_secs(10), || lines.lock().unwrap().len() == 2);
    let _ = child.kill();
    let _ = child.wait();
    let got = lines.lock().unwrap().clone();
    assert!(ok && ok2, "{got:#?}");
    let v: serde_json::Value = serde_json::from_str(&got[1]).unwrap();
    assert_eq!(v["source"], "x");
    assert_eq!(v["level"], "CRIT");
}
