//! Integration tests for AI decisions in `grokmon run`: a local
//! OpenAI-compatible mock server on 127.0.0.1, the real binary, allowlisted
//! actions that record their argv in the temp dir.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::util::*;

const SENTINEL: &str = "sk-SENTINEL-7f3a9c-never-print";

/// A chat-completions answer whose content is `content`.
fn completion(content: &str) -> Response {
    let body = serde_json::json!({
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    });
    Response::json(200, &body.to_string())
}

fn decision(actions: &[(&str, &str)]) -> String {
    let a: Vec<serde_json::Value> = actions
        .iter()
        .map(|(n, r)| serde_json::json!({"name": n, "reason": r}))
        .collect();
    serde_json::json!({"summary": "air is warm; venting", "actions": a}).to_string()
}

/// Test world: a `fan` action recording its argv, an `[ai]` section
/// pointing at `server` (fast defaults, `ai` overriding or adding keys), and
/// `extra` config.
fn ai_config(env: &mut TestEnv, port: u16, server: &Server, ai: &[(&str, &str)], extra: &str) {
    env.set_env("GROKMON_TEST_KEY", SENTINEL);
    env.write_bin(
        "fan",
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\necho fan switched\n",
            env.path("fan.calls").display()
        ),
    );
    let mut keys: std::collections::BTreeMap<&str, String> = [
        ("enabled", "true".to_string()),
        ("base_url", format!("\"{}\"", server.url("/v1"))),
        ("model", "\"test-model\"".into()),
        ("api_key_env", "\"GROKMON_TEST_KEY\"".into()),
        ("interval", "\"1s\"".into()),
        ("timeout", "\"2s\"".into()),
        ("backoff", "[\"200ms\", \"200ms\", \"200ms\"]".into()),
    ]
    .into_iter()
    .collect();
    for (k, v) in ai {
        keys.insert(k, v.to_string());
    }
    let ai_text: String = keys.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    config(
        env,
        port,
        &format!(
            "[ai]\n{ai_text}\n\
             [[action]]\nname = \"fan_on\"\ndescription = \"Turn the exhaust fan on\"\ncommand = [\"{}\", \"on\", \"--speed\", \"2\"]\ncooldown = \"0s\"\ntimeout = \"5s\"\n\
             [[sensor]]\nname = \"temp\"\nkind = \"sim\"\ninterval = \"100ms\"\nunit = \"°C\"\n{extra}",
            env.bin.join("fan").display()
        ),
    );
}

fn fan_calls(env: &TestEnv) -> Vec<String> {
    read(&env.path("fan.calls"))
        .lines()
        .map(String::from)
        .collect()
}

/// A count from the store while `run` may still be creating it: 0 until the
/// database and its tables exist.
fn stored_count(env: &TestEnv, sql: &str) -> i64 {
    rusqlite::Connection::open(env.database())
        .and_then(|c| {
            c.busy_timeout(Duration::from_secs(10))?;
            c.query_row(sql, [], |r| r.get(0))
        })
        .unwrap_or(0)
}

/// Rows of a query, every column as text.
fn rows(env: &TestEnv, sql: &str) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(env.database()).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(_) => "BLOB".to_string(),
                })
            })
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn metric(run: &Running, line_start: &str) -> Option<f64> {
    let (_, _, m) = run.get("/metrics")?;
    m.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_healthy_answer_is_stored_runs_the_allowlisted_action_and_never_leaks_the_key() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server = Server::start(|_| {
        // Fenced JSON, as some models answer even in JSON mode.
        completion(&format!(
            "```json\n{}\n```",
            decision(&[("fan_on", "27 °C is too warm")])
        ))
    });
    // A sensor that answers once, then fails: its value goes stale.
    env.write_bin(
        "once",
        &format!(
            "#!/bin/sh\nf='{}'\nif [ -e \"$f\" ]; then echo down >&2; exit 1; fi\ntouch \"$f\"\necho 19\n",
            env.path("once.done").display()
        ),
    );
    let once = env.bin.join("once");
    ai_config(
        &mut env,
        port,
        &server,
        &[],
        &format!(
            "[[sensor]]\nname = \"soil\"\nkind = \"command\"\ncommand = [\"{}\"]\ninterval = \"100ms\"\nunit = \"%\"\n",
            once.display()
        ),
    );
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || !fan_calls(&env).is_empty()),
        "{}",
        run.stderr()
    );
    assert_eq!(fan_calls(&env)[0], "on --speed 2");
    assert!(wait_until(
        WAIT,
        || run.json("/api/status")["ai"]["last_decision"]["actions"][0]["status"] == "ran"
    ));
    let status = run.json("/api/status");
    let last = &status["ai"]["last_decision"];
    assert_eq!(last["summary"], "air is warm; venting", "{status}");
    assert_eq!(last["actions"][0]["name"], "fan_on");
    assert_eq!(last["usage"]["total_tokens"], 120);
    assert!(wait_until(WAIT, || metric(
        &run,
        "grokmon_ai_decisions_total "
    )
    .is_some_and(|n| n >= 1.0)));
    assert!(
        metric(
            &run,
            "grokmon_ai_actions_total{action=\"fan_on\",outcome=\"ran\"} "
        )
        .is_some()
    );
    let health = run.json("/api/health");
    assert_eq!(health["components"]["ai"]["status"], "ok", "{health}");

    // The request: key in the Authorization header only, JSON mode asked,
    // readings with units, the stale one labelled, the actions described.
    let reqs = server.requests();
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    let auth: Vec<&String> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(auth, [&format!("Bearer {SENTINEL}")]);
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["response_format"]["type"], "json_object");
    assert!(!String::from_utf8_lossy(&r.body).contains(SENTINEL));
    assert!(
        wait_until(WAIT, || server.requests().iter().any(|r| {
            let b: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let user = b["messages"][1]["content"]
                .as_str()
                .unwrap_or("")
                .to_string();
            user.contains("- soil: 19 % STALE")
                && user.contains("- temp: ")
                && user.contains("°C (read ")
                && user.contains("- fan_on: Turn the exhaust fan on")
        })),
        "no request labelled the stale reading: {:?}",
        server
            .requests()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
    );

    assert_eq!(run.stop(libc::SIGTERM), 0);
    let d = rows(
        &env,
        "SELECT model, summary, total_tokens, readings, dry_run FROM decisions ORDER BY id LIMIT 1",
    );
    assert_eq!(d[0][0], "test-model");
    assert_eq!(d[0][2], "120");
    assert!(d[0][3].contains("\"sensor\":\"soil\""), "{:?}", d[0][3]);
    assert_eq!(d[0][4], "0");
    let a = rows(
        &env,
        "SELECT name, status, exit_code, detail FROM action_runs ORDER BY rowid LIMIT 1",
    );
    assert_eq!(a[0][..3], ["fan_on", "ran", "0"]);
    assert!(a[0][3].contains("fan switched"), "{:?}", a[0]);

    // The sentinel appears nowhere grokmon writes.
    let mut places = vec![
        ("stderr", run.stderr()),
        ("alerts log", read(&env.alerts_log())),
    ];
    for f in ["grokmon.db", "grokmon.db-wal"] {
        let p = env.database().with_file_name(f);
        places.push((
            f,
            String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned(),
        ));
    }
    for (what, text) in places {
        assert!(!text.contains(SENTINEL), "the key leaked into {what}");
    }
}

#[test]
fn server_errors_are_retried_while_sensors_keep_polling() {
    let mut env = TestEnv::new();
    let port = free_port();
    let n = Arc::new(AtomicUsize::new(0));
    let server = {
        let n = n.clone();
        Server::start(move |_| {
            if n.fetch_add(1, Ordering::SeqCst) < 2 {
                Response::text(
                    500,
                    format!("upstream exploded for key {SENTINEL}").as_bytes(),
                )
            } else {
                completion(&decision(&[]))
            }
        })
    };
    ai_config(
        &mut env,
        port,
        &server,
        &[("backoff", "[\"1s\", \"1s\", \"1s\"]")],
        "",
    );
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || n.load(Ordering::SeqCst) >= 1),
        "{}",
        run.stderr()
    );
    let reads_at_first_failure =
        metric(&run, "grokmon_sensor_reads_total{sensor=\"temp\"} ").unwrap();
    assert!(
        wait_until(WAIT, || metric(&run, "grokmon_ai_decisions_total ")
            .is_some_and(|d| d >= 1.0)),
        "{}",
        run.stderr()
    );
    let reads_at_decision = metric(&run, "grokmon_sensor_reads_total{sensor=\"temp\"} ").unwrap();
    assert!(
        reads_at_decision > reads_at_first_failure + 5.0,
        "sensors stalled during AI retries: {reads_at_first_failure} → {reads_at_decision}"
    );
    let stderr = run.stderr();
    assert_eq!(
        stderr.matches("AI decision failed: HTTP 500").count(),
        2,
        "{stderr}"
    );
    assert!(!stderr.contains(SENTINEL), "{stderr}");
    assert!(stderr.contains("[redacted]"), "{stderr}");
    assert_eq!(metric(&run, "grokmon_ai_failures_total "), Some(2.0));
    // Two failures within the retries: no WARN line.
    assert!(!read(&env.alerts_log()).contains("WARN ai"));
    assert_eq!(run.stop(libc::SIGTERM), 0);
}

#[test]
fn a_429_retry_after_is_honoured_over_the_backoff() {
    let mut env = TestEnv::new();
    let port = free_port();
    let n = Arc::new(AtomicUsize::new(0));
    let server = {
        let n = n.clone();
        Server::start(move |_| {
            if n.fetch_add(1, Ordering::SeqCst) == 0 {
                Response::json(429, r#"{"error":"rate limited"}"#).header("Retry-After", "1")
            } else {
                completion(&decision(&[]))
            }
        })
    };
    // A backoff of an hour: only Retry-After can bring the retry this soon.
    ai_config(&mut env, port, &server, &[("backoff", "[\"1h\"]")], "");
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || metric(&run, "grokmon_ai_decisions_total ")
            .is_some_and(|d| d >= 1.0)),
        "{}",
        run.stderr()
    );
    let stderr = run.stderr();
    assert!(stderr.contains("AI decision failed: HTTP 429"), "{stderr}");
    assert!(stderr.contains("retry in 1s"), "{stderr}");
    assert_eq!(run.stop(libc::SIGTERM), 0);
}

#[test]
fn a_hanging_ai_times_out_warns_once_and_never_delays_sensors_or_the_api() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server = Server::start(|_| completion(&decision(&[])).delay(Duration::from_secs(8)));
    ai_config(&mut env, port, &server, &[("timeout", "\"300ms\"")], "");
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || read(&env.alerts_log())
            .contains("WARN ai: decisions failing")),
        "{}",
        run.stderr()
    );
    let stderr = run.stderr();
    assert!(
        stderr.contains("AI decision failed: timed out after 300ms"),
        "{stderr}"
    );
    // One WARN line, however many attempts.
    assert!(wait_until(WAIT, || run
        .stderr()
        .matches("retries spent")
        .count()
        >= 2));
    assert_eq!(read(&env.alerts_log()).matches("WARN ai").count(), 1);
    // Meanwhile the sensors are fresh and the API answers.
    let s = run.sensor("temp");
    assert_eq!(s["stale"], false, "{s}");
    assert!(s["age_s"].as_f64().unwrap() < 5.0, "{s}");
    let h = run.json("/api/health");
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["components"]["ai"]["status"], "failing", "{h}");
    // SIGTERM while a request hangs: exit 0.
    run.signal(libc::SIGTERM);
    assert_eq!(
        run.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        run.stderr()
    );
}

#[test]
fn prose_instead_of_json_is_a_failure_and_runs_nothing() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server =
        Server::start(|_| completion("I think you should turn\nfan_on \u{1b}[2J right away."));
    ai_config(&mut env, port, &server, &[], "");
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || read(&env.alerts_log()).contains("WARN ai")),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr()
            .contains("AI decision failed: invalid answer: not JSON"),
        "{}",
        run.stderr()
    );
    // The model's text escaped once on stderr and in the log.
    let once = r#"not JSON: "I think you should turn\nfan_on \x1b[2J right away.""#;
    assert!(run.stderr().contains(once), "{}", run.stderr());
    let log = read(&env.alerts_log());
    assert!(log.contains(once), "{log}");
    for text in [run.stderr(), log] {
        assert!(!text.contains(r"\\"), "escaped twice: {text}");
    }
    assert!(fan_calls(&env).is_empty());
    assert_eq!(run.stop(libc::SIGTERM), 0);
    assert!(rows(&env, "SELECT id FROM decisions").is_empty());
}

#[test]
fn unknown_names_and_injected_shell_run_nothing_but_the_configured_argv() {
    let mut env = TestEnv::new();
    let port = free_port();
    let pwned = env.path("PWNED");
    let p = pwned.display().to_string();
    let answer = serde_json::json!({
        "summary": format!("ok; touch {p}"),
        "actions": [
            {"name": "reboot", "reason": "why not"},
            {"name": format!("fan_on; touch {p}"), "reason": "x"},
            {"name": "fan_on", "reason": format!("$(touch {p}) `touch {p}`"), "command": ["touch", p]},
        ],
    })
    .to_string();
    let server = Server::start(move |_| completion(&answer));
    ai_config(&mut env, port, &server, &[], "");
    let mut run = Running::start(&env, port);
    // The fan script writes its call before it exits, and the action's record is
    // stored after that: wait for all three records, or SIGTERM may land between
    // the two (a stop does not wait for an action in flight).
    assert!(
        wait_until(WAIT, || !fan_calls(&env).is_empty()
            && stored_count(&env, "SELECT count(*) FROM action_runs") >= 3),
        "{}",
        run.stderr()
    );
    assert_eq!(run.stop(libc::SIGTERM), 0);
    assert!(!pwned.exists(), "an injected command ran");
    assert!(
        fan_calls(&env).iter().all(|c| c == "on --speed 2"),
        "{:?}",
        fan_calls(&env)
    );
    let a = rows(
        &env,
        "SELECT name, status, detail FROM action_runs WHERE decision_id = (SELECT min(id) FROM decisions) ORDER BY rowid",
    );
    let got: Vec<(&str, &str)> = a.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(
        got,
        [
            ("reboot", "rejected"),
            (format!("fan_on; touch {p}").as_str(), "rejected"),
            ("fan_on", "ran")
        ]
    );
    assert!(
        a[0][2].contains("not in the [[action]] allowlist"),
        "{:?}",
        a[0]
    );
    assert!(
        run.stderr().contains("ai action reboot: rejected"),
        "{}",
        run.stderr()
    );
}

#[test]
fn an_action_within_its_cooldown_is_skipped() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server = Server::start(|_| completion(&decision(&[("fan_on", "warm")])));
    ai_config(&mut env, port, &server, &[], "");
    let text = read(&env.config_path());
    assert!(text.contains("cooldown = \"0s\""));
    std::fs::write(
        env.config_path(),
        text.replace("cooldown = \"0s\"", "cooldown = \"1h\""),
    )
    .unwrap();
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || metric(&run, "grokmon_ai_decisions_total ")
            .is_some_and(|d| d >= 3.0)),
        "{}",
        run.stderr()
    );
    assert_eq!(run.stop(libc::SIGTERM), 0);
    assert_eq!(fan_calls(&env).len(), 1);
    let statuses: Vec<String> = rows(&env, "SELECT status FROM action_runs ORDER BY rowid")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(statuses[0], "ran");
    assert!(
        statuses.len() >= 3 && statuses[1..].iter().all(|s| s == "skipped"),
        "{statuses:?}"
    );
}

#[test]
fn the_cooldown_survives_a_restart_of_grokmon() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server = Server::start(|_| completion(&decision(&[("fan_on", "warm")])));
    ai_config(&mut env, port, &server, &[], "");
    let text = read(&env.config_path()).replace("cooldown = \"0s\"", "cooldown = \"1h\"");
    std::fs::write(env.config_path(), text).unwrap();
    for _ in 0..2 {
        let mut run = Running::start(&env, port);
        let before = server.requests().len();
        assert!(
            wait_until(WAIT, || server.requests().len() >= before + 2),
            "{}",
            run.stderr()
        );
        assert_eq!(run.stop(libc::SIGTERM), 0);
    }
    assert_eq!(
        fan_calls(&env).len(),
        1,
        "the fan ran again after a restart"
    );
}

#[test]
fn dry_run_records_decisions_without_running_anything() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server = Server::start(|_| completion(&decision(&[("fan_on", "warm")])));
    ai_config(&mut env, port, &server, &[("dry_run", "true")], "");
    let mut run = Running::start(&env, port);
    assert!(wait_until(WAIT, || metric(
        &run,
        "grokmon_ai_decisions_total "
    )
    .is_some_and(|d| d >= 1.0)));
    assert_eq!(run.stop(libc::SIGTERM), 0);
    assert!(fan_calls(&env).is_empty());
    let a = rows(
        &env,
        "SELECT a.status, d.dry_run FROM action_runs a JOIN decisions d ON d.id = a.decision_id",
    );
    assert_eq!(a[0], ["dry_run", "1"]);
}

#[test]
fn a_missing_key_is_a_config_error_that_names_the_variable() {
    let env = TestEnv::new();
    let port = free_port();
    config(
        &env,
        port,
        "[ai]\nenabled = true\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"GROKMON_ABSENT_KEY\"\n",
    );
    env.run(&["run"]).code(78).stderr_has("GROKMON_ABSENT_KEY");
}

#[test]
fn a_server_without_json_mode_is_asked_again_without_it_and_the_key_file_works() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server = Server::start(|req| {
        if String::from_utf8_lossy(&req.body).contains("response_format") {
            Response::json(400, r#"{"error":"unknown field response_format"}"#)
        } else {
            completion(&decision(&[]))
        }
    });
    // The key from a file in $CREDENTIALS_DIRECTORY (systemd's LoadCredential=).
    let creds = env.path("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("xai"), format!("{SENTINEL}\n")).unwrap();
    env.set_env("CREDENTIALS_DIRECTORY", creds.to_str().unwrap());
    ai_config(&mut env, port, &server, &[], "");
    let text = read(&env.config_path()).replace(
        "api_key_env = \"GROKMON_TEST_KEY\"",
        "api_key_file = \"xai\"",
    );
    std::fs::write(env.config_path(), text).unwrap();
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || metric(&run, "grokmon_ai_decisions_total ")
            .is_some_and(|d| d >= 2.0)),
        "{}",
        run.stderr()
    );
    assert_eq!(run.stop(libc::SIGTERM), 0);
    let reqs = server.requests();
    let with_mode = reqs
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("response_format"))
        .count();
    // Asked once with JSON mode, then never again.
    assert_eq!(with_mode, 1, "{} requests", reqs.len());
    assert!(reqs.iter().all(|r| r.headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("authorization") && *v == format!("Bearer {SENTINEL}")
    })));
    assert!(
        !run.stderr().contains("AI decision failed"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_key_echoed_by_the_api_never_leaks_even_in_part() {
    let mut env = TestEnv::new();
    let port = free_port();
    let n = Arc::new(AtomicUsize::new(0));
    let server = {
        let n = n.clone();
        Server::start(move |_| {
            if n.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                // The key straddles the 200-character cut of an error body.
                Response::text(401, format!("{}{SENTINEL}", "x".repeat(185)).as_bytes())
            } else {
                // A 200 that is not JSON, echoing the key first.
                Response::text(200, format!("{SENTINEL} is not a valid key").as_bytes())
            }
        })
    };
    ai_config(&mut env, port, &server, &[("backoff", "[\"200ms\"]")], "");
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || read(&env.alerts_log()).contains("WARN ai")
            && run.stderr().matches("AI decision failed").count() >= 4),
        "{}",
        run.stderr()
    );
    // Any 10 characters of the key are a part of it.
    let part = &SENTINEL[..10];
    let mut places = vec![
        ("/api/health", run.get("/api/health").unwrap().2),
        ("/api/status", run.get("/api/status").unwrap().2),
        ("/metrics", run.get("/metrics").unwrap().2),
    ];
    assert_eq!(run.stop(libc::SIGTERM), 0);
    places.push(("stderr", run.stderr()));
    places.push(("alerts log", read(&env.alerts_log())));
    for (what, text) in places {
        assert!(
            !text.contains(part),
            "a part of the key leaked into {what}: {text}"
        );
    }
    assert!(run.stderr().contains("[redacted]"), "{}", run.stderr());
}

#[test]
fn sigterm_during_a_long_action_stops_at_once_and_kills_it() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server = Server::start(|_| completion(&decision(&[("slow", "takes a while")])));
    let started = env.path("slow.pid");
    env.write_bin(
        "slow",
        &format!(
            "#!/bin/sh\necho $$ > '{}.tmp'\nmv '{0}.tmp' '{0}'\nsleep 60\n",
            started.display()
        ),
    );
    let slow = env.bin.join("slow");
    ai_config(
        &mut env,
        port,
        &server,
        &[],
        &format!(
            "[[action]]\nname = \"slow\"\ndescription = \"A slow action\"\ncommand = [\"{}\"]\ntimeout = \"60s\"\ncooldown = \"0s\"\n",
            slow.display()
        ),
    );
    // A deadline well below the action's timeout: only a stop that does not
    // wait for the action can be clean.
    let text = read(&env.config_path()).replace(
        "reconnect_after = 3\n",
        "reconnect_after = 3\nshutdown_timeout = \"5s\"\n",
    );
    std::fs::write(env.config_path(), text).unwrap();
    let mut run = Running::start(&env, port);
    assert!(wait_until(WAIT, || started.exists()), "{}", run.stderr());
    let pgid: i32 = read(&started).trim().parse().unwrap();
    assert_eq!(run.stop(libc::SIGTERM), 0);
    let stderr = run.stderr();
    assert!(stderr.contains("stopped cleanly"), "{stderr}");
    assert!(!stderr.contains("shutdown took longer"), "{stderr}");
    assert!(
        wait_until(WAIT, || !group_alive(pgid)),
        "the action's process group outlived grokmon"
    );
}

#[test]
fn commands_never_see_the_key_so_their_output_cannot_leak_it() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server = Server::start(|_| completion(&decision(&[("dump", "debugging")])));
    // A sensor and an action that print the key's variable, as an `env`
    // dump or a debugging script would.
    env.write_bin(
        "dump",
        "#!/bin/sh\necho \"key=$GROKMON_TEST_KEY\"\necho \"key=$GROKMON_TEST_KEY\" >&2\nexit 1\n",
    );
    let dump = env.bin.join("dump");
    ai_config(
        &mut env,
        port,
        &server,
        &[],
        &format!(
            "[[sensor]]\nname = \"leaky\"\nkind = \"command\"\ncommand = [\"{0}\"]\ninterval = \"100ms\"\n\
             [[action]]\nname = \"dump\"\ndescription = \"Dump\"\ncommand = [\"{0}\"]\ncooldown = \"0s\"\n",
            dump.display()
        ),
    );
    let mut run = Running::start(&env, port);
    assert!(
        wait_until(WAIT, || read(&env.alerts_log())
            .contains("WARN sensor.leaky")
            && run.json("/api/status")["ai"]["last_decision"]["actions"][0]["status"]
                == "failed"),
        "{}",
        run.stderr()
    );
    let part = &SENTINEL[..10];
    let mut places = vec![
        ("/api/health", run.get("/api/health").unwrap().2),
        ("/api/status", run.get("/api/status").unwrap().2),
    ];
    assert_eq!(run.stop(libc::SIGTERM), 0);
    places.push(("stderr", run.stderr()));
    places.push(("alerts log", read(&env.alerts_log())));
    let detail = rows(&env, "SELECT detail FROM action_runs LIMIT 1");
    assert!(detail[0][0].contains("key="), "{detail:?}");
    places.push(("action_runs", detail[0][0].clone()));
    for (what, text) in places {
        assert!(!text.contains(part), "the key leaked into {what}: {text}");
    }
}

#[test]
fn a_hung_database_never_stalls_the_api_or_the_signals() {
    let mut env = TestEnv::new();
    let port = free_port();
    let server = Server::start(|_| completion(&decision(&[])));
    ai_config(&mut env, port, &server, &[], "");
    let text = read(&env.config_path()).replace(
        "reconnect_after = 3\n",
        "reconnect_after = 3\nshutdown_timeout = \"1s\"\n",
    );
    std::fs::write(env.config_path(), text).unwrap();
    // A database on a hung filesystem: a FIFO blocks in open() and read().
    let db = env.database();
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let c = std::ffi::CString::new(db.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let stderr = env.path("run.stderr");
    let mut child = env
        .cmd(&["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/health");
    // Whatever the store makes of it, the API answers.
    let answered = wait_until(WAIT, || {
        client
            .get(&url)
            .send()
            .is_ok_and(|r| matches!(r.status().as_u16(), 200 | 503))
    });
    // SAFETY: kill with a pid we own.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let mut code = None;
    let exited = wait_until(WAIT, || {
        code = child.try_wait().unwrap().map(|s| s.code());
        code.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(answered, "the API never answered\n{}", read(&stderr));
    assert_eq!(code, Some(Some(0)), "{}", read(&stderr));
}
