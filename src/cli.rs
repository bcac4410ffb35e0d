//! Command-line definitions. The same data feeds `--help`, the man pages and
//! the shell completions, so every flag is documented where it is defined.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps a small self-hosted service healthy without fighting it.
///
/// grokmon observes (check), keeps consistent backups (backup), lets a person
/// review (alerts, status) and decide (restart), and runs the resilient
/// orchestrator (run). Monitoring never restarts anything on its own.
#[derive(Debug, Parser)]
#[command(name = "grokmon", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "EXIT CODES:\n  check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also any failure of the checker itself)\n  run:   0 clean shutdown, 78 configuration error, other non-zero a real crash\n  other: 0 success, 1 failure, 2 usage error, 78 configuration error"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: $GROKMON_CONFIG, then
    /// $XDG_CONFIG_HOME/grokmon/config.toml, then /etc/grokmon/config.toml;
    /// no file at all means built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe API, CPU, RAM, disk, database, service and backups; log confirmed alerts.
    ///
    /// Observes only: check never starts, stops or restarts anything. Exit code is
    /// the worst current status (Nagios convention): 0 OK, 1 WARNING, 2 CRITICAL,
    /// 3 UNKNOWN. It ends within its time budget (the longer of check.api.timeout
    /// and 5 s, plus 15 s), and whatever is stuck beyond every bound 5 s later
    /// (exit 3), or a second after that by SIGUSR2.
    Check(CheckArgs),
    /// Review the alerts log.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Consistent, verified, compressed SQLite backups with retention.
    Backup(BackupArgs),
    /// A reviewed, confirmed, recorded restart of the service. Never automatic.
    Restart(RestartArgs),
    /// One screen: service, last check, alerts, backups, trends.
    Status(StatusArgs),
    /// Run the resilient orchestrator (sensors, store, AI, health API).
    ///
    /// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 78 for a
    /// configuration that cannot work, anything else only for a real crash.
    Run(RunArgs),
    /// Render, install and verify the systemd units.
    #[command(subcommand)]
    Units(UnitsCommand),
    /// Print the crontab lines equivalent to the systemd timers.
    Cron(CronArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Write the man pages into a directory (used to keep man/ in sync).
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CheckFormat {
    /// A table for a person.
    #[default]
    Human,
    /// One JSON document: every probe, status, value, thresholds, message.
    Json,
    /// One Nagios plugin status line with perfdata.
    Nagios,
}

#[derive(Debug, Args, Default)]
pub struct CheckArgs {
    /// Print nothing when every probe is OK (cron mails any output).
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// Also write the results in Prometheus text format to PATH (atomically,
    /// for node_exporter's textfile collector, which reads only names ending
    /// in .prom: another name is refused).
    #[arg(long, value_name = "PATH", value_parser = parse_textfile)]
    pub textfile: Option<PathBuf>,
    /// Probe and report only: neither read nor write the state database or
    /// the alerts log (no alert lines, no trends; CPU from a short sample).
    /// For a scheduler that keeps its own soft/hard states (Nagios, NRPE).
    #[arg(long)]
    pub stateless: bool,
}

/// node_exporter's textfile collector ignores files not ending in `.prom`.
fn parse_textfile(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    if p.extension().is_some_and(|e| e == "prom")
        && p.file_stem()
            .is_some_and(|n| !n.is_empty() && !n.to_string_lossy().starts_with('.'))
    {
        Ok(p)
    } else {
        Err(
            "the name must end in .prom: node_exporter's textfile collector ignores other files"
                .into(),
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Show the last alerts (across rotated files).
    Tail(AlertsTailArgs),
    /// Mark every alert so far as reviewed.
    Ack(AlertsAckArgs),
    /// Silence alerts for planned work (a maintenance window).
    ///
    /// Matching alert lines are still written, marked `(silenced)`, but not
    /// notified, and send no heartbeat /fail. When the silence ends, each
    /// alert still failing is notified once. Recorded in the alerts log
    /// (INFO silence: who, why, until) and in the state database.
    Silence(AlertsSilenceArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "EXAMPLES:\n  grokmon alerts silence 30m --reason \"firmware upgrade\" --source api --source service\n  grokmon alerts silence --list\n  grokmon alerts silence --clear 3\n\nEXIT CODES:\n  0   done\n  1   failure (no such silence, state or log not writable)\n  2   usage error (DURATION 0 or over 7 days, no --reason, unknown --source)\n  78  configuration error"
)]
pub struct AlertsSilenceArgs {
    /// How long (humantime: 30m, 2h, 1d); more than 0, at most 7 days.
    #[arg(value_name = "DURATION", required_unless_present_any = ["list", "clear"])]
    pub duration: Option<String>,
    /// Why (recorded in the alerts log). Required with DURATION.
    #[arg(long, value_name = "TEXT", required_unless_present_any = ["list", "clear"])]
    pub reason: Option<String>,
    /// Only lines from this source (a probe, heartbeat, check, sensor,
    /// sensor.NAME, store, ai, backup); repeat for several. Default: all.
    #[arg(long, value_name = "NAME")]
    pub source: Vec<String>,
    /// List the active silences.
    #[arg(long, conflicts_with_all = ["duration", "reason", "source", "clear"])]
    pub list: bool,
    /// End silence ID, or every active silence without an ID.
    #[arg(long, value_name = "ID", num_args = 0..=1, conflicts_with_all = ["duration", "reason", "source"])]
    pub clear: Option<Option<u64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum LevelFilter {
    /// WARN and CRIT.
    Warn,
    /// CRIT only.
    Crit,
}

#[derive(Debug, Args)]
pub struct AlertsTailArgs {
    /// How many events to show, the newest [default: 20; with --since or
    /// --unreviewed: all they select].
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
    /// Keep printing new events as they are appended; survives rotation.
    #[arg(short, long)]
    pub follow: bool,
    /// Only events since a duration ago (1h, 2d) or a time (2026-11-28T10:00:00Z).
    #[arg(long, value_name = "DUR|TIME")]
    pub since: Option<String>,
    /// Only events at this level or above.
    #[arg(long, value_enum)]
    pub level: Option<LevelFilter>,
    /// Only events from this source (a probe, restart, backup, sensor.NAME, ai).
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Only events after the last `grokmon alerts ack`.
    #[arg(long)]
    pub unreviewed: bool,
    /// One JSON object per line: ts, level, source, message.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AlertsAckArgs {}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a consistent backup now (the default), then apply retention.
    Create,
    /// List backups, newest first.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Check a backup (default: the newest): integrity and row counts.
    Verify {
        /// Backup file to verify.
        file: Option<PathBuf>,
    },
    /// Delete backups older than the retention, always keeping the newest few.
    Prune {
        /// Show what would be kept and deleted, and why; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Restore a backup over the database (verified first).
    Restore {
        /// Backup file to restore.
        file: PathBuf,
        /// Restore to this path instead of the configured database.
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Restore even while the service is active.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
#[command(
    after_help = "Shows a review (state, uptime, restarts in the last hour, current checks,\nunreviewed alerts), then asks for the unit's name to be typed. Refuses, running\nnothing, under systemd (INVOCATION_ID) or cron, without a terminal unless\n--yes --reason TEXT, while a restart is under way or within restart.cooldown\n(unless --force), when systemd gave up on the unit (a crash loop: investigate,\nthen reset-failed), and when the restart's start would exceed the unit's\nstart limit (StartLimitBurst in StartLimitIntervalSec, counting every recent\nstart; --force does not bypass this: systemd would refuse the start and\nleave the unit down).\nRestarts once, waits up to restart.wait for active and a healthy API, and\nrecords an INFO (or CRIT) restart line in the alerts log.\n\nEXIT CODES:\n  0   restarted, active and healthy\n  1   refused, not confirmed, or not healthy within restart.wait\n  2   usage error\n  78  configuration error"
)]
pub struct RestartArgs {
    /// Do not ask for confirmation (needs --reason when there is no terminal).
    #[arg(long)]
    pub yes: bool,
    /// Why the restart is needed; recorded in the alerts log.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Restart even while a restart is under way or within the cooldown.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {}

#[derive(Debug, Subcommand)]
pub enum UnitsCommand {
    /// Render the units with the real binary path and install them.
    ///
    /// Writes grokmon.service, grokmon-check.service/.timer and
    /// grokmon-backup.service/.timer (plus the RestartSteps drop-in where
    /// systemd >= 254 knows it) with this binary's path and --config, runs
    /// daemon-reload and enables the two timers, printing each step. It never
    /// starts grokmon.service: it prints the command to do so. It never takes
    /// over a unit it did not write: a unit of the same name that runs
    /// another program is refused (nothing is written) unless --replace.
    Install {
        /// Install for the current user (~/.config/systemd/user). The default.
        #[arg(long, conflicts_with = "system")]
        user: bool,
        /// Install system-wide (/etc/systemd/system).
        #[arg(long)]
        system: bool,
        /// Print every step without touching anything.
        #[arg(long)]
        dry_run: bool,
        /// Replace (or override) a unit of the same name that runs another
        /// program; the replaced file is kept as NAME.grokmon-old, which
        /// systemd does not load.
        #[arg(long)]
        replace: bool,
        /// Install only the check and backup services and timers, for a
        /// service grokmon only watches (set [service] unit to its name).
        #[arg(long)]
        timers_only: bool,
    },
    /// Print one rendered unit.
    Print {
        /// Unit name, e.g. grokmon.service or grokmon-check.timer.
        name: String,
    },
    /// Check that the protections configured in the units are really in force.
    ///
    /// Reads `systemctl show`, the cgroup filesystem (v2, or the v1
    /// hierarchies) and, before the unit's first start, its unit files. Any
    /// service: a start limit that can trip (on systemd 252
    /// StartLimitIntervalSec= under [Service] is rejected as an unknown key,
    /// leaving the 10 s default), Restart=on-failure, a stop timeout, and the
    /// resource limits it sets really enforced. A unit running `grokmon run`
    /// also: StartLimitBurst=5 in StartLimitIntervalSec=600,
    /// RestartPreventExitStatus=78, TimeoutStopSec>=15s, MemoryMax, CPUQuota,
    /// WatchdogSec. Exit 0 when all are in force, 1 otherwise, each mismatch
    /// on its own line with its fix.
    Verify,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Prints lines for `crontab -e`: check --quiet every 5 minutes and a daily backup,\nwith this binary's path and --config. Nothing supervises `grokmon run` under cron."
)]
pub struct CronArgs {}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into.
    #[arg(default_value = "man")]
    pub dir: PathBuf,
}

/// `grokmon [--config FILE] check [FLAGS]` parsed without clap: building
/// clap's tree of every command and flag costs ~0.3 ms, a twentieth of a
/// check that a timer or NRPE runs every few minutes. Only the plain forms
/// are taken (each flag at most once, values that do not start with `-`,
/// UTF-8); anything else (`--help`, a typo, a repeated flag, another
/// command) is `None`, and clap parses it with its usual messages.
/// Equivalence with clap is a test (`check_fast_path_agrees_with_clap`).
pub fn parse_check(args: &[std::ffi::OsString]) -> Option<Cli> {
    let mut it = args.iter().skip(1);
    let mut config: Option<PathBuf> = None;
    let mut seen_check = false;
    let mut a = CheckArgs::default();
    let (mut quiet, mut format, mut textfile, mut stateless) = (false, false, false, false);
    // `--name value` or `--name=value`: the value, or None when it is not
    // one of the plain forms.
    fn value<'a>(
        arg: &'a str,
        name: &str,
        it: &mut impl Iterator<Item = &'a std::ffi::OsString>,
    ) -> Option<Option<&'a str>> {
        let rest = arg.strip_prefix(name)?;
        let v = if rest.is_empty() {
            it.next().and_then(|v| v.to_str())
        } else {
            rest.strip_prefix('=')
        };
        Some(v.filter(|v| !v.is_empty() && !v.starts_with('-')))
    }
    while let Some(arg) = it.next() {
        let arg = arg.to_str()?;
        if let Some(v) = value(arg, "--config", &mut it) {
            if config.is_some() {
                return None;
            }
            config = Some(PathBuf::from(v?));
        } else if !seen_check {
            if arg != "check" {
                return None;
            }
            seen_check = true;
        } else if arg == "-q" || arg == "--quiet" {
            if std::mem::replace(&mut quiet, true) {
                return None;
            }
            a.quiet = true;
        } else if arg == "--stateless" {
            if std::mem::replace(&mut stateless, true) {
                return None;
            }
            a.stateless = true;
        } else if let Some(v) = value(arg, "--format", &mut it) {
            if std::mem::replace(&mut format, true) {
                return None;
            }
            a.format = match v? {
                "human" => CheckFormat::Human,
                "json" => CheckFormat::Json,
                "nagios" => CheckFormat::Nagios,
                _ => return None,
            };
        } else if let Some(v) = value(arg, "--textfile", &mut it) {
            if std::mem::replace(&mut textfile, true) {
                return None;
            }
            a.textfile = Some(parse_textfile(v?).ok()?);
        } else {
            return None;
        }
    }
    seen_check.then_some(Cli {
        config,
        command: Command::Check(a),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<std::ffi::OsString> {
        v.iter().map(Into::into).collect()
    }

    /// Every argument list of up to four pieces from a pool of good, bad and
    /// foreign ones: where the fast path answers, clap gives the same `Cli`
    /// (so clap's errors, help and other commands are never shadowed).
    #[test]
    fn check_fast_path_agrees_with_clap() {
        let pieces: &[&[&str]] = &[
            &["check"],
            &["status"],
            &["--config", "a.toml"],
            &["--config=b.toml"],
            &["--config="],
            &["--config", "-x"],
            &["--configx"],
            &["-q"],
            &["--quiet"],
            &["-qq"],
            &["--stateless"],
            &["--format", "json"],
            &["--format=nagios"],
            &["--format", "human"],
            &["--format", "Json"],
            &["--format"],
            &["--textfile", "m.prom"],
            &["--textfile=.prom"],
            &["--textfile", "x.txt"],
            &["--help"],
            &["--"],
        ];
        let (mut taken, mut total) = (0, 0);
        let mut lists: Vec<Vec<&str>> = vec![vec![]];
        for _ in 0..4 {
            let mut next = Vec::new();
            for l in &lists {
                for p in pieces {
                    let mut l = l.clone();
                    l.extend_from_slice(p);
                    next.push(l);
                }
            }
            // Longer lists only from those that start with a `check` or
            // `--config` piece (the rest is clap's alone at any length).
            lists = next
                .into_iter()
                .filter(|l| l.len() < 3 || l.contains(&"check"))
                .collect();
            for l in &lists {
                let mut args = vec!["grokmon"];
                args.extend(l);
                let args = os(&args);
                total += 1;
                if let Some(fast) = parse_check(&args) {
                    taken += 1;
                    let clap = Cli::try_parse_from(&args)
                        .unwrap_or_else(|e| panic!("{l:?}: fast path took what clap refuses: {e}"));
                    assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{l:?}");
                }
            }
        }
        assert!(taken > 400 && taken < total, "{taken} of {total} taken");
    }

    #[test]
    fn check_fast_path_takes_the_plain_forms() {
        for l in [
            &["grokmon", "check"][..],
            &["grokmon", "check", "--quiet"],
            &[
                "grokmon",
                "--config",
                "/etc/g.toml",
                "check",
                "--format",
                "nagios",
            ],
            &[
                "grokmon",
                "check",
                "--format=json",
                "--textfile",
                "/var/lib/t/grokmon.prom",
            ],
            &["grokmon", "check", "--stateless", "-q", "--config=c.toml"],
        ] {
            assert!(parse_check(&os(l)).is_some(), "{l:?}");
        }
        for l in [
            &["grokmon"][..],
            &["grokmon", "check", "--help"],
            &["grokmon", "check", "--quiet", "--quiet"],
            &["grokmon", "--config", "a", "check", "--config", "b"],
            &["grokmon", "check", "--textfile", "metrics.txt"],
            &["grokmon", "status"],
        ] {
            assert!(parse_check(&os(l)).is_none(), "{l:?}");
        }
    }
}
