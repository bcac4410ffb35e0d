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
pub mod config;
pub mod forecast;
pub mod heartbeat;
pub mod orchestrator;
pub mod probe;
pub mod restart;
pub mod state;
pub mod status;
pub mod systemd;

use chrono::{DateTime, Utc};
use std::io::Write;

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

/// Prints to stdout; a closed pipe (`grokmon alerts tail | head`) is not an
/// error worth a message, so it ends the process quietly with success.
pub fn print_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => r,
    }
}
