//! The alerts log: one event a line, for `tail` and `grep` by a person.
//!
//! `2026-11-28T11:40:13Z CRIT api: unreachable: connection refused (2 checks, since 11:35:13Z)`
//!
//! This module owns the line format (format and parse, which round-trip) and
//! the sanitizing of outside text; `log` owns the safe, locked, rotating append.
//! Only this module writes the log.

pub mod ack;
pub mod log;
pub mod notify;
pub mod silence;
pub mod tail;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};

pub use log::{AlertLog, LogError};

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

/// Characters that could forge a line or drive a terminal, or hide text:
/// controls (C0, DEL, C1, which include ESC and NEL), line and paragraph
/// separators, and bidirectional and zero-width format characters.
pub(crate) fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Escapes outside text for one log line. Reversible by `unescape`, so a line
/// parses back to the text that was logged.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let n = c as u32;
                if n <= 0xFF {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{{{n:x}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The inverse of `escape`. Malformed escapes are kept as written.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let rest = &s[i + 1..];
        let (decoded, used) = match rest.chars().next() {
            Some('\\') => (Some('\\'), 1),
            Some('n') => (Some('\n'), 1),
            Some('r') => (Some('\r'), 1),
            Some('t') => (Some('\t'), 1),
            Some('x') => match rest.get(1..3).and_then(|h| u32::from_str_radix(h, 16).ok()) {
                Some(n) => (char::from_u32(n), 3),
                None => (None, 0),
            },
            Some('u') if rest.starts_with("u{") => match rest.find('}') {
                Some(end) => match u32::from_str_radix(&rest[2..end], 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(ch) => (Some(ch), end + 1),
                    None => (None, 0),
                },
                None => (None, 0),
            },
            _ => (None, 0),
        };
        match decoded {
            Some(ch) => {
                out.push(ch);
                for _ in 0..used {
                    it.next();
                }
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Events after `since` (all when `None`) across the log and its rotated
/// files: how many, and the last `max` of them, oldest first. Lines that do
/// not parse are skipped here. A missing log is no events. The start is found
/// by binary search (`tail::locate`), so only the lines after `since` are read.
pub fn events_after(
    log: &AlertLog,
    since: Option<DateTime<Utc>>,
    max: usize,
) -> std::io::Result<(usize, Vec<Event>)> {
    // Lines have whole seconds: "after s" is "at or after s + 1s".
    let from = since.map(|s| s + chrono::Duration::seconds(1));
    let files = tail::open_files(log)?;
    let start = tail::locate(&files, from)?;
    let filter = tail::Filter {
        from,
        ..tail::Filter::default()
    };
    let mut count = 0;
    let mut last = std::collections::VecDeque::with_capacity(max.min(1024));
    tail::each_entry(&files, start, &filter, |entry| {
        if let tail::Entry::Event(e) = entry {
            count += 1;
            if max > 0 {
                if last.len() == max {
                    last.pop_front();
                }
                last.push_back(e);
            }
        }
        Ok(())
    })?;
    Ok((count, last.into()))
}

/// Escapes outside text that is printed to a terminal or stderr outside the
/// log (error strings, bodies), with the same rules as log lines.
pub fn sanitize(s: &str) -> String {
    escape(s)
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
