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
        (r#"{"status":"UP","components":{"db":{"status":"UP"}}}"#, "", "ok", "up"),
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
