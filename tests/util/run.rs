//! The `grokmon run` harness: a running orchestrator on a free loopback
//! port (killed on drop), its test configuration and database reads.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// Generous bound for things that happen in another process.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `grokmon run`, killed if a test fails before stopping it.
pub struct Running {
    child: Child,
    port: u16,
    stderr: PathBuf,
}

impl Running {
    pub fn start(env: &TestEnv, port: u16) -> Running {
        let stderr = env.path(&format!("run-{port}.stderr"));
        let child = env
            .cmd(&["run"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn grokmon run");
        let r = Running {
            child,
            port,
            stderr,
        };
        assert!(
            wait_until(WAIT, || r
                .get("/api/health")
                .is_some_and(|(c, _, _)| c == 200)),
            "never healthy-or-degraded on port {port}\n{}",
            r.stderr()
        );
        r
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stderr(&self) -> String {
        read(&self.stderr)
    }

    /// GET on the API: status, headers, body.
    pub fn get(&self, path: &str) -> Option<(u16, reqwest::header::HeaderMap, String)> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let r = client
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .send()
            .ok()?;
        let code = r.status().as_u16();
        let headers = r.headers().clone();
        Some((code, headers, r.text().ok()?))
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let (_, _, body) = self.get(path).expect("API answers");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    pub fn sensor(&self, name: &str) -> serde_json::Value {
        self.json("/api/status")["sensors"][name].clone()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with a pid we own; no memory involved.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Waits (bounded) for the exit; the exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    #[track_caller]
    pub fn stop(&mut self, sig: i32) -> i32 {
        self.signal(sig);
        match self.wait_exit(WAIT) {
            Some(c) => c,
            None => panic!("did not exit after signal {sig}\n{}", self.stderr()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Test config: the API on `port`, fast backoff, then `extra`.
pub fn config(env: &TestEnv, port: u16, extra: &str) {
    env.write_config(&format!(
        "[orchestrator]\nlisten = \"127.0.0.1:{port}\"\nbackoff = [\"100ms\", \"200ms\", \"300ms\"]\nreconnect_after = 3\n{extra}"
    ));
}

pub fn db_rows(env: &TestEnv, sql: &str) -> Vec<(f64, i64)> {
    let c = rusqlite::Connection::open(env.database()).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut st = c.prepare(sql).unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Whether a live (not zombie) process is left in a process group.
pub fn group_alive(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        let stat = read(&e.path().join("stat"));
        // "pid (comm) state ppid pgrp ..."; comm may hold spaces.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        f.len() > 2 && f[0] != "Z" && f[2].parse() == Ok(pgid)
    })
}
