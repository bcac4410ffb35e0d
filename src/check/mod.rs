//! `grokmon check`: run the probes (the requests of those that wait on the
//! network or on systemd sent first, their answers read after the local
//! work, so the check takes about as long as the slowest of them), let the
//! policy decide what is a confirmed alert under one state-database
//! transaction, append those lines, report.
//!
//! It only observes. Nothing here can start, stop or restart anything: the
//! systemd module's restart call needs a token only `restart` can build.

pub mod budget;
pub mod heartbeat;
pub mod policy;
pub mod report;
pub mod stateless;
pub mod stopped;

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use crate::Ctx;
use crate::alerts::{AlertLog, Event, Level};
use crate::cli::{CheckArgs, CheckFormat};
use crate::config::Config;
use crate::probe::{self, Carry, Observation, Prior, Status, cpu};
use crate::state::{self, ProbeRow, Read as _, State, StateError};
use policy::{Policy, ProbeState};

/// The result of one check.
#[derive(Debug, Clone)]
pub struct Report {
    pub checked_at: DateTime<Utc>,
    pub observations: Vec<Observation>,
    /// Lines appended to the alerts log by this check.
    pub events: Vec<Event>,
    /// Failures of the checker itself (state, log): they make the check UNKNOWN.
    pub errors: Vec<String>,
}

impl Report {
    /// The worst current status; UNKNOWN when the checker itself failed.
    pub fn status(&self) -> Status {
        let worst = self
            .observations
            .iter()
            .fold(Status::Ok, |w, o| w.worst(o.status));
        if self.errors.is_empty() {
            worst
        } else {
            worst.worst(Status::Unknown)
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.status().exit_code()
    }
}

fn read_prior(st: &State, now: DateTime<Utc>) -> Result<Prior, StateError> {
    let r = st.read();
    Ok(Prior {
        cpu: r
            .get(state::keys::CPU_COUNTERS)?
            .and_then(|s| cpu::Counters::decode(&s)),
        nrestarts: r.samples("service.nrestarts", now - chrono::Duration::hours(1))?,
    })
}

/// Runs the enabled probes concurrently, in a stable order, and applies the
/// cross-probe rule: API failures while the service is starting are `starting`.
pub fn run_probes(
    cfg: &Config,
    now: DateTime<Utc>,
    roots: &probe::Roots,
    st: Option<&State>,
) -> (Vec<Observation>, Carry) {
    run_probes_while(
        cfg,
        now,
        roots,
        || st.and_then(|s| read_prior(s, now).ok()).unwrap_or_default(),
        |_| Vec::new(),
    )
}

/// Fills the probes' `Prior` if `read_prior` did not (it panicked): the
/// probes wait for it, and the scope waits for them.
struct FillOnDrop<'a>(&'a OnceLock<Prior>);

impl Drop for FillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.set(Prior::default());
    }
}

/// Adds what one probe carries to the check's.
fn merge(carry: &mut Carry, c: Carry) {
    carry.cpu = carry.cpu.or(c.cpu);
    carry.nrestarts = carry.nrestarts.or(c.nrestarts);
    carry.service_phase = carry.service_phase.or(c.service_phase);
    carry.samples.extend(c.samples);
}

/// `run_probes`, in this order, so that waiting overlaps work:
///
/// 1. the probes that wait on another process or the network
///    (`Probe::waits`) send their requests: those with a `start` without
///    waiting and without a thread (the usual case: one non-blocking connect
///    and write each), the others on threads of their own;
/// 2. `read_prior` on this thread (the state); their judging waits for its
///    result (`Context::prior`);
/// 3. the local probes, then `after_local` with what they carry (the
///    forecast reads the stored history for this check's disk samples),
///    its observations last;
/// 4. the answers to the requests of step 1 are read and judged here (by
///    now the endpoint and systemd have usually answered, on the other
///    CPU), and the threads joined.
///
/// A warm check with a plain `http://` API thus starts no thread at all.
fn run_probes_while(
    cfg: &Config,
    now: DateTime<Utc>,
    roots: &probe::Roots,
    read_prior: impl FnOnce() -> Prior,
    after_local: impl FnOnce(&Carry) -> Vec<Observation>,
) -> (Vec<Observation>, Carry) {
    let prior = OnceLock::new();
    let ctx = probe::Context {
        config: cfg,
        now,
        proc_root: roots.proc.clone(),
        cgroup_root: roots.cgroup.clone(),
        prior: &prior,
    };
    let names: Vec<&'static str> = probe::REGISTRY
        .iter()
        .map(|p| p.name)
        .filter(|p| cfg.check.probes.iter().any(|q| q == p))
        .collect();
    let waits = |n: &str| probe::find(n).is_some_and(|p| p.waits);
    type Done<'a> = Vec<(&'a str, Result<probe::Outcome, String>)>;
    let (outcomes, extra): (Done<'_>, Vec<Observation>) = std::thread::scope(|s| {
        let fill = FillOnDrop(&prior);
        // Requests that can go out at once, without a thread, go first.
        let mut early = Vec::new();
        let mut threaded = Vec::new();
        for name in names.iter().copied().filter(|n| waits(n)) {
            let start = std::panic::AssertUnwindSafe(|| probe::start(name, &ctx));
            match std::panic::catch_unwind(start) {
                Ok(Some((f, begun))) => early.push((name, f, begun)),
                _ => threaded.push(name),
            }
        }
        let threads: Vec<_> = threaded
            .iter()
            .map(|name| {
                let ctx = &ctx;
                let name = *name;
                let h = std::thread::Builder::new()
                    .name(format!("probe-{name}"))
                    .stack_size(256 * 1024)
                    .spawn_scoped(s, move || probe::run(name, ctx));
                (name, h)
            })
            .collect();
        let _ = prior.set(read_prior());
        drop(fill);
        let mut done: Vec<_> = names
            .iter()
            .filter(|n| !waits(n))
            .map(|name| {
                let run = std::panic::AssertUnwindSafe(|| probe::run(name, &ctx));
                let res = std::panic::catch_unwind(run).map_err(|_| "panicked".to_string());
                (*name, res)
            })
            .collect();
        let mut local = Carry::default();
        for c in done.iter().filter_map(|(_, r)| r.as_ref().ok()) {
            merge(&mut local, c.carry.clone());
        }
        let extra = after_local(&local);
        // The answers to the early requests, on this thread: usually there
        // by now.
        for (name, f, begun) in early {
            let finish = std::panic::AssertUnwindSafe(|| probe::finish(f, begun, &ctx));
            let res = std::panic::catch_unwind(finish).map_err(|_| "panicked".to_string());
            done.push((name, res));
        }
        done.extend(threads.into_iter().map(|(name, h)| {
            let res = h
                .map_err(|e| e.to_string())
                .and_then(|h| h.join().map_err(|_| "panicked".to_string()));
            (name, res)
        }));
        done.sort_by_key(|(name, _)| names.iter().position(|n| n == name));
        (done, extra)
    });
    let outcomes = outcomes.into_iter().map(|(name, res)| {
        res.unwrap_or_else(|e| {
            Observation::new(name, Status::Unknown, format!("probe failed: {e}")).into()
        })
    });
    let mut carry = Carry::default();
    let mut obs = Vec::new();
    for o in outcomes {
        obs.extend(o.observations);
        merge(&mut carry, o.carry);
    }
    obs.extend(extra);
    if carry.service_phase == Some(probe::service::Phase::Starting) {
        for o in obs
            .iter_mut()
            .filter(|o| o.probe == "api" && o.status != Status::Ok)
        {
            o.status = Status::Starting;
            o.message = format!("service starting: {}", o.message);
        }
    }
    (obs, carry)
}

fn row_state(r: &ProbeRow) -> ProbeState {
    ProbeState {
        fail_count: r.fail_count,
        failing_since: r.failing_since,
        alerted: r.alerted.as_deref().and_then(|l| l.parse::<Level>().ok()),
        last_notified: r.last_notified,
        ..ProbeState::default()
    }
}

/// The `kv` key holding a probe's flap history: `"<0|1> <classes>"`.
fn flap_key(probe_key: &str) -> String {
    format!("flap.{probe_key}")
}

fn decode_flap(v: &str, st: &mut ProbeState) {
    let (f, h) = v.split_once(' ').unwrap_or((v, ""));
    st.flapping = f == "1";
    st.history = h
        .chars()
        .filter(|c| matches!(c, 'o' | 'w' | 'c'))
        .take(policy::FLAP_WINDOW + 1)
        .collect();
}

/// Alert lines committed to the state but not yet known to be in the log.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Pending {
    /// Where the log ended before they were decided: they are after it.
    mark: crate::alerts::log::Mark,
    lines: Vec<String>,
}

/// Finishes an append that an earlier check committed but did not see
/// through (killed, disk full, log unwritable): the lines that are not in the
/// log after its mark are appended now, those that are are not written again,
/// and the intent is cleared. Returns the lines appended here.
fn reconcile(st: &mut State, log: &AlertLog) -> anyhow::Result<Vec<Event>> {
    let Some(text) = st.read().get(state::keys::ALERTS_PENDING)? else {
        return Ok(Vec::new());
    };
    // An unreadable intent (a foreign edit) cannot be finished: dropped.
    let appended = match serde_json::from_str::<Pending>(&text) {
        Ok(p) => log.append_missing(&p.mark, &p.lines)?,
        Err(_) => Vec::new(),
    };
    crate::failpoint::hit("check.reconciled");
    st.write(|tx| tx.delete(state::keys::ALERTS_PENDING))?;
    Ok(appended.iter().filter_map(|l| Event::parse(l)).collect())
}

/// Applies the policy to every observation and stores the new state, then
/// appends the confirmed lines, so that each is in the log exactly once
/// whatever instant the process dies at and whichever write fails:
///
/// 1. under the writers' lock (one `check` at a time through all steps),
///    an intent left by an earlier check is finished first (`reconcile`);
/// 2. one IMMEDIATE transaction stores the new probe states *and* the lines
///    as pending, with the log's mark; it is synced before anything is
///    appended (a power cut after the append must not roll it back);
/// 3. the lines are appended with one `write` (a short one is cut back);
/// 4. the intent is cleared.
///
/// Killed before 2 commits: nothing happened, the next check decides again.
/// Killed or failing after: the next check's step 1 finds the lines after the
/// mark (done) or not (appends them). A full state database fails step 2,
/// so nothing is appended (not the same line on every check).
///
/// Returns the lines appended by this call (an earlier check's first): the
/// ones to notify, each once.
pub fn record(
    st: &mut State,
    log: &AlertLog,
    cfg: &Config,
    now: DateTime<Utc>,
    obs: &[Observation],
    carry: &Carry,
) -> anyhow::Result<Vec<Event>> {
    let pol = Policy {
        confirm_after: cfg.check.confirm_after,
        renotify: cfg.check.renotify,
        flap: cfg.check.flap_detection.then(|| policy::Flap {
            low: cfg.check.flap_thresholds.0 / 100.0,
            high: cfg.check.flap_thresholds.1 / 100.0,
        }),
    };
    let _lock = st.lock_writers()?;
    let mut appended = reconcile(st, log)?;
    let mark = log.mark();
    let events = st.write(|tx| -> Result<Vec<Event>, StateError> {
        let rows = tx.probe_rows()?;
        let mut events = Vec::new();
        let mut new_rows = Vec::new();
        for o in obs {
            let key = o.key();
            let mut prev = rows
                .iter()
                .find(|r| r.key == key)
                .map(row_state)
                .unwrap_or_default();
            let fk = flap_key(&key);
            if let Some(v) = tx.get(&fk)? {
                decode_flap(&v, &mut prev);
            }
            let (next, ev) = policy::step(&prev, o.probe, o.status, &o.message, now, pol);
            if next.history != prev.history || next.flapping != prev.flapping {
                tx.set(
                    &fk,
                    &format!("{} {}", u8::from(next.flapping), next.history),
                )?;
            }
            events.extend(ev);
            new_rows.push(ProbeRow {
                key,
                probe: o.probe.to_string(),
                target: o.target.clone(),
                status: o.status.as_str().to_string(),
                message: o.message.clone(),
                checked_at: now,
                fail_count: next.fail_count,
                failing_since: next.failing_since,
                alerted: next.alerted.map(|l| l.as_str().to_string()),
                last_notified: next.last_notified,
            });
        }
        // Silences: mark their lines, and notify what outlived one.
        crate::alerts::silence::apply(tx, now, &new_rows, &mut events)?;
        for r in &new_rows {
            tx.put_probe(r)?;
        }
        let mut keys: Vec<String> = new_rows.into_iter().map(|r| r.key).collect();
        if cfg.heartbeat.is_some() {
            // Written after this transaction, by the heartbeat.
            keys.push(heartbeat::SOURCE.to_string());
        }
        tx.drop_probes_except(&keys)?;
        if let Some(c) = carry.cpu {
            tx.set(state::keys::CPU_COUNTERS, &c.encode())?;
        }
        for (metric, value) in &carry.samples {
            tx.add_sample(now, metric, *value)?;
        }
        prune_samples_daily(tx, cfg, now)?;
        tx.set_time(state::keys::LAST_CHECK, now)?;
        if !events.is_empty() {
            let pending = Pending {
                mark,
                lines: events.iter().map(Event::to_line).collect(),
            };
            let json = serde_json::to_string(&pending).unwrap_or_default();
            tx.set(state::keys::ALERTS_PENDING, &json)?;
        }
        Ok(events)
    })?;
    if events.is_empty() {
        return Ok(appended);
    }
    // The intent must outlive a power cut that the line survives: into the
    // database file, synced. Housekeeping if it fails (a concurrent
    // reader): a kill is still covered by the WAL.
    let _ = st.trim_wal(0);
    crate::failpoint::hit("check.after-intent");
    log.append(&events)?;
    crate::failpoint::hit("check.after-append");
    st.write(|tx| tx.delete(state::keys::ALERTS_PENDING))?;
    crate::failpoint::hit("check.after-mark");
    appended.extend(events);
    Ok(appended)
}

/// How often `check` deletes the samples past `check.keep_samples`.
const PRUNE_EVERY: chrono::Duration = chrono::Duration::days(1);

/// Deletes the samples past `check.keep_samples` once a day, and whenever
/// the clock went back past the last time (a clock that was ahead): the
/// delete scans the whole table (~4,300 rows of an hour each after 30 days;
/// 50,000 rows of one sample, 3.5 ms a check, when it ran on every one in
/// schema 2); reads select their window, so a day of extra history changes
/// nothing they see.
fn prune_samples_daily(
    tx: &state::Tx<'_>,
    cfg: &Config,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    let last = tx.get_time(state::keys::SAMPLES_PRUNED)?;
    if last.is_some_and(|t| t <= now && now - t < PRUNE_EVERY) {
        return Ok(());
    }
    let keep =
        chrono::Duration::from_std(cfg.check.keep_samples).unwrap_or(chrono::Duration::days(30));
    if let Some(before) = now.checked_sub_signed(keep) {
        tx.prune_samples(before)?;
    }
    tx.set_time(state::keys::SAMPLES_PRUNED, now)
}

/// Sends the lines to the `[[notify]]` targets within what is left of the
/// check's budget (nothing left: recorded as not sent; the lines are in the
/// log). Silenced lines are in the log, not sent.
fn notify(cfg: &Config, events: &[Event], log: &AlertLog, now: DateTime<Utc>, b: &budget::Budget) {
    let notified: Vec<Event> = events
        .iter()
        .filter(|e| !crate::alerts::silence::is_marked(e))
        .cloned()
        .collect();
    if !notified.is_empty() && !cfg.notify.is_empty() {
        crate::alerts::notify::dispatch(cfg, &notified, log, now, b.left());
    }
}

/// WAL pages kept between checks (at most ~400 KB): a check writes about
/// eight (its probe rows, each metric's row of the hour, the kv), so the WAL is
/// copied into the database, with its three syncs, every ten checks or so;
/// each open reads the whole WAL, which at this size costs less than the
/// syncs it saves (median warm check 6.48-6.68 ms against 7.27-7.28 ms with
/// 24 pages, hyperfine, 400 runs each, alternated, 30 days of samples).
const WAL_FRAMES: u64 = 96;

/// Runs a whole check: probes, policy, log, notifications. Never fails: the
/// checker's own failures are in `Report::errors`.
pub fn check(cfg: &Config, now: DateTime<Utc>, roots: &probe::Roots) -> Report {
    let started = std::time::Instant::now();
    // One deadline for everything below (README: what bounds a check).
    let budget = budget::Budget::start(cfg);
    let mut errors = Vec::new();
    let opened = std::cell::OnceCell::new();
    // The state is opened, and the forecast read from it, while the probes
    // that wait do their I/O: neither needs the other.
    let (observations, carry) = run_probes_while(
        cfg,
        now,
        roots,
        || match State::open(&cfg.paths.state) {
            Ok(mut s) => {
                // Every wait for the state (its lock, a busy database) ends
                // at the check's deadline.
                s.set_deadline(budget.deadline());
                // `check` runs every few minutes: keep the WAL between runs.
                let _ = s.keep_wal_on_close();
                let prior = read_prior(&s, now).unwrap_or_default();
                let _ = opened.set(s);
                prior
            }
            Err(e) => {
                errors.push(crate::text::chain(&e));
                Prior::default()
            }
        },
        |local| match opened.get() {
            Some(s) => crate::forecast::observe(&s.read(), cfg, now, local),
            None => Vec::new(),
        },
    );
    let mut st = opened.into_inner();
    let log = AlertLog::from_config(cfg);
    let mut events = Vec::new();
    if let Some(s) = &mut st {
        match record(s, &log, cfg, now, &observations, &carry) {
            Ok(ev) => events = ev,
            Err(e) => errors.push(format!(
                "{e:#}; alerts of this check were not all recorded and will be retried by the next check"
            )),
        }
    }
    // The check's own lines are notified while the heartbeat goes out (a
    // receiver that hangs delays neither); then the heartbeat's line, if it
    // wrote one, with what is left of the budget.
    // (No thread when there is nothing to send: most checks.)
    let (heartbeat_events, _) = std::thread::scope(|sc| {
        let notifying = (!events.is_empty() && !cfg.notify.is_empty())
            .then(|| sc.spawn(|| notify(cfg, &events, &log, now, &budget)));
        // After the lines are recorded; never changes the check's status.
        let hb = heartbeat::after_check(
            cfg,
            st.as_mut(),
            &log,
            now,
            &observations,
            &errors,
            started,
            budget.deadline(),
        );
        (hb, notifying.map(|n| n.join()))
    });
    events.extend(heartbeat_events.iter().cloned());
    if let Some(s) = &st {
        // A check that appended lines makes the state behind them durable
        // (the lines are synced): rolled back by a power loss, it would
        // write them again. Otherwise the WAL is only kept short. Like the
        // checkpoint SQLite makes at close, this is housekeeping: a failure
        // (a concurrent check) is left to the next check.
        let max = if events.is_empty() { WAL_FRAMES } else { 0 };
        let _ = s.trim_wal(max);
    }
    notify(cfg, &heartbeat_events, &log, now, &budget);
    Report {
        checked_at: now,
        observations,
        events,
        errors,
    }
}

/// The command.
pub fn run(args: &CheckArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    // Whatever hangs beyond every bound (README: what bounds a check).
    let total = budget::total(&ctx.config);
    let why = format!(
        "check did not finish within its budget of {} and {} more: something it waits on is stuck (a hung mount?)",
        crate::text::human_duration(total),
        crate::text::human_duration(budget::GRACE)
    );
    let (fd, note) = match args.format {
        CheckFormat::Nagios => (1, report::nagios_unknown(&why)),
        _ => (2, format!("grokmon: {why}\n")),
    };
    budget::arm_hard_stop(total.saturating_add(budget::GRACE), fd, note);
    let code = run_armed(args, ctx);
    budget::disarm_hard_stop();
    code
}

fn run_armed(args: &CheckArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let mut report = if args.stateless {
        stateless::check(&ctx.config, ctx.now, &ctx.roots)
    } else {
        check(&ctx.config, ctx.now, &ctx.roots)
    };
    // A textfile that cannot be written is a failure of the checker: it is
    // reported with the results (UNKNOWN), in every format.
    if let Some(path) = &args.textfile
        && let Err(e) = report::write_textfile(path, &report)
    {
        report
            .errors
            .push(format!("cannot write textfile {}: {e}", path.display()));
    }
    for e in &report.errors {
        crate::errln!("grokmon: {}", crate::text::sanitize(e));
    }
    let quiet_ok = args.quiet && report.status() == Status::Ok && report.errors.is_empty();
    if !quiet_ok {
        let text = match args.format {
            CheckFormat::Human => report::human(&report, ctx.color),
            CheckFormat::Json => report::json(&report),
            CheckFormat::Nagios => report::nagios(&report),
        };
        crate::print_stdout(&text)?;
    }
    Ok(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    fn cfg(probes: &[&str]) -> Config {
        let mut c = Config::defaults(&Env {
            home: Some("/h".into()),
            ..Env::default()
        });
        c.check.probes = probes.iter().map(|p| p.to_string()).collect();
        c
    }

    fn obs(status: Status) -> Observation {
        Observation::new("cpu", status, "x")
    }

    #[test]
    fn the_report_is_its_worst_status_and_unknown_when_the_checker_erred() {
        let mut r = Report {
            checked_at: now(),
            observations: vec![obs(Status::Ok), obs(Status::Warn)],
            events: vec![],
            errors: vec![],
        };
        assert_eq!(r.status(), Status::Warn);
        assert_eq!(r.exit_code(), 1);
        r.errors.push("state database locked".into());
        assert_eq!(r.status(), Status::Unknown);
        assert_eq!(r.exit_code(), 3);
    }

    #[test]
    fn only_the_configured_probes_run_and_the_prior_is_read_once() {
        let d = tempfile::tempdir().unwrap();
        let roots = probe::Roots {
            proc: d.path().join("proc"),
            cgroup: d.path().join("cgroup"),
        };
        let mut calls = 0;
        // `forecast` is computed by `check` after the probes: no observation here.
        let (o, carry) = run_probes_while(
            &cfg(&["forecast"]),
            now(),
            &roots,
            || {
                calls += 1;
                Prior::default()
            },
            |_| Vec::new(),
        );
        assert!(o.is_empty(), "{o:?}");
        assert!(carry.samples.is_empty());
        assert_eq!(calls, 1);
        // A probe reading a missing /proc says so: UNKNOWN under its own name,
        // never a crash, and no other probe ran.
        let (o, _) = run_probes_while(&cfg(&["memory"]), now(), &roots, Prior::default, |_| {
            Vec::new()
        });
        assert!(!o.is_empty());
        assert!(o.iter().all(|o| o.probe == "memory"), "{o:?}");
        assert!(o.iter().all(|o| o.status == Status::Unknown), "{o:?}");
    }

    #[test]
    fn samples_past_keep_are_pruned_once_a_day_and_after_the_clock_went_back() {
        let d = tempfile::tempdir().unwrap();
        let mut st = State::open(&d.path().join("state.db")).unwrap();
        let mut c = cfg(&[]);
        c.check.keep_samples = std::time::Duration::from_secs(3600);
        let h = chrono::Duration::hours;
        // A sample 2 h old at each step; how many are left after pruning at `at`.
        let mut step = |at: DateTime<Utc>| -> i64 {
            st.write(|tx| {
                tx.add_sample(at - h(2), "m", 1.0)?;
                prune_samples_daily(tx, &c, at)
            })
            .unwrap();
            st.read().samples("m", at - h(1000)).unwrap().len() as i64
        };
        let t0 = now();
        assert_eq!(step(t0), 0, "the first check prunes");
        assert_eq!(step(t0 + h(1)), 1, "not again within a day");
        assert_eq!(step(t0 + h(23)), 2);
        assert_eq!(step(t0 + h(24)), 0, "a day later");
        // The clock went back (it was ahead): prune against the new time.
        assert_eq!(step(t0 + h(25)), 1);
        // Pruned at once: the new sample (2 h old) goes; the one stamped
        // while the clock was ahead is not older than anything: kept.
        assert_eq!(step(t0 - h(100)), 1);
        assert_eq!(step(t0 - h(99)), 2, "the day counts from there");
    }

    #[test]
    fn a_stored_row_becomes_the_policy_state() {
        let row = |alerted: Option<&str>| ProbeRow {
            key: "api".into(),
            probe: "api".into(),
            target: None,
            status: "crit".into(),
            message: "down".into(),
            checked_at: now(),
            fail_count: 3,
            failing_since: Some(now()),
            alerted: alerted.map(str::to_string),
            last_notified: None,
        };
        let s = row_state(&row(Some("CRIT")));
        assert_eq!(s.fail_count, 3);
        assert_eq!(s.alerted, Some(Level::Crit));
        assert_eq!(s.failing_since, Some(now()));
        assert_eq!(row_state(&row(Some("garbage"))).alerted, None);
        assert_eq!(row_state(&row(None)).alerted, None);
    }
}
