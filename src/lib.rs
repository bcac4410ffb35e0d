//! grokmon keeps a small self-hosted service healthy without fighting it.
//!
//! Data flows one way:
//! config → probes → observations → policy (state db) → events → alerts log / notify,
//! and for `run`: sensors → supervisor → store → health API, AI → allowlisted actions.
//! The binary (`main.rs`) only parses, loads the configuration, dispatches and
//! maps the exit code; everything else lives here.

pub mod alerts;
pub mod backup;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod confirm;
pub mod docs;
pub mod failpoint;
pub mod forecast;
pub mod orchestrator;
pub mod probe;
pub mod probe_names;
pub mod restart;
pub mod state;
pub mod status;
pub mod systemd;
pub mod text;

use chrono::{DateTime, Utc};
use std::io::Write;

/// `eprintln!` that never panics: a stderr that cannot take the message (a
/// closed pipe, a file at its size limit under `RLIMIT_FSIZE`) loses the
/// message, not the process or its exit code.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// Exit codes of the contract (DESIGN.md).
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    /// `check`'s UNKNOWN: any failure of the checker itself.
    pub const UNKNOWN: u8 = 3;
    /// EX_CONFIG: a configuration that cannot work.
    pub const CONFIG: u8 = 78;
}

/// A usage error found after parsing (a bad `--since`): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// What every command gets: the configuration and the facts about the outside
/// world that `main` read once (time, terminal, colour), so that nothing below
/// reads the clock or environment behind the caller's back.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub config: config::Config,
    pub now: DateTime<Utc>,
    /// Where `/proc` and `/sys/fs/cgroup` are (tests point them at fixtures).
    pub roots: probe::Roots,
    pub stdout_is_terminal: bool,
    pub stdin_is_terminal: bool,
    /// Colour on stdout: a terminal and no `NO_COLOR`.
    pub color: bool,
}

/// Stdout was closed under us (`grokmon alerts tail | head`): not an error
/// worth a message. `print_stdout` returns it (as a `BrokenPipe` I/O error)
/// and `main` ends the process quietly with success.
#[derive(Debug, thiserror::Error)]
#[error("stdout closed")]
pub struct StdoutClosed;

impl StdoutClosed {
    /// Whether `e` (or anything in its chain) is a closed stdout.
    pub fn is_in(e: &anyhow::Error) -> bool {
        e.chain().any(|c| {
            c.is::<StdoutClosed>()
                || c.downcast_ref::<std::io::Error>()
                    .and_then(|io| io.get_ref())
                    .is_some_and(|inner| inner.is::<StdoutClosed>())
        })
    }
}

/// Prints to stdout. A closed pipe is `StdoutClosed` (see there); the
/// caller passes it up with `?` like any error.
pub fn print_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            StdoutClosed,
        )),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    /// The error convention: a library error's (I/O) cause is its `source()`,
    /// said once, and what people see (`text::chain`, anyhow's `{:#}`) is the
    /// text it was when the message carried the cause itself.
    #[test]
    fn errors_say_their_cause_once_as_their_source() {
        let io = || io::Error::other("disk on fire");
        let cases: Vec<(Box<dyn std::error::Error + Send + Sync>, String)> = vec![
            (
                Box::new(crate::state::StateError::Dir {
                    path: PathBuf::from("/s"),
                    cause: io(),
                }),
                "cannot create the directory for state database /s: disk on fire".into(),
            ),
            (
                Box::new(crate::alerts::LogError::Io {
                    path: PathBuf::from("/a.log"),
                    cause: io(),
                }),
                "cannot write alerts log /a.log: disk on fire".into(),
            ),
            (
                Box::new(crate::systemd::SystemctlError::Io(io())),
                "cannot run systemctl: disk on fire".into(),
            ),
            (
                Box::new(crate::orchestrator::store::StoreError::Io {
                    path: PathBuf::from("/d.db"),
                    source: io(),
                }),
                "database /d.db: disk on fire".into(),
            ),
        ];
        for (e, seen) in cases {
            let cause = e.source().expect("the cause is the source").to_string();
            assert!(!e.to_string().contains(&cause), "{e} repeats {cause}");
            assert_eq!(crate::text::chain(&*e), seen);
            assert_eq!(format!("{:#}", anyhow::anyhow!(e)), seen);
        }
    }
}
