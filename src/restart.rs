//! `grokmon restart`: the reviewed, confirmed, recorded restart. Never automatic.
//!
//! Order of things, so that a refused restart has asked systemd nothing but
//! `show`: the caller guards (under systemd, under cron, no terminal without
//! `--yes --reason`), then `systemctl show` and the state guards (not found,
//! systemd gave up, a restart under way, the cooldown), then the review on
//! one screen, the confirmation (typing the unit's name), exactly one
//! `systemctl restart`, a patient wait for `active` and a healthy API, and
//! an INFO (or CRIT) line from source `restart` in the alerts log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, Write as _};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::alerts::{AlertLog, Event, Level};
use crate::cli::RestartArgs;
use crate::config::{Config, Scope};
use crate::confirm::Confirmed;
use crate::probe::{Status, service};
use crate::state::{self, Read as _, State};
use crate::systemd::{Systemctl, SystemctlError, limits, parse_unix_timestamp};
use crate::text::{chain, sanitize};
use crate::text::{human_duration, seconds_tenths};
use crate::{Ctx, exit};

/// Facts about the caller, read once by the command shell.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `INVOCATION_ID` is set: systemd started this process.
    pub under_systemd: bool,
    /// stdin is a terminal: a person can review and confirm.
    pub terminal: bool,
    /// Who restarts, for the record.
    pub user: String,
}

impl Caller {
    fn from_process(ctx: &Ctx) -> Caller {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let base = var("USER")
            .or_else(|| var("LOGNAME"))
            // SAFETY: getuid cannot fail and has no preconditions.
            .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }));
        let user = match var("SUDO_USER") {
            Some(s) if s != base => format!("{s} (as {base} via sudo)"),
            _ => base,
        };
        Caller {
            under_systemd: std::env::var_os("INVOCATION_ID").is_some_and(|v| !v.is_empty()),
            terminal: ctx.stdin_is_terminal,
            user,
        }
    }
}

fn reason_of(args: &RestartArgs) -> Option<&str> {
    args.reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

/// Refuses callers that are not a person (pure). `Err` is the message.
pub fn guard_caller(args: &RestartArgs, c: &Caller) -> Result<(), String> {
    if c.under_systemd {
        return Err("refusing to restart: running under systemd (INVOCATION_ID is set). A restart is never automatic: a person runs `grokmon restart`".into());
    }
    if !c.terminal && !args.yes {
        return Err("refusing to restart: no terminal to review and confirm on (cron or a script?). A restart is never automatic: a person runs `grokmon restart` at a terminal, or a script acting for a person states it with `--yes --reason TEXT`".into());
    }
    if !c.terminal && reason_of(args).is_none() {
        return Err("refusing to restart: --yes without a terminal needs --reason TEXT (the reason is recorded in the alerts log)".into());
    }
    Ok(())
}

fn short(unit: &str) -> &str {
    unit.strip_suffix(".service").unwrap_or(unit)
}

/// Refuses restarts the unit's state or history argue against (pure).
pub fn guard_state(
    args: &RestartArgs,
    props: &BTreeMap<String, String>,
    last_restart: Option<DateTime<Utc>>,
    starts: Option<&limits::Starts>,
    now: DateTime<Utc>,
    cfg: &Config,
) -> Result<(), String> {
    let unit = &cfg.service.unit;
    let get = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
    let u = if cfg.service.scope == Scope::User {
        " --user"
    } else {
        ""
    };
    // An empty or foreign answer says nothing about the unit: going ahead
    // would restart blind. Not even --force goes past this.
    if get("ActiveState").is_empty() {
        return Err(format!(
            "refusing to restart: `systemctl{u} show {unit}` returned nothing usable (no ActiveState), so its state cannot be reviewed; check with `systemctl{u} status {}`",
            short(unit)
        ));
    }
    if get("LoadState") == "not-found" {
        return Err(format!(
            "refusing to restart: unit {unit} not found; is it installed? (`grokmon units install`, or set service.unit)"
        ));
    }
    if let Some(g) = limits::gave_up(props) {
        let s = short(unit);
        return Err(format!(
            "refusing to restart: systemd gave up on {unit} ({}: it crashed too often in a row), so another restart would crash the same way. Investigate first: `journalctl{u} -u {s} -n 100`; once the cause is fixed, reset it with `systemctl{u} reset-failed {s}` and run `grokmon restart` again",
            sanitize(&g.detail)
        ));
    }
    let active = get("ActiveState");
    // Every start counts against the start limit, a reviewed one too: one
    // start too many and systemd refuses it, leaving the unit failed, i.e.
    // the planned restart takes the service down. Only a unit that is up
    // can be taken down; --force does not bypass this.
    if matches!(
        active,
        "active" | "activating" | "reloading" | "deactivating"
    ) && let (Some(limit), Some(starts)) = (limits::start_limit(props), starts)
        && let Err(safe) = limits::next_start(limit, &starts.times, now)
    {
        let window = human_duration(limit.interval);
        let n = starts
            .times
            .iter()
            .filter(|t| {
                now - **t
                    < chrono::Duration::from_std(limit.interval).unwrap_or(chrono::Duration::MAX)
            })
            .count();
        return Err(format!(
            "refusing to restart: {unit} started {n} times in the last {window} ({}), and systemd's start limit allows {} starts in {window}: systemd would refuse this restart's start and leave {unit} failed (down). The next restart is safe after {} (in {}); --force does not bypass the start limit",
            starts.basis,
            limit.burst,
            safe.to_rfc3339_opts(SecondsFormat::Secs, true),
            human_duration((safe - now).to_std().unwrap_or_default())
        ));
    }
    if matches!(active, "activating" | "deactivating" | "reloading") && !args.force {
        return Err(format!(
            "refusing to restart: {unit} is {active} ({}): a restart is already under way; wait for it (`grokmon status`) instead of piling on, or use --force",
            sanitize(get("SubState"))
        ));
    }
    if let Some(last) = last_restart
        && !args.force
    {
        let ago = (now - last).to_std().unwrap_or_default();
        if ago < cfg.restart.cooldown {
            return Err(format!(
                "refusing to restart: the last reviewed restart was {} ago ({}), within restart.cooldown ({}); give the service time to settle (`grokmon status`), or use --force",
                human_duration(ago),
                last.to_rfc3339_opts(SecondsFormat::Secs, true),
                human_duration(cfg.restart.cooldown)
            ));
        }
    }
    Ok(())
}

/// The delays before each poll while waiting for the restarted service
/// (pure): at once, then growing (0.5 s, 1 s, 2 s, 4 s) and capped at 5 s,
/// never past `wait` in total.
pub fn poll_schedule(wait: Duration) -> Vec<Duration> {
    let mut out = vec![Duration::ZERO];
    let mut total = Duration::ZERO;
    let mut next = Duration::from_millis(500);
    while total < wait {
        let d = next.min(wait - total);
        out.push(d);
        total += d;
        next = (next * 2).min(Duration::from_secs(5));
    }
    out
}

/// The review: service facts, restarts, the current checks and the
/// unreviewed alerts, on one screen.
fn review(
    ctx: &Ctx,
    props: &BTreeMap<String, String>,
    st: Option<&State>,
    last_restart: Option<DateTime<Utc>>,
) -> String {
    let cfg = &ctx.config;
    let now = ctx.now;
    let get = |k: &str| sanitize(props.get(k).map(String::as_str).unwrap_or(""));
    let mut out = String::new();
    let scope = cfg.service.scope.as_str();
    let _ = writeln!(out, "review of {} ({scope})", cfg.service.unit);
    let mut state = format!("{} ({})", get("ActiveState"), get("SubState"));
    if let Some(pid) = get("MainPID").parse::<u32>().ok().filter(|p| *p > 0) {
        let _ = write!(state, ", pid {pid}");
    }
    let _ = writeln!(out, "  state:     {state}");
    if let Some(since) = parse_unix_timestamp(&get("ActiveEnterTimestamp")) {
        let up = (now - since).to_std().unwrap_or_default();
        let _ = writeln!(
            out,
            "  up:        {} (since {})",
            human_duration(up),
            since.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
    }
    if let Ok(n) = get("NRestarts").parse::<u64>() {
        let hist = st
            .and_then(|s| {
                s.read()
                    .samples("service.nrestarts", now - chrono::Duration::hours(1))
                    .ok()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  restarts:  {} automatic in the last hour ({n} since the unit was loaded)",
            service::restarts_in(&hist, n)
        );
    }
    let _ = writeln!(
        out,
        "  last reviewed restart: {}",
        match last_restart {
            Some(t) => format!(
                "{} ago ({})",
                human_duration((now - t).to_std().unwrap_or_default()),
                t.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            None => "never".into(),
        }
    );
    let (observations, _) = crate::check::run_probes(cfg, now, &ctx.roots, st);
    let report = crate::check::Report {
        checked_at: now,
        observations,
        events: Vec::new(),
        errors: Vec::new(),
    };
    let _ = writeln!(out, "\ncurrent checks:");
    out.push_str(&crate::check::report::human(&report, ctx.color));
    let review = st
        .and_then(|s| crate::alerts::ack::Review::read(&s.read()).ok())
        .unwrap_or_default();
    match crate::alerts::ack::unreviewed(&AlertLog::from_config(cfg), &review, 5) {
        Ok((0, _)) => {
            let _ = writeln!(out, "\nunreviewed alerts: none");
        }
        Ok((n, events)) => {
            let _ = writeln!(
                out,
                "\nunreviewed alerts: {n} since the last `grokmon alerts ack`{}:",
                if n > events.len() {
                    format!(" (the latest {} shown)", events.len())
                } else {
                    String::new()
                }
            );
            for e in events {
                let _ = writeln!(out, "  {}", e.to_line());
            }
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "\nunreviewed alerts: cannot read {}: {}",
                cfg.paths.alerts_log.display(),
                sanitize(&e.to_string())
            );
        }
    }
    out
}

/// Asks on the terminal; `None` at end of input.
fn ask(prompt: &str) -> anyhow::Result<Option<String>> {
    let mut err = std::io::stderr().lock();
    write!(err, "{prompt}")?;
    err.flush()?;
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer from the terminal")?;
    Ok((n > 0).then(|| line.trim().to_string()))
}

/// How the wait ended.
#[derive(Debug)]
struct Waited {
    ok: bool,
    detail: String,
}

/// Polls until the unit is `active` and (when the API probe is enabled) the
/// API answers healthy, or `restart.wait` passes.
fn wait_healthy(sc: &Systemctl, cfg: &Config) -> Waited {
    let unit = &cfg.service.unit;
    let start = Instant::now();
    let api = cfg.check.probes.iter().any(|p| p == "api");
    let timeout = cfg
        .check
        .api
        .timeout
        .min(cfg.restart.wait.max(Duration::from_secs(1)));
    let client = if api {
        crate::probe::api::client(timeout).ok()
    } else {
        None
    };
    let mut state = String::from("unknown");
    let mut api_msg: Option<String> = None;
    for d in poll_schedule(cfg.restart.wait) {
        std::thread::sleep(d);
        state = match sc.is_active(unit) {
            // Raw, like the whole detail: the alerts log and stdout/stderr
            // each escape it once.
            Ok(s) => s,
            Err(e) => format!("unknown ({})", e.raw()),
        };
        if state == "failed" {
            return Waited {
                ok: false,
                detail: format!(
                    "failed {} after the restart",
                    seconds_tenths(start.elapsed())
                ),
            };
        }
        if state != "active" {
            continue;
        }
        let Some(client) = &client else {
            let what = if api {
                "active (the API was not checked: no HTTP client)"
            } else {
                "active"
            };
            return Waited {
                ok: true,
                detail: format!("{what} after {}", seconds_tenths(start.elapsed())),
            };
        };
        let rules = crate::probe::health::Rules::from_config(&cfg.check.api);
        let p = crate::probe::api::get_with(client, &cfg.check.api.url, timeout, &rules);
        if p.status == Status::Ok {
            return Waited {
                ok: true,
                detail: format!(
                    "active and healthy after {}",
                    seconds_tenths(start.elapsed())
                ),
            };
        }
        api_msg = Some(p.message);
    }
    let mut detail = format!("still {state} after {}", human_duration(cfg.restart.wait));
    if let Some(m) = api_msg {
        let _ = write!(detail, "; API: {m}");
    }
    Waited { ok: false, detail }
}

pub fn run(args: &RestartArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let t0 = Instant::now();
    let cfg = &ctx.config;
    let unit = &cfg.service.unit;
    let caller = Caller::from_process(ctx);
    guard_caller(args, &caller).map_err(anyhow::Error::msg)?;

    let sc = Systemctl::new(cfg.service.scope);
    let mut wanted: Vec<&str> = service::PROPS.to_vec();
    wanted.extend(limits::PROPS.iter().filter(|p| !service::PROPS.contains(p)));
    let props = match sc.show(unit, &wanted) {
        Ok(p) => p,
        Err(e @ SystemctlError::Unavailable(_)) => {
            anyhow::bail!("cannot restart {unit}: {e}")
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot restart {unit}"))),
    };
    // Root on a system install opens (and records into) the service's state
    // as the service user: the files it creates stay the service's.
    let as_owner = |f: &mut dyn FnMut()| crate::systemd::sysuser::as_owner(cfg, f);
    // One restart at a time, from the cooldown guard to the record of the
    // attempt: concurrent `grokmon restart`s would each pass the guard
    // before any recorded its restart.
    let mut locked = None;
    as_owner(&mut || locked = Some(lock_restarts(&cfg.paths.state)));
    let _lock = locked.expect("set")?;
    crate::failpoint::hit("restart.locked");
    let mut opened = None;
    as_owner(&mut || opened = Some(State::open_existing(&cfg.paths.state)));
    let st = match opened.expect("set") {
        Ok(s) => s,
        // The cooldown cannot be checked; --force is the way past it.
        Err(e) if args.force => {
            crate::errln!("grokmon: warning: {}", chain(&e));
            None
        }
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context("cannot read the last restart time (use --force to restart anyway)"));
        }
    };
    let last_restart = st
        .as_ref()
        .and_then(|s| s.read().get_time(state::keys::LAST_RESTART).ok().flatten());
    let starts = recent_starts(cfg, &props, st.as_ref(), ctx.now);
    guard_state(args, &props, last_restart, starts.as_ref(), ctx.now, cfg)
        .map_err(anyhow::Error::msg)?;

    crate::print_stdout(&review(ctx, &props, st.as_ref(), last_restart))?;
    drop(st);

    let mut reason = reason_of(args).map(str::to_string);
    if !args.yes {
        // A person at a terminal (guard_caller made sure of it).
        if reason.is_none() {
            reason = ask("\nwhy restart? (recorded in the alerts log; Enter to skip): ")?
                .filter(|r| !r.is_empty());
        }
        let s = short(unit);
        let answer = ask(&format!("type {s:?} to restart {unit} now: "))?;
        if !answer.is_some_and(|a| a == s || a == *unit) {
            crate::errln!("grokmon: not confirmed; nothing was restarted");
            return Ok(exit::FAILURE);
        }
    }

    let confirmed = Confirmed::by_person();
    let at = |t: Instant| ctx.now + chrono::Duration::from_std(t.elapsed()).unwrap_or_default();
    let mut warnings = Vec::new();
    // The restart is planned: the API and service failures it causes are
    // silenced for its wait and a minute more, so that it pages no one.
    let hold = cfg.restart.wait + AUTO_SILENCE_MARGIN;
    let mut silenced = None;
    as_owner(&mut || {
        silenced = Some(crate::alerts::silence::add(
            cfg,
            at(t0),
            hold,
            AUTO_SILENCE_SOURCES.iter().map(|s| s.to_string()).collect(),
            &format!("automatic, for the restart of {unit}"),
            &format!("grokmon restart ({})", caller.user),
        ))
    });
    if let Some(Err(e)) = silenced {
        warnings.push(format!("{e:#}; the restart may page"));
    }
    crate::print_stdout(&format!("\nrestarting {unit} (systemctl restart)...\n"))?;
    let res = sc.restart(unit, &confirmed);
    // The cooldown counts attempts, failed ones too.
    let restarted_at = at(t0);
    let mut recorded = Ok(());
    as_owner(&mut || recorded = record_last_restart(&cfg.paths.state, restarted_at));
    if let Err(e) = recorded {
        warnings.push(format!("{e:#}"));
    }
    let waited = match res {
        Ok(()) => {
            crate::print_stdout(&format!(
                "waiting up to {} for {unit} to be active{}...\n",
                human_duration(cfg.restart.wait),
                if cfg.check.probes.iter().any(|p| p == "api") {
                    " and the API healthy"
                } else {
                    ""
                }
            ))?;
            wait_healthy(&sc, cfg)
        }
        Err(e) => Waited {
            ok: false,
            detail: format!("systemctl restart failed: {}", e.raw()),
        },
    };
    let who = match &reason {
        Some(r) => format!("by {}: \"{r}\"", caller.user),
        None => format!("by {}, no reason given", caller.user),
    };
    let event = if waited.ok {
        Event::new(
            at(t0),
            Level::Info,
            "restart",
            format!("{unit} restarted {who} ({})", waited.detail),
        )
    } else {
        Event::new(
            at(t0),
            Level::Crit,
            "restart",
            format!("{unit} restart {who} failed: {}", waited.detail),
        )
    };
    let log = AlertLog::from_config(cfg);
    let mut appended = Ok(());
    as_owner(&mut || appended = log.append(std::slice::from_ref(&event)));
    match appended {
        Ok(()) => crate::alerts::notify::written(cfg, &event, &log, event.ts),
        Err(e) => warnings.push(format!(
            "the restart was not recorded in the alerts log: {}",
            chain(&e)
        )),
    }
    for w in &warnings {
        crate::errln!("grokmon: warning: {w}");
    }
    if waited.ok {
        crate::print_stdout(&format!("{unit}: {}\n", sanitize(&waited.detail)))?;
        Ok(exit::OK)
    } else {
        let u = if cfg.service.scope == Scope::User {
            " --user"
        } else {
            ""
        };
        crate::errln!(
            "grokmon: {unit}: {}; look at `grokmon status` and `journalctl{u} -u {} -n 100`",
            sanitize(&waited.detail),
            short(unit)
        );
        Ok(exit::FAILURE)
    }
}

/// The probes a restart's automatic silence covers.
pub const AUTO_SILENCE_SOURCES: &[&str] = &["api", "service"];

/// How long the automatic silence outlasts `restart.wait`.
pub const AUTO_SILENCE_MARGIN: Duration = Duration::from_secs(60);
/// Takes the restart lock (`restart.lock` beside the state database, an
/// exclusive `flock` the kernel releases when the process ends), or refuses
/// at once when another restart holds it.
fn lock_restarts(state: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let dir = state
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("restart.lock");
    let f = crate::state::open_lock_file(&path)
        .with_context(|| format!("cannot open the restart lock {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "refusing to restart: another `grokmon restart` is under way (it holds {}); wait for it and look at `grokmon status`",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::Error::new(e).context(format!("cannot lock {}", path.display())))
        }
    }
}

/// The sample recorded for each reviewed restart (its start counts against
/// the unit's start limit).
const REVIEWED_SAMPLE: &str = "restart.reviewed";

/// The unit's recent starts, for the start-limit guard: from the journal,
/// else estimated from the reviewed restarts recorded here and the unit's
/// counters. `None` when the unit has no start limit.
fn recent_starts(
    cfg: &Config,
    props: &BTreeMap<String, String>,
    st: Option<&State>,
    now: DateTime<Utc>,
) -> Option<limits::Starts> {
    let limit = limits::start_limit(props)?;
    let since = now - chrono::Duration::from_std(limit.interval).ok()?;
    let reviewed: Vec<DateTime<Utc>> = st
        .and_then(|s| s.read().samples(REVIEWED_SAMPLE, since).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    match limits::journal_starts(cfg.service.scope, &cfg.service.unit, since) {
        Ok(times) => {
            let current = props
                .get("InactiveExitTimestamp")
                .and_then(|v| parse_unix_timestamp(v))
                .filter(|t| *t > since);
            Some(limits::Starts {
                times: limits::merge_starts(times, reviewed.into_iter().chain(current)),
                basis: "counted in the journal".into(),
            })
        }
        Err(why) => Some(limits::Starts {
            times: limits::estimate_starts(props, &reviewed, since),
            basis: format!(
                "estimated from grokmon's reviewed restarts and NRestarts, as {}",
                sanitize(&why)
            ),
        }),
    }
}

fn record_last_restart(path: &std::path::Path, t: DateTime<Utc>) -> anyhow::Result<()> {
    let mut st = State::open(path)?;
    st.write(|tx| {
        tx.set_time(state::keys::LAST_RESTART, t)?;
        tx.add_sample(t, REVIEWED_SAMPLE, 1.0)
    })
    .context("cannot record the restart time (the cooldown will not apply)")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn args(yes: bool, reason: Option<&str>, force: bool) -> RestartArgs {
        RestartArgs {
            yes,
            reason: reason.map(String::from),
            force,
        }
    }

    fn caller(under_systemd: bool, terminal: bool) -> Caller {
        Caller {
            under_systemd,
            terminal,
            user: "alice".into(),
        }
    }

    #[test]
    fn caller_guards() {
        // (under systemd, terminal, --yes, --reason) -> allowed, text of the refusal
        type Case<'a> = (bool, bool, bool, Option<&'a str>, Option<&'a str>);
        let cases: &[Case] = &[
            (false, true, false, None, None),
            (false, true, true, None, None),
            (false, false, true, Some("stuck sensor"), None),
            (true, true, false, None, Some("under systemd")),
            (true, false, true, Some("x"), Some("under systemd")),
            (false, false, false, None, Some("no terminal")),
            (false, false, false, Some("x"), Some("no terminal")),
            (false, false, true, None, Some("needs --reason")),
            (false, false, true, Some("  "), Some("needs --reason")),
        ];
        for (sysd, term, yes, reason, refused) in cases {
            let r = guard_caller(&args(*yes, *reason, false), &caller(*sysd, *term));
            match refused {
                None => assert!(r.is_ok(), "{sysd} {term} {yes} {reason:?}: {r:?}"),
                Some(needle) => {
                    let e = r.unwrap_err();
                    assert!(e.contains(needle), "{e}");
                    assert!(e.contains("refusing"), "{e}");
                }
            }
        }
    }

    fn cfg() -> Config {
        Config::defaults(&Env {
            home: Some("/h".into()),
            ..Env::default()
        })
    }

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn state_guards() {
        let p = |s: &str| crate::systemd::parse_show(s);
        let active = p("LoadState=loaded\nActiveState=active\nSubState=running\n");
        let c = cfg();
        assert!(guard_state(&args(true, None, false), &active, None, None, now(), &c).is_ok());

        // Nothing usable from `systemctl show`: refused, --force or not.
        for text in ["", "\n", "garbage without equals\n", "LoadState=loaded\n"] {
            for force in [false, true] {
                let e = guard_state(&args(true, None, force), &p(text), None, None, now(), &c)
                    .unwrap_err();
                assert!(e.contains("nothing usable"), "{text:?}: {e}");
            }
        }

        let e = guard_state(
            &args(true, None, true),
            &p("ActiveState=failed\nResult=start-limit-hit\n"),
            None,
            None,
            now(),
            &c,
        )
        .unwrap_err();
        assert!(e.contains("journalctl --user -u grokmon -n 100"), "{e}");
        assert!(e.contains("systemctl --user reset-failed grokmon"), "{e}");

        for st in ["activating", "deactivating", "reloading"] {
            let props = p(&format!("ActiveState={st}\nSubState=auto-restart\n"));
            let e =
                guard_state(&args(true, None, false), &props, None, None, now(), &c).unwrap_err();
            assert!(e.contains("already under way"), "{e}");
            assert!(guard_state(&args(true, None, true), &props, None, None, now(), &c).is_ok());
        }

        let recent = now() - chrono::Duration::minutes(2);
        let e = guard_state(
            &args(true, None, false),
            &active,
            Some(recent),
            None,
            now(),
            &c,
        )
        .unwrap_err();
        assert!(
            e.contains("2m ago") && e.contains("restart.cooldown"),
            "{e}"
        );
        assert!(
            guard_state(
                &args(true, None, true),
                &active,
                Some(recent),
                None,
                now(),
                &c
            )
            .is_ok()
        );
        let old = now() - chrono::Duration::minutes(6);
        assert!(
            guard_state(
                &args(true, None, false),
                &active,
                Some(old),
                None,
                now(),
                &c
            )
            .is_ok()
        );

        let e = guard_state(
            &args(true, None, true),
            &p("LoadState=not-found\nActiveState=inactive\n"),
            None,
            None,
            now(),
            &c,
        )
        .unwrap_err();
        assert!(e.contains("not found"), "{e}");
    }

    #[test]
    fn the_start_limit_guard_refuses_the_start_that_would_trip_it_even_with_force() {
        let p = |s: &str| crate::systemd::parse_show(s);
        let c = cfg();
        let up = p(
            "LoadState=loaded\nActiveState=active\nSubState=running\nStartLimitBurst=5\nStartLimitIntervalUSec=10min\nRestart=on-failure\n",
        );
        let starts = |mins_ago: &[i64]| limits::Starts {
            times: mins_ago
                .iter()
                .map(|m| now() - chrono::Duration::minutes(*m))
                .collect(),
            basis: "counted in the journal".into(),
        };
        // 4 starts in 10 minutes: a fifth is fine.
        let four = starts(&[8, 6, 4, 2]);
        assert!(guard_state(&args(true, None, true), &up, None, Some(&four), now(), &c).is_ok());
        // 5: the restart's start would be the sixth; --force does not help.
        let five = starts(&[8, 6, 4, 2, 1]);
        let e =
            guard_state(&args(true, None, true), &up, None, Some(&five), now(), &c).unwrap_err();
        assert!(e.contains("started 5 times in the last 10m"), "{e}");
        assert!(e.contains("allows 5 starts"), "{e}");
        assert!(e.contains("counted in the journal"), "{e}");
        // The oldest (8 min ago) leaves the window in 2 minutes.
        assert!(
            e.contains("safe after 2026-11-28T12:02:01Z (in 2m 1s)"),
            "{e}"
        );
        assert!(e.contains("--force does not bypass"), "{e}");
        // Starts older than the window do not count.
        let old = starts(&[30, 20, 15, 11, 2]);
        assert!(guard_state(&args(true, None, true), &up, None, Some(&old), now(), &c).is_ok());
        // A unit that is down cannot be taken down by the restart.
        let down = p(
            "LoadState=loaded\nActiveState=inactive\nSubState=dead\nStartLimitBurst=5\nStartLimitIntervalUSec=10min\n",
        );
        assert!(guard_state(&args(true, None, true), &down, None, Some(&five), now(), &c).is_ok());
        // No start limit on the unit: nothing to trip.
        let unlimited = p(
            "LoadState=loaded\nActiveState=active\nStartLimitBurst=5\nStartLimitIntervalUSec=0\n",
        );
        assert!(
            guard_state(
                &args(true, None, true),
                &unlimited,
                None,
                Some(&five),
                now(),
                &c
            )
            .is_ok()
        );
    }

    #[test]
    fn a_crash_loop_as_systemd_reports_it_is_refused() {
        let p = |s: &str| crate::systemd::parse_show(s);
        let e = guard_state(
            &args(true, None, true),
            &p(
                "LoadState=loaded\nActiveState=failed\nResult=signal\nRestart=on-failure\nRestartPreventExitStatus=78\nExecMainCode=2\nExecMainStatus=9\nNRestarts=4\nStartLimitBurst=5\nStartLimitIntervalUSec=10min\n",
            ),
            None,
            None,
            now(),
            &cfg(),
        )
        .unwrap_err();
        assert!(e.contains("systemd gave up"), "{e}");
        assert!(e.contains("reset-failed grokmon"), "{e}");
        // A configuration error is not a crash loop: the restart may go on
        // (and exit 78 again, which the review shows).
        assert!(
            guard_state(
                &args(true, None, true),
                &p("LoadState=loaded\nActiveState=failed\nResult=exit-code\nRestart=on-failure\nRestartPreventExitStatus=78\nExecMainCode=1\nExecMainStatus=78\n"),
                None,
                None,
                now(),
                &cfg(),
            )
            .is_ok()
        );
    }

    #[test]
    fn poll_schedule_grows_and_stops_at_wait() {
        let s = poll_schedule(Duration::from_secs(90));
        assert_eq!(s[0], Duration::ZERO);
        assert_eq!(s[1], Duration::from_millis(500));
        assert_eq!(s[2], Duration::from_secs(1));
        assert!(
            s.windows(2)
                .all(|w| w[1] >= w[0] || w[1] < Duration::from_secs(5))
        );
        assert!(s.iter().all(|d| *d <= Duration::from_secs(5)));
        assert_eq!(s.iter().sum::<Duration>(), Duration::from_secs(90));
        let small = poll_schedule(Duration::from_millis(700));
        assert_eq!(
            small,
            vec![
                Duration::ZERO,
                Duration::from_millis(500),
                Duration::from_millis(200)
            ]
        );
        assert_eq!(poll_schedule(Duration::ZERO), vec![Duration::ZERO]);
    }
}
