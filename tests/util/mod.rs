//! Test harness shared by every integration test: a temp HOME with XDG dirs
//! and a config file, the real binary with a cleaned environment, a fake
//! `systemctl` on PATH that records its calls, and a loopback HTTP server.
#![allow(dead_code)]

pub mod bus;
mod run;
pub use run::*;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_grokmon");

/// A temp world for one test.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub bin: PathBuf,
    extra_env: HashMap<String, String>,
}

impl TestEnv {
    /// A fresh HOME with XDG dirs, a fake-bin dir first on PATH, and a config
    /// that keeps the alerts log inside the temp dir.
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let bin = dir.path().join("bin");
        for d in [&home, &bin, &home.join(".config/grokmon")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let env = TestEnv {
            dir,
            home,
            bin,
            extra_env: HashMap::new(),
        };
        env.write_config("");
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn alerts_log(&self) -> PathBuf {
        self.path("alerts.log")
    }

    pub fn config_path(&self) -> PathBuf {
        self.home.join(".config/grokmon/config.toml")
    }

    pub fn state_db(&self) -> PathBuf {
        self.home.join(".local/state/grokmon/state.db")
    }

    pub fn database(&self) -> PathBuf {
        self.home.join(".local/share/grokmon/grokmon.db")
    }

    pub fn backups(&self) -> PathBuf {
        self.home.join(".local/share/grokmon/backups")
    }

    /// Writes the config: `[paths] alerts_log` in the temp dir, then `extra`
    /// (which may add keys under other tables, or `[paths]` keys via `paths_extra`).
    pub fn write_config(&self, extra: &str) {
        self.write_config_with_paths("", extra);
    }

    pub fn write_config_with_paths(&self, paths_extra: &str, extra: &str) {
        let text = format!(
            "[paths]\nalerts_log = \"{}\"\n{paths_extra}\n{extra}\n",
            self.alerts_log().display()
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.extra_env.insert(k.into(), v.into());
    }

    /// The binary with a clean environment: HOME, XDG_*, PATH (fake bin first).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin.display()),
            )
            .env("LANG", "C.UTF-8")
            // No real system bus: a test reaches systemd only through the
            // fake systemctl, or the private bus it starts itself.
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                format!("unix:path={}", self.path("no-system-bus").display()),
            )
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    /// Runs and captures.
    pub fn run(&self, args: &[&str]) -> Out {
        Out::of(args, self.cmd(args).output().expect("run grokmon"))
    }

    /// Installs a fake `systemctl` that appends its argv to `systemctl.calls`
    /// and runs `body` (sh) to answer.
    pub fn fake_systemctl(&self, body: &str) {
        let calls = self.path("systemctl.calls");
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n{body}\n",
            calls.display()
        );
        self.write_bin("systemctl", &script);
    }

    /// A fake systemctl whose `show` prints `props` and exits 0.
    pub fn fake_systemctl_show(&self, props: &str) {
        let f = self.path("systemctl.show");
        std::fs::write(&f, props).unwrap();
        self.fake_systemctl(&format!(
            "case \"$*\" in *show*) cat '{}';; *) exit 0;; esac",
            f.display()
        ));
    }

    /// A fake systemctl for a machine without a running systemd.
    pub fn fake_systemctl_no_bus(&self) {
        self.fake_systemctl("echo 'Failed to connect to bus: No medium found' >&2; exit 1");
    }

    /// The calls the fake systemctl received, one argv a line.
    pub fn systemctl_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("systemctl.calls"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    pub fn write_bin(&self, name: &str, script: &str) {
        let p = self.bin.join(name);
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Lines of the alerts log (empty when missing).
    pub fn alert_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.alerts_log())
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Creates an empty SQLite database at the configured path.
    pub fn create_database(&self) {
        let p = self.database();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch("CREATE TABLE IF NOT EXISTS t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
}

/// A finished command, with assertions that print everything when they fail.
pub struct Out {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn of(args: &[&str], o: Output) -> Out {
        Out {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn dump(&self) -> String {
        format!(
            "grokmon {:?}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn code(&self, want: i32) -> &Out {
        assert_eq!(self.code, want, "unexpected exit code\n{}", self.dump());
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Out {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Out {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn no_output(&self) -> &Out {
        assert!(
            self.stdout.is_empty() && self.stderr.is_empty(),
            "expected no output\n{}",
            self.dump()
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", self.dump()))
    }
}

/// A request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the test server answers.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sleep before answering (a hang, bounded by the test).
    pub delay: Duration,
}

impl Response {
    pub fn json(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub fn text(status: u16, body: &[u8]) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Response {
        self.delay = d;
        self
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// A loopback HTTP/1.1 server on 127.0.0.1:0; one thread per connection.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub requests: Arc<std::sync::Mutex<Vec<Request>>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let handler = handler.clone();
                    let requests = requests.clone();
                    std::thread::spawn(move || serve(conn, &*handler, &requests));
                }
            });
        }
        Server {
            addr,
            stop,
            requests,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(conn: TcpStream, handler: &Handler, log: &std::sync::Mutex<Vec<Request>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = Request {
            method,
            path,
            headers,
            body,
        };
        log.lock().unwrap().push(req.clone());
        let resp = handler(&req);
        if !resp.delay.is_zero() {
            std::thread::sleep(resp.delay);
        }
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            resp.status,
            resp.body.len()
        );
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&resp.body).is_err() {
            return;
        }
        let _ = writer.flush();
    }
}

/// Polls `f` until it is true or `timeout` passes (for things that happen in
/// another process; never used to assert how fast something is).
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Reads a file, or an empty string.
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Whether `tool` is on PATH. Under CI a missing tool fails the test (CI
/// must run it; `.ci/run` installs it); elsewhere the test is skipped.
pub fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is not installed, and CI must run this test (.ci/run installs it)"
        );
        eprintln!("skipped: {tool} not installed");
    }
    found
}
