//! Silences (maintenance windows): `grokmon alerts silence 30m --reason
//! "firmware upgrade" [--source api]`, `--list`, `--clear [ID]`.
//!
//! A silence is recorded twice: an `INFO silence:` line in the alerts log
//! (who, why, until) for the person reading it later, and a row in the state
//! database (key `alerts.silences`, JSON) that `check`, `run` and the
//! heartbeat consult. While one lasts, matching alert lines are still written
//! (the log stays the full record) but end in `(silenced)` and are not
//! notified, and their failures send no heartbeat `/fail`. When it ends, each
//! alert still open that was silenced is notified once ("still failing after
//! the silence ended"), by the next check.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::{AlertLog, Event, Level};
use crate::cli::AlertsSilenceArgs;
use crate::config::Config;
use crate::state::{ProbeRow, Read, State, StateError, Tx};
use crate::text::human_duration;
use crate::{Ctx, UsageError, exit};

/// State keys.
pub mod keys {
    /// JSON list of `Silence`, active and recently ended.
    pub const SILENCES: &str = "alerts.silences";
    /// The next silence id.
    pub const NEXT_ID: &str = "alerts.silence_next_id";
    /// JSON list of probe keys whose open alert was silenced and not yet
    /// notified: notified once when their silence ends.
    pub const SILENCED_OPEN: &str = "alerts.silenced_open";
}

/// What a silenced line ends with.
pub const MARK: &str = " (silenced)";

/// The longest silence: a forgotten one must not mute alerts for weeks.
pub const MAX: Duration = Duration::from_secs(7 * 86400);

/// Ended silences are kept this long (for `--list` history and ids).
const KEEP_ENDED: chrono::Duration = chrono::Duration::days(7);

/// Sources `run` and the other commands write, besides the probes.
const OTHER_SOURCES: &[&str] = &["heartbeat", "check", "sensor", "store", "ai", "backup"];

/// One silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: u64,
    #[serde(with = "unix")]
    pub created: DateTime<Utc>,
    #[serde(with = "unix")]
    pub until: DateTime<Utc>,
    /// Empty: every source.
    pub sources: Vec<String>,
    pub reason: String,
    pub who: String,
    #[serde(default, with = "unix_opt", skip_serializing_if = "Option::is_none")]
    pub cleared: Option<DateTime<Utc>>,
}

/// Times as unix seconds in the stored JSON.
mod unix {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.timestamp())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let n = i64::deserialize(d)?;
        DateTime::from_timestamp(n, 0).ok_or_else(|| serde::de::Error::custom("time out of range"))
    }
}

mod unix_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&t.timestamp()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.and_then(|n| DateTime::from_timestamp(n, 0)))
    }
}

impl Silence {
    /// In force at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.cleared.is_none() && self.created <= now && now < self.until
    }

    /// Whether lines from `source` fall under it: the source itself, or a
    /// family (`sensor` covers `sensor.temp`).
    pub fn covers(&self, source: &str) -> bool {
        self.sources.is_empty()
            || self.sources.iter().any(|s| {
                source == s
                    || source
                        .strip_prefix(s.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            })
    }

    fn scope(&self) -> String {
        if self.sources.is_empty() {
            "all sources".into()
        } else {
            self.sources.join(", ")
        }
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The silence in force at `now` for `source`, if any.
pub fn silencing<'a>(list: &'a [Silence], source: &str, now: DateTime<Utc>) -> Option<&'a Silence> {
    list.iter().find(|s| s.active(now) && s.covers(source))
}

/// Whether a line was marked silenced (and so must not be notified). Only
/// alert lines are marked; policy messages never end in the mark otherwise.
pub fn is_marked(e: &Event) -> bool {
    e.level != Level::Info && e.message.ends_with(MARK)
}

/// The silences stored in the state. Unreadable JSON counts as none: a
/// damaged row must not mute alerts.
pub fn load(r: &impl Read) -> Result<Vec<Silence>, StateError> {
    Ok(r.get(keys::SILENCES)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// The silences of the state database at `path`, read-only; none when
/// there is no database or it cannot be read (alerts then go out: failing
/// open is the safe side for a monitor).
pub fn load_path(path: &std::path::Path) -> Vec<Silence> {
    match State::open_existing(path) {
        Ok(Some(st)) => load(&st.read()).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn store(tx: &Tx<'_>, list: &[Silence]) -> Result<(), StateError> {
    let json = serde_json::to_string(list).unwrap_or_else(|_| "[]".into());
    tx.set(keys::SILENCES, &json)
}

/// Marks the lines that fall under a silence at `now`; the marked ones must
/// not be notified. For `run`'s lines (sensors, store, AI).
pub fn mark(list: &[Silence], events: &mut [Event], now: DateTime<Utc>) {
    for e in events.iter_mut() {
        if e.level != Level::Info && !is_marked(e) && silencing(list, &e.source, now).is_some() {
            e.message.push_str(MARK);
        }
    }
}

/// `check`'s hook, inside its transaction, once the policy has produced the
/// lines and the probes' new rows: marks the silenced lines, remembers the
/// silenced open alerts, and adds one line for each such alert still open
/// whose silence has ended (unless a line of its own goes out anyway).
pub fn apply(
    tx: &Tx<'_>,
    now: DateTime<Utc>,
    rows: &[ProbeRow],
    events: &mut Vec<Event>,
) -> Result<(), StateError> {
    let list = load(tx)?;
    let before: BTreeSet<String> = tx
        .get(keys::SILENCED_OPEN)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    if list.is_empty() && before.is_empty() {
        return Ok(());
    }
    let mut open = before.clone();
    mark(&list, events, now);
    for e in events.iter().filter(|e| is_marked(e)) {
        for r in rows
            .iter()
            .filter(|r| r.probe == e.source && r.alerted.is_some())
        {
            open.insert(r.key.clone());
        }
    }
    let mut ended = Vec::new();
    open.retain(|key| {
        let Some(r) = rows.iter().find(|r| &r.key == key) else {
            return false;
        };
        let Some(level) = r.alerted.as_deref().and_then(|l| l.parse::<Level>().ok()) else {
            // Recovered (its OK line was written, silenced or not).
            return false;
        };
        if silencing(&list, &r.probe, now).is_some() {
            return true;
        }
        let own_line = events
            .iter()
            .any(|e| e.source == r.probe && !is_marked(e) && e.level != Level::Info);
        if !own_line {
            let label = match &r.target {
                Some(t) => format!("{t}: "),
                None => String::new(),
            };
            let since = r
                .failing_since
                .map(|t| format!(" (since {})", t.format("%H:%M:%SZ")))
                .unwrap_or_default();
            ended.push(Event::new(
                now,
                level,
                &r.probe,
                format!(
                    "still failing after the silence ended: {label}{}{since}",
                    r.message
                ),
            ));
        }
        false
    });
    events.extend(ended);
    if open != before {
        tx.set(
            keys::SILENCED_OPEN,
            &serde_json::to_string(&open).unwrap_or_else(|_| "[]".into()),
        )?;
    }
    Ok(())
}

/// Parses a silence's duration: humantime, more than 0, at most 7 days.
pub fn parse_duration(s: &str) -> Result<Duration, UsageError> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        UsageError(format!(
            "silence DURATION {:?}: {e}; use e.g. 30m, 2h, 1d",
            crate::text::sanitize(s)
        ))
    })?;
    if d.is_zero() {
        return Err(UsageError(
            "silence DURATION must be more than 0 (to end a silence: --clear ID)".into(),
        ));
    }
    if d > MAX {
        return Err(UsageError(format!(
            "silence DURATION {} is longer than 7 days: silence again when it ends instead",
            crate::text::sanitize(s)
        )));
    }
    Ok(d)
}

/// The sources a silence may name, for this configuration.
pub fn known_sources(cfg: &Config) -> Vec<String> {
    crate::probe_names::ALL
        .iter()
        .chain(OTHER_SOURCES)
        .map(|s| s.to_string())
        .chain(cfg.sensors.iter().map(|s| format!("sensor.{}", s.name)))
        .collect()
}

/// Checks `--source` values; `Err` names the bad one and the known ones.
pub fn check_sources(cfg: &Config, sources: &[String]) -> Result<Vec<String>, UsageError> {
    let known = known_sources(cfg);
    let mut out = Vec::new();
    for s in sources {
        let s = s.trim();
        if !known.iter().any(|k| k == s) {
            return Err(UsageError(format!(
                "--source {:?}: unknown source (known: {})",
                crate::text::sanitize(s),
                known.join(", ")
            )));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// Who is acting, for the record: `$SUDO_USER (as USER via sudo)`, `$USER`,
/// `$LOGNAME`, or the uid.
pub fn who() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let base = var("USER")
        .or_else(|| var("LOGNAME"))
        // SAFETY: getuid cannot fail and has no preconditions.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }));
    match var("SUDO_USER") {
        Some(s) if s != base => format!("{s} (as {base} via sudo)"),
        _ => base,
    }
}

/// Records a silence in the state and the log; the new silence and its line.
/// The state is written first: a silence that is logged but not in force
/// would mislead.
pub fn add(
    cfg: &Config,
    now: DateTime<Utc>,
    duration: Duration,
    sources: Vec<String>,
    reason: &str,
    who: &str,
) -> anyhow::Result<(Silence, Event)> {
    let until = now + chrono::Duration::from_std(duration).context("silence too long")?;
    let mut st = State::open(&cfg.paths.state)?;
    let silence = st.write(|tx| -> Result<Silence, StateError> {
        let mut list = load(tx)?;
        list.retain(|s| {
            s.active(now) || now - s.until.min(s.cleared.unwrap_or(s.until)) < KEEP_ENDED
        });
        let next = tx
            .get(keys::NEXT_ID)?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1)
            .max(list.iter().map(|s| s.id + 1).max().unwrap_or(1));
        let s = Silence {
            id: next,
            created: now,
            until,
            sources,
            reason: reason.to_string(),
            who: who.to_string(),
            cleared: None,
        };
        list.push(s.clone());
        store(tx, &list)?;
        tx.set(keys::NEXT_ID, &(next + 1).to_string())?;
        Ok(s)
    })?;
    let ev = Event::new(
        now,
        Level::Info,
        "silence",
        format!(
            "#{} by {} until {} ({}) for {}: {:?}",
            silence.id,
            silence.who,
            rfc(silence.until),
            human_duration(duration),
            silence.scope(),
            silence.reason
        ),
    );
    let log = AlertLog::from_config(cfg);
    log.append(std::slice::from_ref(&ev)).with_context(|| {
        format!(
            "silence #{} is in force but could not be recorded in the alerts log",
            silence.id
        )
    })?;
    super::notify::written(cfg, &ev, &log, now);
    Ok((silence, ev))
}

/// Ends one silence (`Some(id)`) or every active one (`None`); the ended ones.
pub fn clear(
    cfg: &Config,
    now: DateTime<Utc>,
    id: Option<u64>,
    who: &str,
) -> anyhow::Result<Vec<Silence>> {
    if !cfg.paths.state.exists() {
        return Ok(Vec::new());
    }
    let mut st = State::open(&cfg.paths.state)?;
    let ended = st.write(|tx| -> Result<Vec<Silence>, StateError> {
        let mut list = load(tx)?;
        let mut ended = Vec::new();
        for s in list.iter_mut() {
            if s.active(now) && id.is_none_or(|i| i == s.id) {
                s.cleared = Some(now);
                ended.push(s.clone());
            }
        }
        if !ended.is_empty() {
            store(tx, &list)?;
        }
        Ok(ended)
    })?;
    let log = AlertLog::from_config(cfg);
    let lines: Vec<Event> = ended
        .iter()
        .map(|s| {
            Event::new(
                now,
                Level::Info,
                "silence",
                format!(
                    "#{} cleared by {who} (was until {}, for {}: {:?})",
                    s.id,
                    rfc(s.until),
                    s.scope(),
                    s.reason
                ),
            )
        })
        .collect();
    log.append(&lines)
        .context("the silences are cleared but could not be recorded in the alerts log")?;
    for l in &lines {
        super::notify::written(cfg, l, &log, now);
    }
    Ok(ended)
}

/// The `--list` text (pure).
pub fn render_list(list: &[Silence], now: DateTime<Utc>) -> String {
    let active: Vec<&Silence> = list.iter().filter(|s| s.active(now)).collect();
    if active.is_empty() {
        return "no active silence\n".into();
    }
    let mut out = String::new();
    for s in active {
        let left = (s.until - now).to_std().unwrap_or_default();
        let _ = writeln!(
            out,
            "#{}  until {} (in {})  {}  by {}: {:?}",
            s.id,
            rfc(s.until),
            human_duration(Duration::from_secs(left.as_secs())),
            s.scope(),
            crate::text::sanitize(&s.who),
            s.reason
        );
    }
    out
}

/// `grokmon alerts silence`.
pub fn run(args: &AlertsSilenceArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let cfg = &ctx.config;
    if args.list {
        let list = match State::open_existing(&cfg.paths.state)? {
            Some(st) => load(&st.read())?,
            None => Vec::new(),
        };
        crate::print_stdout(&render_list(&list, ctx.now))?;
        return Ok(exit::OK);
    }
    if let Some(id) = &args.clear {
        let ended = clear(cfg, ctx.now, *id, &who())?;
        if ended.is_empty() {
            return Err(anyhow::anyhow!(match id {
                Some(i) => format!("no active silence #{i} (see `grokmon alerts silence --list`)"),
                None => "no active silence to clear".to_string(),
            }));
        }
        for s in ended {
            crate::print_stdout(&format!("silence #{} cleared\n", s.id))?;
        }
        return Ok(exit::OK);
    }
    let Some(duration) = &args.duration else {
        return Err(UsageError(
            "silence needs a DURATION (e.g. 30m), or --list, or --clear".into(),
        )
        .into());
    };
    let duration = parse_duration(duration)?;
    let reason = args.reason.as_deref().map(str::trim).unwrap_or("");
    if reason.is_empty() {
        return Err(UsageError(
            "silence needs --reason TEXT (it is recorded in the alerts log)".into(),
        )
        .into());
    }
    let sources = check_sources(cfg, &args.source)?;
    let (s, ev) = add(cfg, ctx.now, duration, sources, reason, &who())?;
    crate::print_stdout(&format!(
        "silence #{} until {}: {}\n",
        s.id,
        rfc(s.until),
        ev.to_line()
    ))?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn silence(sources: &[&str]) -> Silence {
        Silence {
            id: 1,
            created: t("2026-11-28T12:00:00Z"),
            until: t("2026-11-28T12:30:00Z"),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            reason: "firmware".into(),
            who: "alice".into(),
            cleared: None,
        }
    }

    #[test]
    fn covers_sources_and_families_only_while_active() {
        let s = silence(&["api", "sensor"]);
        assert!(s.covers("api") && s.covers("sensor.temp") && s.covers("sensor"));
        assert!(!s.covers("apiary") && !s.covers("sensorx") && !s.covers("disk"));
        assert!(silence(&[]).covers("disk"));
        assert!(s.active(t("2026-11-28T12:10:00Z")));
        assert!(!s.active(t("2026-11-28T12:30:00Z")));
        assert!(!s.active(t("2026-11-28T11:59:59Z")));
        let mut c = s.clone();
        c.cleared = Some(t("2026-11-28T12:05:00Z"));
        assert!(!c.active(t("2026-11-28T12:10:00Z")));
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("7d").unwrap(), MAX);
        for (bad, needle) in [
            ("0s", "more than 0"),
            ("8d", "longer than 7 days"),
            ("soon", "DURATION"),
        ] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn marks_only_alert_lines_under_an_active_silence() {
        let list = vec![silence(&["api"])];
        let now = t("2026-11-28T12:10:00Z");
        let mut evs = vec![
            Event::new(now, Level::Crit, "api", "down (2 checks, since 12:05:00Z)"),
            Event::new(now, Level::Warn, "disk", "91% used"),
            Event::new(now, Level::Info, "api", "note"),
        ];
        mark(&list, &mut evs, now);
        assert!(is_marked(&evs[0]) && evs[0].to_line().ends_with("(silenced)"));
        assert!(!is_marked(&evs[1]) && !is_marked(&evs[2]));
        // Marking twice does not mark twice.
        mark(&list, &mut evs, now);
        assert_eq!(evs[0].message.matches("(silenced)").count(), 1);
    }

    fn row(probe: &str, alerted: Option<&str>) -> ProbeRow {
        ProbeRow {
            key: probe.into(),
            probe: probe.into(),
            target: None,
            status: if alerted.is_some() { "crit" } else { "ok" }.into(),
            message: "unreachable: connection refused".into(),
            checked_at: t("2026-11-28T12:00:00Z"),
            fail_count: 2,
            failing_since: Some(t("2026-11-28T12:05:00Z")),
            alerted: alerted.map(String::from),
            last_notified: None,
        }
    }

    #[test]
    fn an_alert_silenced_and_still_open_is_notified_once_when_the_silence_ends() {
        let d = tempfile::tempdir().unwrap();
        let mut st = State::open(&d.path().join("s.db")).unwrap();
        st.write(|tx| store(tx, &[silence(&["api"])])).unwrap();
        let during = t("2026-11-28T12:10:00Z");
        let mut evs = vec![Event::new(during, Level::Crit, "api", "down (2 checks)")];
        st.write(|tx| apply(tx, during, &[row("api", Some("CRIT"))], &mut evs))
            .unwrap();
        assert_eq!(evs.len(), 1);
        assert!(is_marked(&evs[0]));
        // Still silenced, no line: nothing added.
        let mut evs = Vec::new();
        st.write(|tx| apply(tx, during, &[row("api", Some("CRIT"))], &mut evs))
            .unwrap();
        assert!(evs.is_empty());
        // Ended, still failing: one line, once.
        let after = t("2026-11-28T12:31:00Z");
        for want in [1, 0] {
            let mut evs = Vec::new();
            st.write(|tx| apply(tx, after, &[row("api", Some("CRIT"))], &mut evs))
                .unwrap();
            assert_eq!(evs.len(), want, "{evs:?}");
            if want == 1 {
                assert_eq!(evs[0].level, Level::Crit);
                assert!(!is_marked(&evs[0]));
                assert!(
                    evs[0]
                        .message
                        .starts_with("still failing after the silence ended: unreachable"),
                    "{}",
                    evs[0].message
                );
            }
        }
    }

    #[test]
    fn an_alert_that_recovered_during_the_silence_is_not_notified_after() {
        let d = tempfile::tempdir().unwrap();
        let mut st = State::open(&d.path().join("s.db")).unwrap();
        st.write(|tx| store(tx, &[silence(&[])])).unwrap();
        let during = t("2026-11-28T12:10:00Z");
        let mut evs = vec![Event::new(during, Level::Crit, "api", "down")];
        st.write(|tx| apply(tx, during, &[row("api", Some("CRIT"))], &mut evs))
            .unwrap();
        let mut evs = vec![Event::new(during, Level::Ok, "api", "recovered after 5m")];
        st.write(|tx| apply(tx, during, &[row("api", None)], &mut evs))
            .unwrap();
        assert!(is_marked(&evs[0]));
        let mut evs = Vec::new();
        let after = t("2026-11-28T12:31:00Z");
        st.write(|tx| apply(tx, after, &[row("api", None)], &mut evs))
            .unwrap();
        assert!(evs.is_empty(), "{evs:?}");
    }

    #[test]
    fn list_shows_active_silences() {
        let now = t("2026-11-28T12:10:00Z");
        let out = render_list(&[silence(&["api"])], now);
        assert_eq!(
            out,
            "#1  until 2026-11-28T12:30:00Z (in 20m)  api  by alice: \"firmware\"\n"
        );
        assert_eq!(
            render_list(&[silence(&[])], t("2026-11-28T13:00:00Z")),
            "no active silence\n"
        );
    }
}
