//! The grokmon binary: parse, load the configuration, dispatch, print the one
//! error (`grokmon: outer: cause`), map the exit code (a closed stdout is a
//! quiet success).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use grokmon::check::report::nagios_unknown;
use grokmon::cli::{AlertsCommand, Cli, Command};
use grokmon::config::{Config, ConfigError, Env};
use grokmon::{Ctx, UsageError, exit};

fn main() -> ExitCode {
    // A file-size limit (`RLIMIT_FSIZE`) must not kill the process with
    // SIGXFSZ halfway through a write: ignored, the write fails with EFBIG
    // and takes the normal error path (check exits 3, others 1, with a message).
    // SAFETY: setting a signal's disposition to SIG_IGN at the start of main,
    // before any thread exists, has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // What `run` starts each command under (see `orchestrator::shepherd`).
    if args
        .get(1)
        .is_some_and(|a| a == grokmon::orchestrator::shepherd::ARG)
    {
        let code = grokmon::orchestrator::shepherd::main(&args[2..]);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let is_check = subcommand_is_check(&args);
    // Under NRPE only stdout reaches the operator: with `--format nagios`
    // every failure of the checker is also a `GROKMON UNKNOWN - ...` line there.
    let nagios = is_check && wants_nagios(&args);
    let parsed = match grokmon::cli::parse_check(&args) {
        Some(c) => Ok(c),
        None => Cli::try_parse_from(&args),
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                // A bad flag to check is a failure of the checker: UNKNOWN.
                _ if is_check => exit::UNKNOWN,
                _ => exit::USAGE,
            };
            if nagios && code != 0 {
                let text = e.render().to_string();
                let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                let reason = first.strip_prefix("error: ").unwrap_or(first);
                say_unknown(&format!("usage: {reason}"));
            }
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let failure = if matches!(cli.command, Command::Check(_)) {
        exit::UNKNOWN
    } else {
        exit::FAILURE
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // `grokmon alerts tail | head`: the reader has what it wanted.
        Err(e) if grokmon::StdoutClosed::is_in(&e) => ExitCode::SUCCESS,
        Err(e) => {
            grokmon::errln!("grokmon: {e:#}");
            if nagios {
                say_unknown(&format!("{e:#}"));
            }
            let code = if e.downcast_ref::<ConfigError>().is_some() {
                if failure == exit::UNKNOWN {
                    exit::UNKNOWN
                } else {
                    exit::CONFIG
                }
            } else if e.downcast_ref::<UsageError>().is_some() {
                if failure == exit::UNKNOWN {
                    exit::UNKNOWN
                } else {
                    exit::USAGE
                }
            } else {
                failure
            };
            ExitCode::from(code)
        }
    }
}

/// The `GROKMON UNKNOWN - reason` line on stdout; a closed stdout is not a
/// panic (stderr has the error anyway).
fn say_unknown(reason: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(nagios_unknown(reason).as_bytes())
        .and_then(|()| out.flush());
}

/// Whether `--format nagios` (or `--format=nagios`) is among the arguments.
fn wants_nagios(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .zip(args.iter().skip(1).map(Some).chain([None]))
        .any(|(a, next)| {
            a == "--format=nagios" || (a == "--format" && next.is_some_and(|n| n == "nagios"))
        })
}

/// Whether the first non-option argument is `check` (skipping `--config FILE`).
fn subcommand_is_check(args: &[std::ffi::OsString]) -> bool {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            it.next();
        } else if a.starts_with('-') {
            continue;
        } else {
            return a == "check";
        }
    }
    false
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    // Commands that need no configuration.
    match &cli.command {
        Command::Completions(a) => return grokmon::docs::completions(a),
        Command::Man(a) => return grokmon::docs::man(a),
        _ => {}
    }
    let env = Env::from_process();
    let config = Config::load(cli.config.as_deref(), &env)?;
    // Root on a system install works as the service user for every command
    // that needs nothing of root, so the files it writes (state, database,
    // backups, the alerts log) stay the service's. `restart` (systemctl
    // restart needs root) writes as that user only around its records;
    // `units` writes system directories.
    if matches!(
        cli.command,
        Command::Check(_)
            | Command::Alerts(_)
            | Command::Backup(_)
            | Command::Status(_)
            | Command::Run(_)
    ) && grokmon::systemd::sysuser::is_root()
        && let Some(ids) = grokmon::systemd::sysuser::install_owner(&config)
    {
        grokmon::systemd::sysuser::become_user(ids).map_err(|e| {
            anyhow::anyhow!(
                "cannot act as the {} user (uid {}): {e}",
                grokmon::systemd::sysuser::NAME,
                ids.uid
            )
        })?;
    }
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let ctx = Ctx {
        config,
        now: grokmon::clock::now(),
        // Hidden, for tests: fixture trees instead of /proc and /sys/fs/cgroup.
        roots: grokmon::probe::Roots {
            proc: std::env::var_os("GROKMON_PROC_ROOT")
                .map(Into::into)
                .unwrap_or_else(|| "/proc".into()),
            cgroup: std::env::var_os("GROKMON_CGROUP_ROOT")
                .map(Into::into)
                .unwrap_or_else(|| "/sys/fs/cgroup".into()),
        },
        stdout_is_terminal,
        stdin_is_terminal: std::io::stdin().is_terminal(),
        color: stdout_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    match &cli.command {
        Command::Check(a) => grokmon::check::run(a, &ctx),
        Command::Alerts(AlertsCommand::Tail(a)) => grokmon::alerts::tail::run(a, &ctx),
        Command::Alerts(AlertsCommand::Ack(a)) => grokmon::alerts::ack::run(a, &ctx),
        Command::Alerts(AlertsCommand::Silence(a)) => grokmon::alerts::silence::run(a, &ctx),
        Command::Backup(a) => grokmon::backup::run(a, &ctx),
        Command::Restart(a) => grokmon::restart::run(a, &ctx),
        Command::Status(a) => grokmon::status::run(a, &ctx),
        Command::Run(a) => grokmon::orchestrator::run(a, &ctx),
        Command::Units(a) => grokmon::systemd::units::run(a, &ctx),
        Command::Cron(a) => grokmon::systemd::units::cron(a, &ctx),
        Command::Completions(_) | Command::Man(_) => Err(UsageError("unreachable".into()).into()),
    }
}

/// The two functions of libm the binary calls (SQLite's FTS5 ranks with
/// `log`, and `pow`), from the pure-Rust `libm` crate: with them defined
/// here the linker drops `libm.so.6`, one library less to load at every
/// start (README, "Performance"). `libm.a` cannot stand in: its functions
/// pick their code through the dynamic loader's private CPU data. rustc
/// exports them, so a library the process loads later that calls them
/// (none of glibc's does) gets these: the same IEEE functions, within an
/// ulp of glibc's.
#[unsafe(no_mangle)]
pub extern "C" fn log(x: f64) -> f64 {
    libm::log(x)
}

/// See `log`.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}
