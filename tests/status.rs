//! Integration tests for `grokmon status`.

use chrono::{DateTime, Utc};
use grokmon::alerts::{Event, Level};

use crate::alerts::{disk_now, seed_samples, write_log};
use crate::util::*;

fn ago(secs: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(secs)
}

fn line(t: DateTime<Utc>, level: Level, source: &str, msg: &str) -> String {
    Event::new(t, level, source, msg).to_line() + "\n"
}

#[test]
fn status_without_a_state_database_says_what_is_unknown() {
    let env = TestEnv::new();
    env.fake_systemctl_no_bus();
    let o = env.run(&["status"]);
    o.code(0)
        .stdout_has("no check has run yet")
        .stdout_has("no state database")
        .stdout_has("no systemd")
        .stdout_has("no unreviewed alerts")
        .stdout_has("none yet in");
    assert!(!o.stdout.contains('\x1b'), "colour on a pipe");
    assert!(!env.state_db().exists(), "status must not create the state");
    let v = env.run(&["status", "--json"]).json();
    assert_eq!(v["last_check"], serde_json::Value::Null);
    assert_eq!(v["probes"], serde_json::json!([]));
    assert_eq!(v["service"]["state"], serde_json::Value::Null);
    assert!(v["unknown"].as_array().unwrap().len() >= 2, "{v}");
}

#[test]
fn status_shows_service_checks_alerts_backups_trends_and_forecast() {
    let env = TestEnv::new();
    let started = Utc::now().timestamp() - 3 * 3600;
    env.fake_systemctl_show(&format!(
        "LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nActiveEnterTimestamp=@{started}\nNRestarts=5\nMainPID=4242\nMemoryCurrent=1000000\nMemoryMax=infinity\n"
    ));
    env.write_config("[check]\nprobes = [\"disk\", \"service\", \"forecast\"]\n");
    let (mp, used) = disk_now(&env);
    // NRestarts went 1 → 2 (20 h ago) → 4 (30 min ago), 5 now.
    seed_samples(
        &env,
        "service.nrestarts",
        &[
            (ago(22 * 3600), 1.0),
            (ago(20 * 3600), 2.0),
            (ago(1800), 4.0),
        ],
    );
    let pts: Vec<_> = (1..=36)
        .map(|i| (ago(i * 7200), used - 10.0 * (i as f64 * 2.0 / 24.0)))
        .collect();
    seed_samples(&env, &format!("disk:{mp}"), &pts);
    std::fs::create_dir_all(env.backups()).unwrap();
    let taken = Utc::now() - chrono::Duration::hours(5);
    std::fs::write(
        env.backups()
            .join(format!("grokmon-{}.db.zst", taken.format("%Y%m%dT%H%M%SZ"))),
        b"x",
    )
    .unwrap();
    write_log(
        &env,
        &(line(ago(600), Level::Warn, "api", "reviewed")
            + &line(ago(500), Level::Crit, "disk", "second")),
    );
    env.run(&["alerts", "ack"]).code(0);
    let later = Utc::now() + chrono::Duration::seconds(5);
    std::fs::OpenOptions::new()
        .append(true)
        .open(env.alerts_log())
        .and_then(|mut f| {
            std::io::Write::write_all(
                &mut f,
                line(later, Level::Crit, "sensor.temp", "too hot \x1b[2J").as_bytes(),
            )
        })
        .unwrap();

    let v = env.run(&["status", "--json"]).json();
    let s = &v["service"];
    assert_eq!(s["state"], "active", "{v}");
    assert_eq!(s["main_pid"], 4242);
    assert!(s["uptime_seconds"].as_u64().unwrap() >= 3 * 3600);
    assert_eq!(s["restarts_last_hour"], 1, "{s}");
    assert_eq!(s["restarts_last_day"], 4, "{s}");
    assert!(v["last_check_age_seconds"].as_u64().is_some());
    let probes = v["probes"].as_array().unwrap();
    let svc = probes
        .iter()
        .find(|p| p["probe"] == "service")
        .expect("service probe row");
    assert!(
        svc["message"]
            .as_str()
            .unwrap()
            .contains("active (running)"),
        "{svc}"
    );
    assert_eq!(v["alerts"]["unreviewed"], 1, "{v}");
    assert_eq!(v["alerts"]["last"][0]["source"], "sensor.temp");
    assert_eq!(v["alerts"]["last"][0]["message"], "too hot \x1b[2J");
    assert_eq!(v["backups"]["count"], 1);
    let a = v["backups"]["newest_age_seconds"].as_u64().unwrap();
    assert!((5 * 3600..6 * 3600).contains(&a), "{a}");
    let disk = v["trends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["metric"] == format!("disk:{mp}"))
        .unwrap_or_else(|| panic!("no disk trend: {v}"))
        .clone();
    assert!(disk["samples"].as_u64().unwrap() >= 12, "{disk}");
    assert_eq!(disk["sparkline"].as_str().unwrap().chars().count(), 24);
    let f = &v["forecasts"][0];
    assert_eq!(f["mountpoint"], mp.as_str());
    assert_eq!(f["status"], "warn", "{f}");
    assert!(f["days_to_full"].as_f64().unwrap() < 14.0);

    let o = env.run(&["status"]);
    o.code(0)
        .stdout_has("active (running)")
        .stdout_has("pid 4242")
        .stdout_has("restarts: 1 in the last hour, 4 in the last day")
        .stdout_has("1 unreviewed")
        .stdout_has("too hot \\x1b[2J")
        .stdout_has("full in ~")
        .stdout_has("newest grokmon-");
    assert!(
        !o.stdout.contains('\x1b'),
        "outside text or colour reached a pipe"
    );
    assert!(
        o.stdout.chars().any(|c| ('▁'..='█').contains(&c)),
        "{}",
        o.stdout
    );
}

#[test]
fn status_with_a_corrupt_state_database_still_answers() {
    let env = TestEnv::new();
    env.fake_systemctl_no_bus();
    std::fs::create_dir_all(env.state_db().parent().unwrap()).unwrap();
    std::fs::write(env.state_db(), vec![0x5a; 8192]).unwrap();
    let o = env.run(&["status"]);
    o.code(0)
        .stdout_has("corrupt")
        // A check may well have run: its record cannot be read.
        .stdout_has("checks  unknown (state database unreadable)");
}
