//! The alerts log: one event a line, for `tail` and `grep` by a person.
//!
//! `2026-11-28T11:40:13Z CRIT api: unreachable: connection refused (2 checks, since 11:35:13Z)`
//!
//! This module owns the line format (format and parse, which round-trip, with
//! `crate::text`'s escaper); `log` owns the safe, locked, rotating append.
//! Only this module writes the log.

pub mod ack;
pub mod log;
pub mod notify;
pub mod read;
pub mod silence;
pub mod tail;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};

pub(crate) use crate::text::needs_escape;
/// The escaper lives in `crate::text` (probes and systemd use it without
/// the alerts log); re-exported for the line format's callers.
pub use crate::text::{escape, sanitize, unescape};
pub use log::{AlertLog, LogError};
pub use read::events_after;

/// Longest message kept in a line, in characters; longer outside text (a
/// 10 MB response body) is cut with a marker.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Severity of an event, in increasing order of concern for filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Info,
    Ok,
    Warn,
    Crit,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Crit => "CRIT",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Level {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "INFO" => Ok(Level::Info),
            "OK" => Ok(Level::Ok),
            "WARN" => Ok(Level::Warn),
            "CRIT" => Ok(Level::Crit),
            _ => Err(()),
        }
    }
}

/// One line of the alerts log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// UTC, whole seconds (the line's precision).
    pub ts: DateTime<Utc>,
    pub level: Level,
    /// A probe, `restart`, `backup`, `sensor.NAME`, `ai`, `notify`.
    pub source: String,
    /// Free text, raw (escaped only when written).
    pub message: String,
}

impl Event {
    /// Builds an event, normalizing what the line format cannot carry: the
    /// time is cut to whole seconds, the source to `[A-Za-z0-9._-]`, the
    /// message to `MAX_MESSAGE_CHARS`.
    pub fn new(ts: DateTime<Utc>, level: Level, source: &str, message: impl Into<String>) -> Event {
        let ts = DateTime::from_timestamp(ts.timestamp(), 0).unwrap_or(ts);
        let mut message: String = message.into();
        if message.chars().count() > MAX_MESSAGE_CHARS {
            message = message.chars().take(MAX_MESSAGE_CHARS).collect();
            message.push_str("…[cut]");
        }
        Event {
            ts,
            level,
            source: sanitize_source(source),
            message,
        }
    }

    /// The line, without its newline. Every field is safe to print.
    pub fn to_line(&self) -> String {
        format!(
            "{} {:<4} {}: {}",
            self.ts.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.level,
            self.source,
            escape(&self.message)
        )
    }

    /// Parses a line written by `to_line`. `None` for anything else (a
    /// hand-edited file, an older format): callers show such lines as they are.
    pub fn parse(line: &str) -> Option<Event> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let (ts, rest) = line.split_once(' ')?;
        let ts = DateTime::parse_from_rfc3339(ts).ok()?.with_timezone(&Utc);
        let rest = rest.trim_start_matches(' ');
        let (level, rest) = rest.split_once(' ')?;
        let level = level.parse().ok()?;
        let rest = rest.trim_start_matches(' ');
        let (source, message) = rest.split_once(": ")?;
        if source.is_empty() || sanitize_source(source) != source {
            return None;
        }
        Some(Event {
            ts,
            level,
            source: source.to_string(),
            message: unescape(message),
        })
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

/// Sources are identifiers: anything else becomes `_`.
pub fn sanitize_source(s: &str) -> String {
    let out: String = s
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() { "_".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts() -> DateTime<Utc> {
        "2026-11-28T11:40:13Z".parse().unwrap()
    }

    #[test]
    fn line_format_matches_the_contract() {
        let e = Event::new(
            ts(),
            Level::Crit,
            "api",
            "unreachable: connection refused (2 checks, since 11:35:13Z)",
        );
        assert_eq!(
            e.to_line(),
            "2026-11-28T11:40:13Z CRIT api: unreachable: connection refused (2 checks, since 11:35:13Z)"
        );
        let ok = Event::new(ts(), Level::Ok, "api", "recovered after 15m");
        assert_eq!(
            ok.to_line(),
            "2026-11-28T11:40:13Z OK   api: recovered after 15m"
        );
    }

    #[test]
    fn hostile_text_cannot_forge_a_line_and_round_trips() {
        let hostile = [
            "body\n2026-11-28T00:00:00Z OK   api: all good",
            "\x1b[2J\x1b[31mred\x07",
            "cr\roverwrite",
            "tab\tand \\n literal backslash-n",
            "nel\u{85}ls\u{2028}ps\u{2029}",
            "bidi \u{202E}gnp.exe",
            "zero\u{200B}width and bom \u{FEFF}",
            "del\x7f and nul\0",
            "\\x41 looks like an escape",
            "ünïcødé 温度 °C stays",
            "trailing backslash \\",
        ];
        for m in hostile {
            let e = Event::new(ts(), Level::Warn, "sensor.temp", m);
            let line = e.to_line();
            assert!(
                !line.chars().any(needs_escape),
                "unescaped char in {line:?}"
            );
            assert_eq!(Event::parse(&line), Some(e.clone()), "round trip of {m:?}");
        }
    }

    #[test]
    fn sources_are_identifiers() {
        let e = Event::new(ts(), Level::Info, "sensor.te mp: x\n", "m");
        assert_eq!(e.source, "sensor.te_mp__x_");
        assert_eq!(Event::parse(&e.to_line()).unwrap().source, e.source);
    }

    #[test]
    fn long_messages_are_cut() {
        let e = Event::new(ts(), Level::Warn, "api", "x".repeat(10_000_000));
        assert!(e.message.chars().count() <= MAX_MESSAGE_CHARS + 10);
        assert!(e.message.ends_with("[cut]"));
    }

    #[test]
    fn foreign_lines_do_not_parse() {
        for l in [
            "",
            "garbage",
            "2026-11-28T11:40:13Z BOOM api: x",
            "yesterday CRIT api: x",
            "2026-11-28T11:40:13Z CRIT no colon here",
            "\u{0}\u{1}binary",
        ] {
            assert_eq!(Event::parse(l), None, "{l:?}");
        }
    }

    #[test]
    fn events_after_counts_across_rotated_files_and_skips_foreign_lines() {
        let d = tempfile::tempdir().unwrap();
        let log = AlertLog::new(d.path().join("a.log"), 1 << 20, 3);
        let at = |s: i64| ts() + chrono::Duration::seconds(s);
        let l = |s: i64, m: &str| Event::new(at(s), Level::Warn, "api", m).to_line() + "\n";
        std::fs::write(log.rotated(2), l(0, "a") + &l(1, "b")).unwrap();
        std::fs::write(log.rotated(1), l(2, "c") + "garbage\n" + &l(2, "c2")).unwrap();
        std::fs::write(log.path(), l(3, "d") + &l(4, "e")).unwrap();
        let msgs = |v: Vec<Event>| v.into_iter().map(|e| e.message).collect::<Vec<_>>();
        let (n, last) = events_after(&log, None, 2).unwrap();
        assert_eq!((n, msgs(last)), (6, vec!["d".to_string(), "e".into()]));
        // Strictly after: events in the same second as the mark are reviewed.
        let (n, last) = events_after(&log, Some(at(2)), 10).unwrap();
        assert_eq!((n, msgs(last)), (2, vec!["d".to_string(), "e".into()]));
        let (n, last) = events_after(&log, Some(at(1)), 0).unwrap();
        assert_eq!((n, last.len()), (4, 0));
        assert_eq!(events_after(&log, Some(at(9)), 5).unwrap().0, 0);
        let none = AlertLog::new(d.path().join("missing.log"), 1 << 20, 3);
        assert_eq!(events_after(&none, None, 5).unwrap().0, 0);
    }

    #[test]
    fn subsecond_times_are_cut_to_the_line_precision() {
        let t: DateTime<Utc> = "2026-11-28T11:40:13.987Z".parse().unwrap();
        let e = Event::new(t, Level::Ok, "cpu", "fine");
        assert_eq!(Event::parse(&e.to_line()), Some(e));
    }
}
