//! Man pages and shell completions, generated from the clap definitions in
//! `cli.rs` (one source for `--help`, `man` and completions), plus
//! grokmon.toml(5) for the configuration and the alerts log format, whose
//! text is maintained here. `grokmon man DIR` (hidden) regenerates `man/`; a
//! test fails when the checked-in pages are out of date. The output has no
//! date, so it is byte-for-byte reproducible.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit;

/// `grokmon completions SHELL`: the script on stdout.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "grokmon", &mut buf);
    crate::print_stdout(&String::from_utf8_lossy(&buf))?;
    Ok(exit::OK)
}

/// Renders every page into memory: (file name, content), sorted by name.
/// grokmon(1), one page per (visible) subcommand, grokmon.toml(5).
pub fn render_pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let dir = tempfile_dir()?;
    let res = (|| -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        clap_mangen::generate_to(Cli::command(), dir.as_path())
            .context("cannot render the man pages")?;
        let mut pages = Vec::new();
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            pages.push((
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path())?,
            ));
        }
        pages.push(("grokmon.toml.5".into(), CONFIG_PAGE.as_bytes().to_vec()));
        pages.sort();
        Ok(pages)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    res
}

/// A private scratch directory (clap_mangen renders subcommand pages to files).
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    for i in 0..100u32 {
        let p = base.join(format!("grokmon-man.{}.{i}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", p.display()));
            }
        }
    }
    anyhow::bail!("cannot create a scratch directory in {}", base.display())
}

/// Writes the pages into `dir`, each atomically (temp file, rename), and
/// removes stale `grokmon*.1`/`.5` pages of commands that no longer exist.
pub fn write_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pages = render_pages()?;
    let mut written = Vec::new();
    for (name, content) in &pages {
        let path = dir.join(name);
        crate::text::write_atomic(&path, content, None)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("grokmon") && (name.ends_with(".1") || name.ends_with(".5"));
        if ours && !pages.iter().any(|(n, _)| *n == name) {
            std::fs::remove_file(e.path())
                .with_context(|| format!("cannot remove stale page {}", e.path().display()))?;
        }
    }
    Ok(written)
}

/// `grokmon man [DIR]`.
pub fn man(args: &ManArgs) -> anyhow::Result<u8> {
    let written = write_pages(&args.dir)?;
    crate::print_stdout(&format!(
        "wrote {} man pages into {}\n",
        written.len(),
        args.dir.display()
    ))?;
    Ok(exit::OK)
}

/// grokmon.toml(5): the configuration and the alerts log format.
pub const CONFIG_PAGE: &str = r#".TH grokmon.toml 5 "" "grokmon" "File Formats"
.SH NAME
grokmon.toml \- configuration of grokmon; the alerts log format
.SH SYNOPSIS
\fB$XDG_CONFIG_HOME/grokmon/config.toml\fR (\fI~/.config/grokmon/config.toml\fR),
\fB/etc/grokmon/config.toml\fR
.SH DESCRIPTION
grokmon reads one TOML file: \fB\-\-config\fR \fIFILE\fR, else \fB$GROKMON_CONFIG\fR,
else \fI$XDG_CONFIG_HOME/grokmon/config.toml\fR, else \fI/etc/grokmon/config.toml\fR.
No file at all means the built\-in defaults below: every key is optional.
An unknown key is an error that names the key, line and column.
Durations use humantime (\fB30s\fR, \fB5m\fR, \fB30d\fR); a leading \fB~\fR in a path expands to the home directory.
A fully commented example listing every key with its default is installed as
\fI/usr/share/doc/grokmon/config.toml\fR.
.PP
Secrets (the AI key, webhook URLs) never appear in output, logs or errors. The AI key comes
from an environment variable (\fBai.api_key_env\fR) or a file (\fBai.api_key_file\fR, relative
names are looked up in \fB$CREDENTIALS_DIRECTORY\fR), never from the configuration text.
.SH [paths]
.TP
\fBdatabase\fR = "$XDG_DATA_HOME/grokmon/grokmon.db"
The SQLite database of the orchestrator (readings, decisions).
.TP
\fBbackups\fR = "$XDG_DATA_HOME/grokmon/backups"
Where \fBgrokmon backup\fR writes.
.TP
\fBalerts_log\fR = "/tmp/grokmon_alerts.log"
The alerts log (see \fBALERTS LOG\fR).
.TP
\fBstate\fR = "$XDG_STATE_HOME/grokmon/state.db"
The checker's state: per\-probe counters, trend samples, the review mark, the last restart.
.PP
With \fBscope\fR = "system" (a system install) the defaults of \fBdatabase\fR, \fBbackups\fR and
\fBstate\fR are \fI/var/lib/grokmon/grokmon.db\fR, \fI/var/lib/grokmon/backups\fR and
\fI/var/lib/grokmon/state.db\fR, whoever runs the command: the system units' state directory,
owned by the \fBgrokmon\fR user they run as. Root running a command that needs nothing of root
(\fBcheck\fR, \fBstatus\fR, \fBalerts\fR, \fBbackup\fR, \fBrun\fR) on such an install acts as that user;
\fBrestart\fR writes its records as that user.
.SH [service]
.TP
\fBunit\fR = "grokmon.service", \fBscope\fR = "user"
The systemd unit that \fBcheck\fR, \fBstatus\fR and \fBrestart\fR look at, and its manager
(\fBuser\fR or \fBsystem\fR).
.TP
\fBstartup_grace\fR = "2m"
After the unit becomes active, API failures are reported as \fBstarting\fR for this long.
.SH [check]
.TP
\fBconfirm_after\fR = 2
Consecutive failing checks before a WARN/CRIT line is written.
.TP
\fBrenotify\fR = "1h"
A still\-failing alert is repeated at most this often.
.TP
\fBprobes\fR = ["api", "cpu", "memory", "disk", "database", "service", "backups"]
The probes that run.
.TP
\fBforecast_horizon\fR = "14d", \fBkeep_samples\fR = "30d"
Warn when the disk is forecast to fill within the horizon; how long trend samples are kept.
.TP
\fBinterval\fR = "5m"
How often the check runs: the period \fBgrokmon units install\fR puts in \fBgrokmon\-check.timer\fR
(and \fBgrokmon cron\fR in the crontab); \fBgrokmon run\fR writes one WARN \fBcheck\fR line when no
check ran for 3 intervals, and one OK line when checks resume.
.TP
\fBflap_detection\fR = true, \fBflap_thresholds\fR = [15, 30]
Percent of state changes over the last 20 checks: at or above the second a probe is flapping (one
line, then quiet), at or below the first it has settled (one line with its state).
.TP
\fB[check.api]\fR \fBurl\fR = "http://127.0.0.1:8000/api/health", \fBtimeout\fR = "5s", \fBedge_url\fR (none)
The health endpoint; \fBedge_url\fR is the public URL behind a CDN: origin down while the edge
serves is a WARNING, both down CRITICAL.
.TP
\fBstatus_pointer\fR = "/status", \fBhealthy_words\fR = []
Where the status word is in the JSON body (a JSON pointer), and extra words meaning healthy.
Words (case\-insensitive): healthy/ok/up/pass are OK; degraded/warn WARNING; down/fail/unhealthy/error/critical
CRITICAL. A \fBcomponents\fR object, IETF \fBchecks\fR and flat fields such as \fB"sensors":"disconnected"\fR
name the parts that are not fine.
.TP
\fB[check.thresholds]\fR, each \fB[warn, crit]\fR
\fBcpu\fR = [80, 95], \fBmemory\fR = [85, 95], \fBdisk\fR = [90, 95] (percent);
\fBload_per_core\fR = [1.5, 3.0]; \fBdatabase_mb\fR = [1000, 2000];
\fBservice_memory\fR = [80, 90] (percent of the unit's MemoryMax);
\fBbackup_age\fR = ["26h", "50h"]; \fBrestarts_per_hour\fR = [3, 6].
.SH [alerts]
.TP
\fBmax_size\fR = "10MiB", \fBkeep\fR = 5
Rotation of the alerts log by size; rotated files are \fIalerts_log\fR.1 ... .\fIkeep\fR.
.SH [backup]
.TP
\fBretention\fR = "30d", \fBkeep_last\fR = 3
Backups older than the retention are deleted, always keeping the newest \fBkeep_last\fR.
.TP
\fBcompression\fR = "zstd", \fBlevel\fR = 3
\fBzstd\fR, \fBgzip\fR or \fBnone\fR.
.SH [orchestrator]
.TP
\fBlisten\fR = "127.0.0.1:8000"
The health API of \fBgrokmon run\fR.
.TP
\fBshutdown_timeout\fR = "15s"
SIGTERM/SIGINT: the deadline for a clean shutdown.
.TP
\fBbackoff\fR = ["10s", "20s", "30s"], \fBreconnect_after\fR = 3
Retry delays of a failing sensor; after this many consecutive failures it is reconnected.
.TP
\fBkeep_readings\fR = "90d"
Retention of readings and decisions in the database.
.SH [ai]
.TP
\fBenabled\fR = false, \fBbase_url\fR = "https://api.x.ai/v1", \fBmodel\fR = "grok\-4"
An OpenAI\-compatible chat\-completions endpoint.
.TP
\fBapi_key_env\fR, \fBapi_key_file\fR
Where the key comes from (one of them).
.TP
\fBinterval\fR = "30m", \fBtimeout\fR = "60s", \fBbackoff\fR = ["1m", "2m", "5m"]
How often decisions are asked for, and the retry delays after a failure.
.TP
\fBsystem_prompt\fR (built in), \fBdry_run\fR = false
The prompt (text, or \fB@/path/to/file\fR); record decisions without running actions.
.SH [restart]
.TP
\fBcooldown\fR = "5m"
\fBgrokmon restart\fR refuses a second restart within this time (unless \fB\-\-force\fR).
.TP
\fBwait\fR = "90s"
How long \fBgrokmon restart\fR waits for the unit to be active and the API healthy.
.SH [[sensor]]
\fBname\fR, \fBkind\fR (\fBcommand\fR, \fBhttp\fR, \fBfile\fR or \fBsim\fR), \fBinterval\fR = "60s" (at least "100ms"),
\fBtimeout\fR = "10s", \fBunit\fR; \fBcommand\fR = [argv] (run without a shell),
\fBurl\fR and \fBjson_pointer\fR, \fBpath\fR and \fBscale\fR, \fBreconnect\fR = [argv];
for \fBsim\fR: \fBseed\fR, \fBstart\fR, \fBfail_every\fR, \fBhang_every\fR, \fBgarbage_every\fR.
.SH [[action]]
\fBname\fR, \fBdescription\fR, \fBcommand\fR = [argv], \fBtimeout\fR = "30s", \fBcooldown\fR = "10m".
The AI may only choose an action by name; the command is fixed here.
.SH [[notify]]
\fBkind\fR = "webhook", \fBformat\fR = "json" (\fBdiscord\fR, \fBslack\fR, \fBntfy\fR, \fBjson\fR),
\fBurl\fR (may hold a token: never printed), \fBmin_level\fR = "warn", \fBtimeout\fR = "5s".
.SH [heartbeat]
\fBurl\fR (a secret: never printed, logged or quoted in an error), \fBformat\fR = "healthchecks"
(\fBhealthchecks\fR: POST \fIurl\fR when the check is OK or WARNING, \fIurl\fR/fail when CRITICAL
or UNKNOWN, with the summary as the body; \fBuptime\-kuma\fR: GET
\fIurl\fR?status=up|down&msg=\fISUMMARY\fR&ping=\fIMS\fR), \fBtimeout\fR = "5s".
Sent after each check, retried like notifications; it never changes the check's status. A failed
ping is confirmed like a probe, then one WARN \fBheartbeat\fR line. Failures of silenced sources
do not send /fail.
.SH SILENCES
\fBgrokmon alerts silence\fR \fIDURATION\fR \fB\-\-reason\fR \fITEXT\fR [\fB\-\-source\fR \fINAME\fR]...
records an INFO \fBsilence\fR line (who, why, until) and keeps the silence in the state database.
While it lasts, matching alert lines are written with \fB(silenced)\fR at the end and not notified.
When it ends, each alert still failing is notified once. \fBgrokmon restart\fR silences
\fBapi\fR and \fBservice\fR for \fBrestart.wait\fR plus a minute.
.SH ALERTS LOG
Plain text, one event a line:
.PP
.nf
2026\-11\-28T11:40:13Z CRIT api: unreachable: connection refused (2 checks, since 11:35:13Z)
2026\-11\-28T11:50:13Z OK   api: recovered after 15m
2026\-11\-28T12:01:02Z INFO restart: grokmon.service restarted by alice: "stuck sensor" (active after 4.2s)
.fi
.PP
Fields: the UTC RFC 3339 time, the level (\fBINFO\fR, \fBOK\fR, \fBWARN\fR, \fBCRIT\fR), the source
(a probe, \fBrestart\fR, \fBbackup\fR, \fBsensor.\fR\fINAME\fR, \fBai\fR, \fBcheck\fR, \fBheartbeat\fR,
\fBsilence\fR) and the message.
Control characters, newlines and ANSI escapes in outside text are escaped, so no input can forge a
line. Appends hold an exclusive lock. The file must be a regular file owned by the user, root
or (with \fBscope\fR = "system") the \fBgrokmon\fR user (no symbolic link); an existing file is opened
without \fBO_CREAT\fR (which \fBfs.protected_regular\fR refuses in \fI/tmp\fR, even to root) and a
missing one is created mode 0600. \fBgrokmon alerts tail\fR reads across rotated files;
\fBgrokmon alerts ack\fR marks everything so far as reviewed.
.SH SEE ALSO
\fBgrokmon\fR(1), \fBgrokmon\-check\fR(1), \fBgrokmon\-restart\fR(1), \fBgrokmon\-units\fR(1),
\fBsystemd.exec\fR(5)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_every_visible_subcommand_and_are_reproducible() {
        let a = render_pages().unwrap();
        let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "grokmon.1",
            "grokmon-check.1",
            "grokmon-alerts.1",
            "grokmon-alerts-tail.1",
            "grokmon-backup.1",
            "grokmon-restart.1",
            "grokmon-units-install.1",
            "grokmon-cron.1",
            "grokmon-completions.1",
            "grokmon.toml.5",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(
            !names.iter().any(|n| n.starts_with("grokmon-man")),
            "{names:?}"
        );
        assert_eq!(a, render_pages().unwrap());
    }
}
