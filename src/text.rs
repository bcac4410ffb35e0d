//! Text helpers shared by every part, a leaf that imports nothing of the
//! crate: the escaper for outside text, the duration and byte formatters, the
//! one ANSI palette, the Prometheus label escaper and the atomic file write.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

// ---- escaping outside text ----

/// Characters that could forge a line or drive a terminal, or hide text:
/// controls (C0, DEL, C1, which include ESC and NEL), line and paragraph
/// separators, and bidirectional and zero-width format characters.
pub fn needs_escape(c: char) -> bool {
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

/// Escapes outside text that is printed to a terminal or stderr outside the
/// log (error strings, bodies), with the same rules as log lines.
pub fn sanitize(s: &str) -> String {
    escape(s)
}

// ---- durations and sizes for people ----

/// An error with its causes, `outer: cause: cause` (what anyhow's `{:#}`
/// prints). The library's errors keep their cause as `source()`, not in
/// their message, so that it is said once: here, or by `{:#}` at the edge.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Formats a duration for people, two units at most: `3h 2m`, `15m`, `42s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        if h > 0 {
            format!("{days}d {h}h")
        } else {
            format!("{days}d")
        }
    } else if h > 0 {
        if m > 0 {
            format!("{h}h {m}m")
        } else {
            format!("{h}h")
        }
    } else if m > 0 {
        if sec > 0 {
            format!("{m}m {sec}s")
        } else {
            format!("{m}m")
        }
    } else {
        format!("{sec}s")
    }
}

/// A duration for log lines: `250ms`, `30s`, `2m`.
pub fn human_ms(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        human_duration(d)
    }
}

/// A short human age: `45s`, `12m`, `5h`, `3d`.
pub fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{s}s")
    } else if s < 2 * 3600 {
        format!("{}m", s / 60)
    } else if s < 2 * 86400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86400)
    }
}

/// Seconds with one decimal: `2.5s` (how long a restart took).
pub fn seconds_tenths(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Days, rounded for people: `~9 days`, `~2h` (the disk-full forecast).
pub fn approx_days(d: Duration) -> String {
    let days = d.as_secs_f64() / 86400.0;
    if days >= 2.0 {
        format!("~{:.0} days", days)
    } else {
        format!(
            "~{}",
            human_duration(Duration::from_secs(d.as_secs() / 60 * 60))
        )
    }
}

/// Every unit, exactly: `1m 30s` (humantime; for limits read from systemd).
pub fn exact_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Formats a byte count for people: `3.1 GiB`.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

// ---- colour ----

/// The one ANSI palette. `UNKNOWN` (the checker could not tell) is magenta
/// everywhere, as in `check`'s table; skipped and other quiet text is dim.
pub mod ansi {
    pub const RED: &str = "\x1b[31m";
    pub const YELLOW: &str = "\x1b[33m";
    pub const GREEN: &str = "\x1b[32m";
    pub const MAGENTA: &str = "\x1b[35m";
    pub const DIM: &str = "\x1b[2m";
    pub const BOLD: &str = "\x1b[1m";
    pub const RESET: &str = "\x1b[0m";

    /// The colour of a status word, as `check`, `status` and `alerts tail`
    /// print them (probe statuses, alert levels and systemd unit states).
    pub fn of_status(s: &str) -> &'static str {
        match s.to_ascii_lowercase().as_str() {
            "ok" | "active" => GREEN,
            "warn" | "starting" | "activating" | "deactivating" | "reloading" => YELLOW,
            "crit" | "failed" | "inactive" => RED,
            "unknown" => MAGENTA,
            "info" => "",
            _ => DIM,
        }
    }

    /// `text` in `code` when `color`, else as is.
    pub fn paint(color: bool, code: &str, text: &str) -> String {
        if color && !code.is_empty() {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

// ---- Prometheus ----

/// A label value in the Prometheus exposition format: `\`, `"` and newlines
/// escaped.
pub fn prom_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

// ---- files ----

/// Writes a file atomically: a temp file (`.NAME.tmp.PID`) in the same
/// directory, fsync, renamed into place, so nothing is ever half-written
/// under its final name; the temp file is removed on failure. `mode`, if
/// given, is set before any content is written. The directory must exist.
pub fn write_atomic(path: &Path, content: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        if let Some(m) = mode {
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(m))?;
        }
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_bytes_and_ages() {
        assert_eq!(human_ms(Duration::from_millis(250)), "250ms");
        assert_eq!(human_ms(Duration::from_secs(120)), "2m");
        assert_eq!(human_age(Duration::from_secs(45)), "45s");
        assert_eq!(human_age(Duration::from_secs(3 * 86400)), "3d");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(seconds_tenths(Duration::from_millis(2540)), "2.5s");
        assert_eq!(
            approx_days(Duration::from_secs(9 * 86400 + 7200)),
            "~9 days"
        );
        assert_eq!(approx_days(Duration::from_secs(7200 + 59)), "~2h");
        assert_eq!(exact_duration(Duration::from_secs(90)), "1m 30s");
    }

    #[test]
    fn prometheus_labels_are_escaped() {
        assert_eq!(prom_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn unknown_is_magenta_and_paint_is_plain_without_colour() {
        assert_eq!(ansi::of_status("UNKNOWN"), ansi::MAGENTA);
        assert_eq!(ansi::of_status("skipped"), ansi::DIM);
        assert_eq!(ansi::paint(false, ansi::RED, "x"), "x");
        assert_eq!(ansi::paint(true, ansi::RED, "x"), "\x1b[31mx\x1b[0m");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", None).unwrap();
        write_atomic(&p, b"two", Some(0o600)).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        let e = write_atomic(&d.path().join("missing/f"), b"x", None);
        assert!(e.is_err());
    }
}
