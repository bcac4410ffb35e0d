//! systemd's restart policy and start limit, judged from what systemd
//! really reports (measured under systemd 252):
//!
//! - After a crash loop hits the start limit, the unit is `failed` but its
//!   `Result` keeps the first failure (`signal`, `exit-code`, …);
//!   `start-limit-hit` appears only when a start is refused from a clean
//!   state. So "systemd gave up" is: failed, with a result that the unit's
//!   own `Restart=` policy would have restarted (and an exit status not in
//!   `RestartPreventExitStatus=`), yet it was not restarted.
//! - Every start counts against `StartLimitBurst=` in
//!   `StartLimitIntervalSec=`, manual ones too: a reviewed restart can trip
//!   the limit and leave the unit down. The starts are read from the journal
//!   (the manager's "Starting UNIT..." lines), else estimated from grokmon's
//!   own restart records and the unit's counters.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{QUERY_TIMEOUT, parse_unix_timestamp, run_with_timeout};
use crate::config::Scope;

/// The `systemctl show` properties the judgements here read.
pub const PROPS: &[&str] = &[
    "ActiveState",
    "Result",
    "Restart",
    "RestartPreventExitStatus",
    "ExecMainCode",
    "ExecMainStatus",
    "NRestarts",
    "StartLimitBurst",
    "StartLimitIntervalUSec",
    "InactiveExitTimestamp",
];

/// `SD_MESSAGE_UNIT_STARTING`: the manager's "Starting UNIT..." line,
/// logged once per start (manual or automatic), never for a refused one.
pub const UNIT_STARTING: &str = "7d4958e842da4a758f6c1cdc7b36dcc5";

/// `ExecMainCode`: how the main process ended (waitid's `si_code`).
const CLD_EXITED: &str = "1";

fn get<'a>(props: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    props.get(k).map(String::as_str).unwrap_or("")
}

/// A signal's number from its name (`SIGKILL`, `KILL`) or number.
fn signal_number(word: &str) -> Option<i32> {
    if let Ok(n) = word.parse() {
        return Some(n);
    }
    let name = word.strip_prefix("SIG").unwrap_or(word);
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "SYS" => libc::SIGSYS,
        _ => return None,
    })
}

/// Whether `RestartPreventExitStatus=` (`78 SIGKILL`) covers how the main
/// process ended.
fn prevented(props: &BTreeMap<String, String>) -> bool {
    let code = get(props, "ExecMainCode");
    let Ok(status) = get(props, "ExecMainStatus").parse::<i32>() else {
        return false;
    };
    get(props, "RestartPreventExitStatus")
        .split_whitespace()
        .any(|w| {
            let is_signal = w.starts_with("SIG");
            if code == CLD_EXITED {
                !is_signal && w.parse::<i32>() == Ok(status)
            } else {
                is_signal && signal_number(w) == Some(status)
            }
        })
}

/// Whether the unit's `Restart=` policy restarts after a run that ended with
/// `result` (systemd's `service_shall_restart`, before the start limit).
pub fn policy_restarts(props: &BTreeMap<String, String>) -> bool {
    let result = get(props, "Result");
    if prevented(props) {
        return false;
    }
    match get(props, "Restart") {
        "always" => true,
        "on-success" => result == "success",
        "on-failure" => result != "success",
        "on-abnormal" => !matches!(result, "success" | "exit-code"),
        "on-watchdog" => result == "watchdog",
        "on-abort" => matches!(result, "signal" | "core-dump"),
        _ => false,
    }
}

/// When systemd gave up on a failed unit: what it reports, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp {
    pub detail: String,
}

/// Whether systemd gave up restarting the unit (pure): `failed` with
/// `start-limit-hit`, or `failed` with a result its own `Restart=` policy
/// restarts (not prevented by `RestartPreventExitStatus=`), which only the
/// start limit stops.
pub fn gave_up(props: &BTreeMap<String, String>) -> Option<GaveUp> {
    if get(props, "ActiveState") != "failed" {
        return None;
    }
    let result = get(props, "Result");
    let limit = match start_limit(props) {
        Some(l) => format!(
            "start limit: {} starts in {}",
            l.burst,
            crate::text::human_duration(l.interval)
        ),
        None => "start limit".to_string(),
    };
    if result == "start-limit-hit" {
        return Some(GaveUp {
            detail: format!("start-limit-hit; {limit}"),
        });
    }
    if !policy_restarts(props) {
        return None;
    }
    let n = get(props, "NRestarts");
    Some(GaveUp {
        detail: format!(
            "{} again after {n} automatic restart(s), then the {limit} stopped it (Restart={})",
            ended(props),
            crate::text::sanitize(get(props, "Restart"))
        ),
    })
}

/// How the main process last ended, in words (`result signal (9)`).
pub fn ended(props: &BTreeMap<String, String>) -> String {
    let result = crate::text::sanitize(get(props, "Result"));
    let status = get(props, "ExecMainStatus");
    match get(props, "ExecMainCode") {
        CLD_EXITED => format!("exited with status {status} (result {result})"),
        "2" | "3" => format!("killed by signal {status} (result {result})"),
        _ => format!("result {result}"),
    }
}

/// The unit's start limit, when rate limiting is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartLimit {
    pub burst: u32,
    pub interval: Duration,
}

/// `StartLimitBurst=`/`StartLimitIntervalUSec=` (pure); `None` when either
/// is 0 (no rate limiting) or unreadable.
pub fn start_limit(props: &BTreeMap<String, String>) -> Option<StartLimit> {
    let burst: u32 = get(props, "StartLimitBurst").parse().ok()?;
    let interval = match get(props, "StartLimitIntervalUSec").trim() {
        "0" | "" | "infinity" => return None,
        s => humantime::parse_duration(s).ok()?,
    };
    (burst > 0 && !interval.is_zero()).then_some(StartLimit { burst, interval })
}

/// The recent starts of a unit and where they were read.
#[derive(Debug, Clone, PartialEq)]
pub struct Starts {
    /// Start times, oldest first.
    pub times: Vec<DateTime<Utc>>,
    /// Where they come from, for the person (`the journal`, `an estimate …`).
    pub basis: String,
}

/// Whether one more start fits under the start limit (pure): `Ok` with the
/// starts counted, or `Err(when the next start is safe)`. The window slides
/// over the last `interval`; systemd's own window is fixed from its first
/// start, which never counts more, so a start allowed here is allowed there.
pub fn next_start(
    limit: StartLimit,
    starts: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Result<usize, DateTime<Utc>> {
    let interval = chrono::Duration::from_std(limit.interval).unwrap_or(chrono::Duration::MAX);
    let mut recent: Vec<DateTime<Utc>> = starts
        .iter()
        .copied()
        .filter(|t| *t > now - interval && *t <= now + chrono::Duration::seconds(5))
        .collect();
    recent.sort();
    let n = recent.len();
    let burst = limit.burst as usize;
    if n < burst {
        return Ok(n);
    }
    // Enough of the oldest must leave the window that n' + 1 <= burst.
    let oldest_that_must_go = recent[n - burst];
    Err(oldest_that_must_go + interval + chrono::Duration::seconds(1))
}

/// Reads the unit's starts since `since` from the journal: the manager's
/// "Starting UNIT..." lines. `Err` says why it could not (no journalctl, no
/// permission to read the manager's messages).
pub fn journal_starts(
    scope: Scope,
    unit: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, String> {
    let mut c = std::process::Command::new("journalctl");
    if scope == Scope::User {
        c.arg("--user").arg(format!("USER_UNIT={unit}"));
    } else {
        c.args(["_PID=1".to_string(), format!("UNIT={unit}")]);
    }
    c.arg(format!("MESSAGE_ID={UNIT_STARTING}"))
        .arg(format!("--since=@{}", since.timestamp()))
        .args(["--output=short-unix", "--no-pager", "--quiet"]);
    let o = match run_with_timeout(&mut c, QUERY_TIMEOUT) {
        Ok(Some(o)) => o,
        Ok(None) => return Err("journalctl timed out".into()),
        Err(e) => return Err(format!("cannot run journalctl: {e}")),
    };
    let err = o.stderr.trim();
    // An unprivileged reader sees no system messages and is told so on
    // stderr, with an exit code of 0: no lines then does not mean no starts.
    if !o.status.success()
        || err.contains("insufficient permissions")
        || err.contains("not seeing messages")
    {
        return Err(format!(
            "journalctl cannot read the manager's messages: {}",
            crate::text::sanitize(err.lines().next().unwrap_or("failed"))
        ));
    }
    Ok(parse_short_unix(&o.stdout))
}

/// Adds to `journal` the starts it does not hold yet (pure): journald writes
/// asynchronously, so the latest start (the unit's `InactiveExitTimestamp`)
/// or a reviewed restart just recorded may not be in it yet. A time within
/// 3 s of one already there is the same start.
pub fn merge_starts(
    mut journal: Vec<DateTime<Utc>>,
    extra: impl IntoIterator<Item = DateTime<Utc>>,
) -> Vec<DateTime<Utc>> {
    for t in extra {
        if !journal
            .iter()
            .any(|j| (*j - t).num_milliseconds().abs() <= 3000)
        {
            journal.push(t);
        }
    }
    journal.sort();
    journal
}

/// The timestamps of `journalctl --output=short-unix` lines (pure).
pub fn parse_short_unix(text: &str) -> Vec<DateTime<Utc>> {
    let mut v: Vec<DateTime<Utc>> = text
        .lines()
        .filter_map(|l| {
            let w = l.split_whitespace().next()?;
            let (s, frac) = w.split_once('.').unwrap_or((w, "0"));
            let secs: i64 = s.parse().ok()?;
            let micros: u32 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
            DateTime::from_timestamp(secs, micros * 1000)
        })
        .collect();
    v.sort();
    v
}

/// An estimate of the recent starts when the journal cannot be read (pure):
/// grokmon's own reviewed restarts, the current run's start, and its
/// automatic restarts (`NRestarts`, counted since the last manual start),
/// all assumed recent when the current run started within the window.
pub fn estimate_starts(
    props: &BTreeMap<String, String>,
    reviewed: &[DateTime<Utc>],
    window_start: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut v: Vec<DateTime<Utc>> = reviewed
        .iter()
        .copied()
        .filter(|t| *t > window_start)
        .collect();
    if let Some(current) =
        parse_unix_timestamp(get(props, "InactiveExitTimestamp")).filter(|t| *t > window_start)
    {
        let known = v.iter().any(|t| (*t - current).num_seconds().abs() <= 5);
        if !known {
            v.push(current);
        }
        // The other automatic restarts since the last manual start, and
        // that start: their times are unknown, so they count as recent as
        // the current start.
        let n: usize = get(props, "NRestarts").parse().unwrap_or(0);
        for _ in 0..n {
            v.push(current);
        }
    }
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> BTreeMap<String, String> {
        super::super::parse_show(s)
    }

    const LIMIT: &str = "StartLimitBurst=5\nStartLimitIntervalUSec=10min\n";

    #[test]
    fn a_crash_loop_is_systemd_giving_up_whatever_result_it_keeps() {
        // As systemd 252 reports it after 5 crashes (kill -9) in a row.
        let crash_loop = p(&format!(
            "ActiveState=failed\nResult=signal\nRestart=on-failure\nRestartPreventExitStatus=78\nExecMainCode=2\nExecMainStatus=9\nNRestarts=4\n{LIMIT}"
        ));
        let g = gave_up(&crash_loop).expect("gave up");
        assert!(g.detail.contains("killed by signal 9"), "{}", g.detail);
        assert!(g.detail.contains("4 automatic restart"), "{}", g.detail);
        assert!(g.detail.contains("5 starts in 10m"), "{}", g.detail);

        let refused = p(&format!(
            "ActiveState=failed\nResult=start-limit-hit\nRestart=on-failure\n{LIMIT}"
        ));
        assert!(
            gave_up(&refused)
                .unwrap()
                .detail
                .contains("start-limit-hit")
        );

        let exit1 = p(
            "ActiveState=failed\nResult=exit-code\nRestart=on-failure\nRestartPreventExitStatus=78\nExecMainCode=1\nExecMainStatus=1\n",
        );
        assert!(gave_up(&exit1).is_some());
    }

    #[test]
    fn failures_the_policy_does_not_restart_are_not_giving_up() {
        // Exit 78 (a configuration error) is in RestartPreventExitStatus.
        let config_error = p(
            "ActiveState=failed\nResult=exit-code\nRestart=on-failure\nRestartPreventExitStatus=78\nExecMainCode=1\nExecMainStatus=78\nNRestarts=1\n",
        );
        assert_eq!(gave_up(&config_error), None);
        // A signal listed by name.
        let prevented_signal = p(
            "ActiveState=failed\nResult=signal\nRestart=on-failure\nRestartPreventExitStatus=78 SIGKILL\nExecMainCode=2\nExecMainStatus=9\n",
        );
        assert_eq!(gave_up(&prevented_signal), None);
        // Exit status 9 is not signal 9.
        let exit9 = p(
            "ActiveState=failed\nResult=exit-code\nRestart=on-failure\nRestartPreventExitStatus=SIGKILL\nExecMainCode=1\nExecMainStatus=9\n",
        );
        assert!(gave_up(&exit9).is_some());
        // No restart policy: failed, but systemd never meant to restart it.
        let no =
            p("ActiveState=failed\nResult=signal\nRestart=no\nExecMainCode=2\nExecMainStatus=9\n");
        assert_eq!(gave_up(&no), None);
        // on-abnormal does not restart a non-zero exit.
        let abnormal = p(
            "ActiveState=failed\nResult=exit-code\nRestart=on-abnormal\nExecMainCode=1\nExecMainStatus=1\n",
        );
        assert_eq!(gave_up(&abnormal), None);
        let watchdog = p(
            "ActiveState=failed\nResult=watchdog\nRestart=on-watchdog\nExecMainCode=2\nExecMainStatus=6\n",
        );
        assert!(gave_up(&watchdog).is_some());
        // Not failed: nothing was given up.
        let active = p("ActiveState=active\nResult=signal\nRestart=on-failure\n");
        assert_eq!(gave_up(&active), None);
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn the_start_limit_counts_recent_starts_and_names_when_the_next_is_safe() {
        let limit = start_limit(&p(LIMIT)).unwrap();
        assert_eq!(limit.burst, 5);
        assert_eq!(limit.interval, Duration::from_secs(600));
        let now = t(1000);
        // 4 starts in the window: a fifth fits.
        let four = [t(500), t(600), t(700), t(800)];
        assert_eq!(next_start(limit, &four, now), Ok(4));
        // 5 in the window: a sixth would trip the limit; the oldest leaves
        // the window at 500 + 600.
        let five = [t(500), t(600), t(700), t(800), t(900)];
        assert_eq!(next_start(limit, &five, now), Err(t(1101)));
        // Older starts do not count.
        let old = [t(100), t(200), t(600), t(700), t(800), t(900)];
        assert_eq!(next_start(limit, &old, now), Ok(4));
        // 7 in the window: the third oldest must leave too.
        let seven = [t(450), t(500), t(550), t(600), t(700), t(800), t(900)];
        assert_eq!(next_start(limit, &seven, now), Err(t(1151)));
        // No rate limiting.
        assert_eq!(
            start_limit(&p("StartLimitBurst=5\nStartLimitIntervalUSec=0\n")),
            None
        );
        assert_eq!(
            start_limit(&p("StartLimitBurst=0\nStartLimitIntervalUSec=10s\n")),
            None
        );
        assert_eq!(
            start_limit(&p("StartLimitBurst=5\nStartLimitIntervalUSec=1min 30s\n")),
            Some(StartLimit {
                burst: 5,
                interval: Duration::from_secs(90)
            })
        );
    }

    #[test]
    fn starts_not_yet_in_the_journal_are_added_once() {
        let j = vec![t(100), t(200)];
        // The current run (started at 300) is not in the journal yet; the
        // reviewed restart at 199 is the journal's 200.
        assert_eq!(
            merge_starts(j, [t(199), t(300)]),
            vec![t(100), t(200), t(300)]
        );
    }

    #[test]
    fn journal_lines_and_the_estimate() {
        let text = "1796279004.170503 host systemd[1]: Starting grokmon.service - x...\n1796279005.013253 host systemd[1]: Starting grokmon.service - x...\n";
        let v = parse_short_unix(text);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].timestamp(), 1796279004);
        assert_eq!(v[0].timestamp_subsec_micros(), 170503);
        assert!(parse_short_unix("-- No entries --\n").is_empty());

        // Current run started at 900 after 3 automatic restarts; one
        // reviewed restart at 700, one long ago.
        let props = p(&format!(
            "InactiveExitTimestamp=@{}\nNRestarts=3\n",
            t(900).timestamp()
        ));
        let v = estimate_starts(&props, &[t(-5000), t(700)], t(400));
        assert_eq!(v, vec![t(700), t(900), t(900), t(900), t(900)]);
        // The current run is the reviewed restart itself: counted once.
        let props = p(&format!(
            "InactiveExitTimestamp=@{}\nNRestarts=0\n",
            t(702).timestamp()
        ));
        assert_eq!(estimate_starts(&props, &[t(700)], t(400)), vec![t(700)]);
    }
}
