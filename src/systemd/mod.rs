//! The only code that talks to systemd. `systemctl` is found on `PATH` (tests
//! put a fake one first). Read-only queries live here for everyone; the one
//! call that restarts a unit takes a `confirm::Confirmed` token that only the
//! reviewed restart can build, so `check` cannot reach it.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::Scope;

pub mod cgroup;
pub mod cron;
pub mod dbus;
pub mod limits;
pub mod notify;
pub mod ownership;
pub mod rules;
pub mod sysuser;
pub mod unitfile;
pub mod units;
pub mod verify;

/// How long a `systemctl` query may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why systemd could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum SystemctlError {
    /// No systemd to ask: systemctl absent, or no running systemd (a
    /// container). Not a failure of the service. The text is raw (it may
    /// quote systemctl's stderr): `Display` escapes it, `raw` does not.
    #[error("{}", crate::text::escape(.0))]
    Unavailable(String),
    #[error("systemctl timed out after {}s", QUERY_TIMEOUT.as_secs())]
    Timeout,
    #[error("systemd did not answer over D-Bus within {}s", QUERY_TIMEOUT.as_secs())]
    BusTimeout,
    /// `stderr` is systemctl's, raw: `Display` escapes it, `raw` does not.
    #[error("systemctl {args} failed: {}", crate::text::escape(stderr))]
    Failed { args: String, stderr: String },
    #[error("cannot run systemctl")]
    Io(#[from] std::io::Error),
}

impl SystemctlError {
    /// The message with systemctl's words raw, for an output that escapes
    /// it itself (an observation, an alert line); `Display` is escaped once
    /// for stderr.
    pub fn raw(&self) -> String {
        match self {
            SystemctlError::Unavailable(s) => s.clone(),
            SystemctlError::Failed { args, stderr } => format!("systemctl {args} failed: {stderr}"),
            e => crate::text::chain(e),
        }
    }
}

/// Output of a finished child.
#[derive(Debug)]
pub struct Output {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs an argv (never a shell) with a deadline, killing it when it passes.
/// Output is bounded to 1 MiB per stream.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> std::io::Result<Option<Output>> {
    const LIMIT: u64 = 1 << 20;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    // Each stream is read on its own thread; the pipes closing is the prompt
    // sign that the child is done (no polling delay on the normal path).
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, mut stream) in [
        (0usize, Box::new(out) as Box<dyn Read + Send>),
        (1, Box::new(err)),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = (&mut stream).take(LIMIT).read_to_end(&mut v);
            // Drain the rest so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
            let _ = tx.send((i, v));
        });
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let kill = |child: &mut std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
    };
    let mut streams: [Option<Vec<u8>>; 2] = [None, None];
    while streams.iter().any(Option::is_none) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((i, v)) => streams[i] = Some(v),
            Err(_) => {
                kill(&mut child);
                return Ok(None);
            }
        }
    }
    // Both pipes are closed: the child has exited or is about to, usually
    // within microseconds, so the pause between polls starts short (a flat
    // 1 ms cost `check` that millisecond on most runs).
    let mut pause = Duration::from_micros(50);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() >= deadline {
            kill(&mut child);
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(1));
    };
    let [o, e] = streams;
    let stdout = String::from_utf8_lossy(&o.unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&e.unwrap_or_default()).into_owned();
    Ok(Some(Output {
        status,
        stdout,
        stderr,
    }))
}

/// `systemctl` for one scope.
#[derive(Debug, Clone, Copy)]
pub struct Systemctl {
    pub scope: Scope,
}

/// Messages systemctl prints when there is no systemd to talk to.
fn no_systemd(stderr: &str) -> bool {
    [
        "Failed to connect to bus",
        "System has not been booted with systemd",
        "Failed to get D-Bus connection",
        "No medium found",
        "Host is down",
    ]
    .iter()
    .any(|m| stderr.contains(m))
}

/// A unit's properties asked for: see `Systemctl::send_properties`.
pub struct Asked {
    systemctl: Systemctl,
    unit: String,
    props: Vec<String>,
    sent: Result<dbus::Sent, dbus::BusError>,
}

impl Asked {
    /// The answer over D-Bus, or from `systemctl show` when the bus could
    /// not give one.
    pub fn finish(self) -> Result<BTreeMap<String, String>, SystemctlError> {
        let props: Vec<&str> = self.props.iter().map(String::as_str).collect();
        match self.sent.and_then(dbus::Sent::finish) {
            Ok(m) => Ok(m),
            // Asking systemctl would wait as long again.
            Err(dbus::BusError::Timeout) => Err(SystemctlError::BusTimeout),
            // No bus, no systemd on it, or an answer not understood:
            // systemctl knows other ways in, and says why it cannot.
            Err(_) => self.systemctl.show(&self.unit, &props),
        }
    }
}

impl Systemctl {
    pub fn new(scope: Scope) -> Systemctl {
        Systemctl { scope }
    }

    fn command(&self) -> Command {
        let mut c = Command::new("systemctl");
        if self.scope == Scope::User {
            c.arg("--user");
        }
        c
    }

    fn query(&self, args: &[&str]) -> Result<Output, SystemctlError> {
        let mut c = self.command();
        c.args(args);
        match run_with_timeout(&mut c, QUERY_TIMEOUT) {
            Ok(Some(o)) => {
                if !o.status.success() && no_systemd(&o.stderr) {
                    return Err(SystemctlError::Unavailable(format!(
                        "no running systemd to ask ({})",
                        o.stderr.trim()
                    )));
                }
                Ok(o)
            }
            Ok(None) => Err(SystemctlError::Timeout),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SystemctlError::Unavailable(
                "systemctl not found on PATH".into(),
            )),
            Err(e) => Err(SystemctlError::Io(e)),
        }
    }

    /// `systemctl show UNIT -p A,B --timestamp=unix` as a map.
    pub fn show(
        &self,
        unit: &str,
        props: &[&str],
    ) -> Result<BTreeMap<String, String>, SystemctlError> {
        let p = props.join(",");
        let args = ["show", unit, "-p", &p, "--timestamp=unix"];
        let o = self.query(&args)?;
        if !o.status.success() {
            return Err(SystemctlError::Failed {
                args: args.join(" "),
                stderr: o.stderr.trim().to_string(),
            });
        }
        Ok(parse_show(&o.stdout))
    }

    /// A unit's properties as `show` gives them: asked over D-Bus when
    /// systemd's private socket or a bus is reachable (no process to spawn:
    /// ~0.3 ms instead of 4-6 ms), else from `systemctl show`. Both give the
    /// same text, read by the same code.
    pub fn properties(
        &self,
        unit: &str,
        props: &[&str],
    ) -> Result<BTreeMap<String, String>, SystemctlError> {
        self.send_properties(unit, props).finish()
    }

    /// `properties` in two steps: the D-Bus query is sent now without
    /// waiting, and `Asked::finish` reads its answer (or asks systemctl).
    pub fn send_properties(&self, unit: &str, props: &[&str]) -> Asked {
        Asked {
            systemctl: Systemctl { scope: self.scope },
            unit: unit.to_string(),
            props: props.iter().map(|p| p.to_string()).collect(),
            sent: dbus::send(self.scope, unit, props, QUERY_TIMEOUT),
        }
    }

    /// `systemctl is-active UNIT`: the state word, whatever the exit code
    /// (it exits non-zero for every state but `active`). No word at all and
    /// a failure (access denied, a broken manager) is an error, not a state.
    pub fn is_active(&self, unit: &str) -> Result<String, SystemctlError> {
        let args = ["is-active", unit];
        let o = self.query(&args)?;
        let state = o.stdout.trim();
        if state.is_empty() && !o.status.success() {
            return Err(SystemctlError::Failed {
                args: args.join(" "),
                stderr: o.stderr.trim().to_string(),
            });
        }
        Ok(state.to_string())
    }

    /// Runs a systemctl verb that changes the manager's configuration
    /// (`daemon-reload`, `enable`), never one that restarts a unit.
    fn manage(&self, args: &[&str]) -> Result<(), SystemctlError> {
        let o = self.query(args)?;
        if o.status.success() {
            Ok(())
        } else {
            Err(SystemctlError::Failed {
                args: args.join(" "),
                stderr: o.stderr.trim().to_string(),
            })
        }
    }

    /// `systemctl daemon-reload`: reread unit files after installing them.
    pub fn daemon_reload(&self) -> Result<(), SystemctlError> {
        self.manage(&["daemon-reload"])
    }

    /// `systemctl enable --now UNIT...`: used for the timers only; the
    /// orchestrator is started by a person.
    pub fn enable_now(&self, units: &[&str]) -> Result<(), SystemctlError> {
        let mut args = vec!["enable", "--now"];
        args.extend_from_slice(units);
        self.manage(&args)
    }

    /// The one place a restart is issued. Only `confirm::Confirmed` can be
    /// passed, and only the reviewed restart builds one.
    pub fn restart(
        &self,
        unit: &str,
        _confirmed: &crate::confirm::Confirmed,
    ) -> Result<(), SystemctlError> {
        let mut c = self.command();
        c.args(["restart", unit]);
        match run_with_timeout(&mut c, Duration::from_secs(120))? {
            Some(o) if o.status.success() => Ok(()),
            Some(o) => Err(SystemctlError::Failed {
                args: format!("restart {unit}"),
                stderr: o.stderr.trim().to_string(),
            }),
            None => Err(SystemctlError::Timeout),
        }
    }
}

/// The running systemd's version, from the first line of `systemctl
/// --version` (`systemd 252 (252.38-1~deb12u1)`); `None` when systemctl is
/// absent or answers something else.
pub fn systemd_version() -> Option<u32> {
    let mut c = Command::new("systemctl");
    c.arg("--version");
    match run_with_timeout(&mut c, QUERY_TIMEOUT) {
        Ok(Some(o)) if o.status.success() => parse_version(&o.stdout),
        _ => None,
    }
}

/// Parses `systemd 252 (252.38-1~deb12u1)` (pure).
pub fn parse_version(text: &str) -> Option<u32> {
    let first = text.lines().next()?;
    let mut words = first.split_whitespace();
    if words.next()? != "systemd" {
        return None;
    }
    words.next()?.parse().ok()
}

/// Parses `KEY=VALUE` lines.
pub fn parse_show(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Parses a `--timestamp=unix` value (`@1732790413`); empty and `n/a` are `None`.
pub fn parse_unix_timestamp(v: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let n: i64 = v.strip_prefix('@')?.parse().ok()?;
    if n <= 0 {
        return None;
    }
    chrono::DateTime::from_timestamp(n, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_output_parses() {
        let m = parse_show(
            "ActiveState=active\nSubState=running\nNRestarts=2\nMemoryMax=infinity\nResult=success\n",
        );
        assert_eq!(m["ActiveState"], "active");
        assert_eq!(m["NRestarts"], "2");
        assert_eq!(
            parse_unix_timestamp("@1732790413").unwrap().timestamp(),
            1732790413
        );
        assert_eq!(parse_unix_timestamp(""), None);
        assert_eq!(parse_unix_timestamp("n/a"), None);
    }

    #[test]
    fn version_line_parses() {
        assert_eq!(
            parse_version("systemd 252 (252.38-1~deb12u1)\n+PAM +AUDIT\n"),
            Some(252)
        );
        assert_eq!(parse_version("systemd 257 (257.9-1)"), Some(257));
        assert_eq!(parse_version("busybox init"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn timeout_kills_the_child() {
        let mut c = Command::new("sleep");
        c.arg("5");
        let t = Instant::now();
        assert!(
            run_with_timeout(&mut c, Duration::from_millis(100))
                .unwrap()
                .is_none()
        );
        assert!(t.elapsed() < Duration::from_secs(4));
    }
}
