//! The service probe over D-Bus: a private `dbus-daemon` with a fake
//! systemd served by libdbus (python3-dbus), so the wire format is checked
//! against an implementation other than grokmon's own.

use crate::check::{healthy_env, healthy_server, probe};
use crate::util::bus::{self, PrivateBus, PrivateSocket};
use crate::util::*;

/// What systemd 252's `systemctl show -p ... --timestamp=unix` prints for
/// the unit that `PROPS_JSON` describes in D-Bus types.
fn show_text(started: i64) -> String {
    format!(
        "LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n\
         ActiveEnterTimestamp=@{started}\nNRestarts=2\nMainPID=4242\n\
         MemoryCurrent=104857600\nMemoryMax=524288000\n\
         FragmentPath=/etc/systemd/user/grokmon.service\nStartLimitBurst=5\n\
         StartLimitIntervalUSec=10s\nRestart=on-failure\nRestartPreventExitStatus=78\n\
         TimeoutStopUSec=15s\nCPUQuotaPerSecUSec=2s\nWatchdogUSec=1min\n\
         ControlGroup=/user.slice/grokmon.service\nRestartUSec=30s\nDropInPaths=\n\
         ExecStart={{ path=/usr/bin/grokmon ; argv[]=/usr/bin/grokmon run ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }}\n"
    )
}

/// The same unit as D-Bus values, plus properties of other shapes that
/// the client must step over (arrays of structs, string arrays, booleans).
fn props_json(started: i64) -> String {
    let usec = started * 1_000_000 + 123_456;
    format!(
        r#"{{"unit": "grokmon.service",
  "Unit": {{
    "Id": ["s", "grokmon.service"], "Names": ["as", ["grokmon.service"]],
    "LoadState": ["s", "loaded"], "ActiveState": ["s", "active"], "SubState": ["s", "running"],
    "ActiveEnterTimestamp": ["t", {usec}], "ActiveEnterTimestampMonotonic": ["t", 5000],
    "FragmentPath": ["s", "/etc/systemd/user/grokmon.service"], "DropInPaths": ["as", []],
    "CanStart": ["b", true], "StartLimitBurst": ["u", 5],
    "StartLimitIntervalUSec": ["t", 10000000],
    "Conditions": ["a(sbbsi)", [["ConditionPathExists", false, false, "/x", 0]]]
  }},
  "Service": {{
    "Result": ["s", "success"], "NRestarts": ["u", 2], "MainPID": ["u", 4242],
    "ExecStart": ["a(sasbttttuii)", [["/usr/bin/grokmon", ["/usr/bin/grokmon", "run"], false, 0, 0, 0, 0, 0, 0, 0]]],
    "RestartUSec": ["t", 30000000],
    "MemoryCurrent": ["t", 104857600], "MemoryMax": ["t", 524288000],
    "Restart": ["s", "on-failure"], "RestartPreventExitStatus": ["(aiai)", [[78], []]],
    "TimeoutStopUSec": ["t", 15000000], "CPUQuotaPerSecUSec": ["t", 2000000],
    "WatchdogUSec": ["t", 60000000], "ControlGroup": ["s", "/user.slice/grokmon.service"],
    "Environment": ["as", []], "OOMScoreAdjust": ["i", -100], "CPUUsageNSec": ["t", 18446744073709551615]
  }}
}}"#
    )
}

/// A check whose service probe may reach `bus` (and systemd's private
/// socket would be in an empty runtime dir).
fn on_bus(env: &mut TestEnv, bus: &PrivateBus) {
    let rt = env.path("run");
    std::fs::create_dir_all(&rt).unwrap();
    env.set_env("XDG_RUNTIME_DIR", rt.to_str().unwrap());
    env.set_env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
}

/// A check env whose service probe reaches a fake systemd serving
/// `props_json(started)` on a private bus (kept alive by the returned
/// handle), and whose fake `systemctl` would say "failed", so an answer
/// from it would show.
fn on_fake_systemd(server: &Server, started: i64) -> (TestEnv, PrivateBus) {
    let mut env = healthy_env(server);
    env.fake_systemctl_show("LoadState=loaded\nActiveState=failed\nResult=exit-code\n");
    let json = env.path("props.json");
    std::fs::write(&json, props_json(started)).unwrap();
    let mut b = PrivateBus::start(env.dir.path());
    b.serve_systemd(&json);
    on_bus(&mut env, &b);
    (env, b)
}

#[test]
fn the_service_probe_reads_dbus_as_systemctl_show() {
    if !bus::available() {
        return;
    }
    let started = chrono::Utc::now().timestamp() - 3 * 3600;
    let server = healthy_server();

    // Over the bus.
    let (env, _bus) = on_fake_systemd(&server, started);
    let v = env.run(&["check", "--format", "json"]).json();
    // The service and units observations, without their times.
    let rows = |v: &serde_json::Value| {
        ["service", "units"].map(|name| {
            let mut row = probe(v, name).clone();
            row.as_object_mut().unwrap().remove("duration_ms");
            row
        })
    };
    let over_bus = rows(&v);
    assert_eq!(env.systemctl_calls(), Vec::<String>::new(), "{over_bus:?}");

    // The same unit through `systemctl show`'s text.
    let env2 = healthy_env(&server);
    env2.fake_systemctl_show(&show_text(started));
    let v = env2.run(&["check", "--format", "json"]).json();
    let over_show = rows(&v);
    assert_eq!(env2.systemctl_calls().len(), 1);

    assert_eq!(over_bus, over_show);
    let [service, units] = &over_bus;
    assert_eq!(service["status"], "ok", "{service}");
    let msg = service["message"].as_str().unwrap();
    for part in [
        "active (running) for 3h",
        "pid 4242",
        "memory 100.0 MiB of its MemoryMax 500.0 MiB",
    ] {
        assert!(msg.contains(part), "{part:?} not in {msg}");
    }
    assert_eq!(units["status"], "warn", "{units}");
    assert!(
        units["message"]
            .as_str()
            .unwrap()
            .contains("StartLimitIntervalSec"),
        "{units}"
    );
}

/// A warm check with a plain loopback API and systemd on a bus starts no
/// thread and no process: the GET and the D-Bus query go out first
/// without waiting, their answers are read after the local work (seen with
/// strace, which reports every clone and execve of the process tree).
#[test]
fn a_warm_check_starts_no_thread_and_no_process() {
    if !bus::available() || !have("strace") {
        return;
    }
    let started = chrono::Utc::now().timestamp() - 3 * 3600;
    let server = healthy_server();
    let (env, _bus) = on_fake_systemd(&server, started);
    // Warm: the state exists and holds the CPU counters.
    env.run(&["check", "--quiet"]);
    let trace = env.path("strace.out");
    let c = env.cmd(&["check", "--format", "json"]);
    let mut s = std::process::Command::new("strace");
    s.args(["-f", "-qq", "-o"])
        .arg(&trace)
        .args(["-e", "trace=clone,clone3,fork,vfork,execve"])
        .arg(c.get_program())
        .args(c.get_args())
        .env_clear()
        .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .current_dir(env.dir.path());
    let out = s.output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(probe(&v, "api")["status"], "ok", "{v}");
    assert_eq!(probe(&v, "service")["status"], "ok", "{v}");
    assert_eq!(env.systemctl_calls(), Vec::<String>::new());
    let t = std::fs::read_to_string(&trace).unwrap();
    let calls: Vec<&str> = t
        .lines()
        .filter(|l| {
            ["clone", "fork", "vfork", "execve"]
                .iter()
                .any(|c| l.contains(&format!("{c}(")))
        })
        .collect();
    assert_eq!(calls.len(), 1, "only the binary's own execve: {calls:#?}");
    assert!(calls[0].contains("execve("), "{calls:?}");
}

/// The check reads its answers one after the other: an API that never
/// answers within its 6 s is read first, and by then the D-Bus query's own
/// 5 s have passed. systemd's answer, there since the start, is still read
/// (not a "timed out" of the service).
#[test]
fn an_answer_that_arrived_in_time_is_read_after_another_probes_timeout() {
    if !bus::available() {
        return;
    }
    let started = chrono::Utc::now().timestamp() - 3 * 3600;
    let server = healthy_server();
    let (env, _bus) = on_fake_systemd(&server, started);
    // Connections complete in the kernel's backlog; nobody ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    env.write_config(&format!(
        "[check.api]\nurl = \"http://{}/api/health\"\ntimeout = \"6s\"\n",
        silent.local_addr().unwrap()
    ));
    let t0 = std::time::Instant::now();
    let out = env.run(&["check", "--format", "json"]);
    let took = t0.elapsed();
    let v = out.json();
    let api = probe(&v, "api");
    assert_eq!(api["status"], "crit", "{v}");
    assert!(
        api["message"].as_str().unwrap().contains("timed out"),
        "{api}"
    );
    let service = probe(&v, "service");
    assert_eq!(service["status"], "ok", "{service}");
    assert_eq!(env.systemctl_calls(), Vec::<String>::new());
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    drop(silent);
}

#[test]
fn a_unit_systemd_cannot_load_is_not_found_over_dbus() {
    if !bus::available() {
        return;
    }
    let server = healthy_server();
    let mut env = healthy_env(&server);
    env.write_config(&format!(
        "[service]\nunit = \"other-app.service\"\n[check.api]\nurl = \"{}\"\n",
        server.url("/api/health")
    ));
    let json = env.path("props.json");
    std::fs::write(&json, props_json(1)).unwrap();
    let mut b = PrivateBus::start(env.dir.path());
    b.serve_systemd(&json);
    on_bus(&mut env, &b);
    let v = env.run(&["check", "--format", "json"]).json();
    let svc = probe(&v, "service");
    assert_eq!(svc["status"], "warn", "{svc}");
    assert!(
        svc["message"]
            .as_str()
            .unwrap()
            .contains("unit other-app.service not found"),
        "{svc}"
    );
    assert!(env.systemctl_calls().is_empty());
}

#[test]
fn a_bus_without_systemd_falls_back_to_systemctl() {
    if !bus::available() {
        return;
    }
    let server = healthy_server();
    let mut env = healthy_env(&server);
    let b = PrivateBus::start(env.dir.path());
    on_bus(&mut env, &b);
    let v = env.run(&["check", "--format", "json"]).json();
    let svc = probe(&v, "service");
    assert_eq!(svc["status"], "ok", "{svc}");
    assert!(svc["message"].as_str().unwrap().contains("pid 42"), "{svc}");
    assert_eq!(env.systemctl_calls().len(), 1);
}

/// `props_json`, but with another main PID: which of two fakes answered.
fn props_json_pid(started: i64, pid: u32) -> String {
    props_json(started).replace(
        r#""MainPID": ["u", 4242]"#,
        &format!(r#""MainPID": ["u", {pid}]"#),
    )
}

/// A fake systemd on the private socket of `env`'s runtime directory
/// (set by `on_bus`), answering main PID 4343.
fn private_socket(env: &TestEnv, started: i64) -> PrivateSocket {
    let json = env.path("private.json");
    std::fs::write(&json, props_json_pid(started, 4343)).unwrap();
    PrivateSocket::serve(&env.path("run/systemd/private"), &json)
}

/// The service row's (status, message).
fn service_row(env: &TestEnv) -> (String, String) {
    let v = env.run(&["check", "--format", "json"]).json();
    let s = probe(&v, "service");
    (
        s["status"].as_str().unwrap().to_string(),
        s["message"].as_str().unwrap().to_string(),
    )
}

/// A check's service row is OK with the main PID `pid` (which fake
/// answered: `who`), and no `systemctl` was spawned.
#[track_caller]
fn answered_by(env: &TestEnv, pid: u32, who: &str) {
    let (status, msg) = service_row(env);
    assert_eq!(status, "ok", "{msg}");
    assert!(msg.contains(&format!("pid {pid}")), "{who}'s answer: {msg}");
    assert_eq!(env.systemctl_calls(), Vec::<String>::new());
}

/// systemd is on the bus and listens on its private socket: the bus
/// answers (a connection to the private socket costs the manager itself
/// ~2.5 ms of CPU; the bus's connection to it is already there).
#[test]
fn the_bus_is_asked_before_systemds_private_socket() {
    if !bus::available() {
        return;
    }
    let started = chrono::Utc::now().timestamp() - 3 * 3600;
    let server = healthy_server();
    let (env, _bus) = on_fake_systemd(&server, started);
    let _private = private_socket(&env, started);
    answered_by(&env, 4242, "the bus");
}

/// A bus with no systemd on it: the private socket answers, and no
/// `systemctl` is spawned.
#[test]
fn a_bus_without_systemd_hands_the_query_to_systemds_private_socket() {
    if !bus::available() {
        return;
    }
    let started = chrono::Utc::now().timestamp() - 3 * 3600;
    let server = healthy_server();
    let mut env = healthy_env(&server);
    let b = PrivateBus::start(env.dir.path());
    on_bus(&mut env, &b);
    let _private = private_socket(&env, started);
    answered_by(&env, 4343, "the private socket");
}

/// A bus that takes the connection and never answers (a stopped
/// `dbus-daemon`): after `HEDGE` the private socket is asked, and answers
/// within the service probe's 5 s. Without a private socket the bus is
/// waited for until then, and the row says so.
#[test]
fn a_hung_bus_hands_the_query_to_systemds_private_socket() {
    if !bus::available() {
        return;
    }
    let started = chrono::Utc::now().timestamp() - 3 * 3600;
    let server = healthy_server();
    let mut env = healthy_env(&server);
    env.fake_systemctl_show("LoadState=loaded\nActiveState=failed\nResult=exit-code\n");
    let rt = env.path("run");
    std::fs::create_dir_all(&rt).unwrap();
    // Connections complete in the kernel's backlog; nobody ever answers.
    let hung = std::os::unix::net::UnixListener::bind(rt.join("hung-bus")).unwrap();
    env.set_env("XDG_RUNTIME_DIR", rt.to_str().unwrap());
    env.set_env(
        "DBUS_SESSION_BUS_ADDRESS",
        &format!("unix:path={}", rt.join("hung-bus").display()),
    );

    let private = private_socket(&env, started);
    answered_by(&env, 4343, "the private socket");

    drop(private);
    std::fs::remove_file(rt.join("systemd/private")).unwrap();
    let (status, msg) = service_row(&env);
    assert_eq!(status, "unknown", "{msg}");
    assert!(msg.contains("did not answer over D-Bus within 5s"), "{msg}");
    assert_eq!(env.systemctl_calls(), Vec::<String>::new());
    drop(hung);
}
