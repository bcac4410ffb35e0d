//! Reports of a check: a table for a person, JSON, a Nagios plugin line with
//! perfdata, and the Prometheus text format for node_exporter's textfile
//! collector. One name per thing: a probe's name is its JSON key, its
//! perfdata label prefix and its metric label.

use std::fmt::Write as _;
use std::path::Path;

use chrono::SecondsFormat;

use super::Report;
use crate::probe::{Metric, Observation, Status, Unit};
use crate::text::{ansi, sanitize};

fn symbol(s: Status) -> &'static str {
    match s {
        Status::Ok => "✓",
        Status::Warn => "!",
        Status::Crit => "✗",
        Status::Unknown => "?",
        Status::Skipped => "-",
        Status::Starting => "~",
    }
}

/// The table for a person.
pub fn human(r: &Report, color: bool) -> String {
    let mut out = String::new();
    let width = r
        .observations
        .iter()
        .map(|o| o.label().chars().count())
        .max()
        .unwrap_or(4)
        .max(8);
    for o in &r.observations {
        let st = format!("{:<8}", o.status.as_str().to_uppercase());
        let (c, reset) = if color {
            (ansi::of_status(o.status.as_str()), ansi::RESET)
        } else {
            ("", "")
        };
        let _ = writeln!(
            out,
            "{c}{} {:<width$} {st}{reset} {}",
            symbol(o.status),
            o.label(),
            sanitize(&o.message)
        );
    }
    let worst = r.status();
    let _ = write!(
        out,
        "{}: {} at {}",
        worst.as_str().to_uppercase(),
        summary(r),
        r.checked_at.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    if !r.events.is_empty() {
        let _ = write!(out, "; {} alert line(s) written", r.events.len());
    }
    out.push('\n');
    out
}

fn summary(r: &Report) -> String {
    let count = |s: Status| r.observations.iter().filter(|o| o.status == s).count();
    let mut parts = vec![format!("{} ok", count(Status::Ok))];
    for s in [
        Status::Warn,
        Status::Crit,
        Status::Unknown,
        Status::Starting,
        Status::Skipped,
    ] {
        let n = count(s);
        if n > 0 {
            parts.push(format!("{n} {}", s.as_str()));
        }
    }
    parts.join(", ")
}

/// One JSON document.
pub fn json(r: &Report) -> String {
    let v = serde_json::json!({
        "status": r.status(),
        "exit_code": r.exit_code(),
        "checked_at": r.checked_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "probes": r.observations,
        "alerts_written": r.events.iter().map(|e| e.to_line()).collect::<Vec<_>>(),
        "errors": r.errors,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// A number without scientific notation, at most 3 decimals, trailing zeros cut.
pub fn plain_number(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Nagios UOM and the value converted to it.
fn nagios_value(m: &Metric, v: f64) -> (f64, &'static str) {
    match m.unit {
        Unit::Seconds => (v * 1000.0, "ms"),
        Unit::Bytes => (v, "B"),
        Unit::Percent => (v, "%"),
        Unit::Count => (v, "c"),
        Unit::None => (v, ""),
    }
}

fn perf_label(o: &Observation, m: &Metric) -> String {
    let base = match &o.target {
        Some(t) => format!("{} {t} {}", o.probe, m.name),
        None => format!("{}_{}", o.probe, m.name),
    };
    // Single quotes delimit labels; a quote inside is doubled.
    format!("'{}'", base.replace('\'', "''").replace(['=', '|'], "_"))
}

/// Joins problems in the Nagios line: Nagios rewrites every `;` in plugin
/// output to `:`, so not `; `.
pub const NAGIOS_SEPARATOR: &str = " / ";

/// The Nagios line for a failure of the checker itself (bad config, bad
/// flag): NRPE passes only stdout, so the reason goes there too.
///
/// `reason` is the text `main` prints on stderr, whose outside pieces are
/// already escaped once: only what is still raw and unsafe on a status line
/// (control, bidi and zero-width characters) is escaped here, never a
/// backslash, so nothing is escaped twice.
pub fn nagios_unknown(reason: &str) -> String {
    let one = reason.trim().replace('\n', " ");
    let mut safe = String::with_capacity(one.len());
    for c in one.chars() {
        match c {
            '|' => safe.push('/'),
            c if crate::text::needs_escape(c) => safe.push_str(&sanitize(&c.to_string())),
            c => safe.push(c),
        }
    }
    format!("GROKMON UNKNOWN - {safe}\n")
}

/// The Nagios plugin output: `STATUS - text | perfdata`.
pub fn nagios(r: &Report) -> String {
    let word = match r.status() {
        Status::Ok | Status::Skipped | Status::Starting => "OK",
        Status::Warn => "WARNING",
        Status::Crit => "CRITICAL",
        Status::Unknown => "UNKNOWN",
    };
    let problems: Vec<String> = r
        .observations
        .iter()
        .filter(|o| o.status.exit_code() > 0)
        .map(|o| format!("{}: {}", o.label(), o.message))
        .chain(r.errors.iter().cloned())
        .collect();
    let text = if problems.is_empty() {
        let count = |s: Status| r.observations.iter().filter(|o| o.status == s).count();
        let mut t = format!("{} probes ok", count(Status::Ok));
        for s in [Status::Starting, Status::Skipped] {
            let n = count(s);
            if n > 0 {
                let _ = write!(t, ", {n} {}", s.as_str());
            }
        }
        t
    } else {
        problems.join(NAGIOS_SEPARATOR)
    };
    // `|` separates perfdata; newlines would start long output.
    let text = sanitize(&text).replace('|', "/");
    let mut perf = Vec::new();
    for o in &r.observations {
        for m in &o.metrics {
            let (v, uom) = nagios_value(m, m.value);
            let th = |t: Option<f64>| {
                t.map(|t| plain_number(nagios_value(m, t).0))
                    .unwrap_or_default()
            };
            let mut p = format!(
                "{}={}{uom};{};{};{};{}",
                perf_label(o, m),
                plain_number(v),
                th(m.warn),
                th(m.crit),
                th(m.min),
                th(m.max)
            );
            while p.ends_with(';') {
                p.pop();
            }
            perf.push(p);
        }
    }
    if perf.is_empty() {
        format!("GROKMON {word} - {text}\n")
    } else {
        format!("GROKMON {word} - {text} | {}\n", perf.join(" "))
    }
}

fn status_value(s: Status) -> u8 {
    s.exit_code()
}

/// Prometheus metric name and value (base units; percent as a 0–1 ratio).
fn prom_metric(o: &Observation, m: &Metric) -> (String, f64) {
    let (suffix, v) = match m.unit {
        Unit::Seconds => ("_seconds", m.value),
        Unit::Bytes => ("_bytes", m.value),
        Unit::Percent => ("_ratio", m.value / 100.0),
        Unit::Count => ("_total", m.value),
        Unit::None => ("", m.value),
    };
    (format!("grokmon_{}_{}{suffix}", o.probe, m.name), v)
}

/// The label naming a probe's row: one name per thing, so the disk and its
/// forecast share `mountpoint` and can be joined.
fn target_label(o: &Observation) -> String {
    match &o.target {
        Some(t) if matches!(o.probe, "disk" | "forecast") => {
            format!("mountpoint=\"{}\"", crate::text::prom_label(t))
        }
        Some(t) => format!("target=\"{}\"", crate::text::prom_label(t)),
        None => String::new(),
    }
}

/// A sample value at full precision (the shortest text that reads back as
/// the same number; never an exponent).
fn prom_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v == 0.0 {
        "0".into()
    } else {
        format!("{v}")
    }
}

/// The Prometheus text format. No timestamps (the textfile collector forbids
/// them); the time of the check is a metric of its own.
pub fn prometheus(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP grokmon_check_status Worst current status: 0 ok, 1 warn, 2 crit, 3 unknown."
    );
    let _ = writeln!(out, "# TYPE grokmon_check_status gauge");
    let _ = writeln!(out, "grokmon_check_status {}", status_value(r.status()));
    let _ = writeln!(
        out,
        "# HELP grokmon_check_last_run_timestamp_seconds When the check ran (Unix time)."
    );
    let _ = writeln!(out, "# TYPE grokmon_check_last_run_timestamp_seconds gauge");
    let _ = writeln!(
        out,
        "grokmon_check_last_run_timestamp_seconds {}",
        r.checked_at.timestamp()
    );
    let _ = writeln!(
        out,
        "# HELP grokmon_probe_status Current status of a probe: 0 ok (also skipped, starting), 1 warn, 2 crit, 3 unknown."
    );
    let _ = writeln!(out, "# TYPE grokmon_probe_status gauge");
    for o in &r.observations {
        let t = target_label(o);
        let sep = if t.is_empty() { "" } else { "," };
        let _ = writeln!(
            out,
            "grokmon_probe_status{{probe=\"{}\"{sep}{t}}} {}",
            o.probe,
            status_value(o.status)
        );
    }
    let _ = writeln!(
        out,
        "# HELP grokmon_probe_duration_seconds How long a probe took."
    );
    let _ = writeln!(out, "# TYPE grokmon_probe_duration_seconds gauge");
    for o in &r.observations {
        let t = target_label(o);
        let sep = if t.is_empty() { "" } else { "," };
        let _ = writeln!(
            out,
            "grokmon_probe_duration_seconds{{probe=\"{}\"{sep}{t}}} {}",
            o.probe,
            prom_number(o.duration.as_secs_f64())
        );
    }
    // Group samples by metric name: each family gets one HELP/TYPE block.
    let mut families: Vec<(String, Unit, Vec<String>)> = Vec::new();
    for o in &r.observations {
        for m in &o.metrics {
            let (name, v) = prom_metric(o, m);
            let t = target_label(o);
            let line = if t.is_empty() {
                format!("{name} {}", prom_number(v))
            } else {
                format!("{name}{{{t}}} {}", prom_number(v))
            };
            match families.iter_mut().find(|f| f.0 == name) {
                Some(f) => f.2.push(line),
                None => families.push((name, m.unit, vec![line])),
            }
        }
    }
    for (name, unit, lines) in families {
        let kind = if unit == Unit::Count {
            "counter"
        } else {
            "gauge"
        };
        let _ = writeln!(out, "# HELP {name} grokmon check metric.");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}

/// Writes the Prometheus text atomically (temp file in the same directory,
/// fsync, rename into place).
pub fn write_textfile(path: &Path, r: &Report) -> std::io::Result<()> {
    crate::text::write_atomic(path, prometheus(r).as_bytes(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Metric;
    use std::time::Duration;

    fn report() -> Report {
        let t = crate::config::Thresholds(90.0, 95.0);
        Report {
            checked_at: "2026-11-28T12:00:00Z".parse().unwrap(),
            observations: vec![
                Observation::new("api", Status::Ok, "healthy").metric(Metric::new(
                    "latency",
                    0.0123,
                    Unit::Seconds,
                )),
                Observation::new("disk", Status::Warn, "91% used, 1.0 GiB free")
                    .target("/")
                    .metric(Metric::new("used", 91.25, Unit::Percent).thresholds(t))
                    .metric(Metric::new("free", 1073741824.0, Unit::Bytes)),
                Observation::new("service", Status::Skipped, "no running systemd"),
            ],
            events: vec![],
            errors: vec![],
        }
        .with_durations()
    }

    impl Report {
        fn with_durations(mut self) -> Self {
            for o in &mut self.observations {
                o.duration = Duration::from_millis(2);
            }
            self
        }
    }

    #[test]
    fn nagios_line() {
        let s = nagios(&report());
        assert_eq!(
            s,
            "GROKMON WARNING - disk /: 91% used, 1.0 GiB free | 'api_latency'=12.3ms;;;0 'disk / used'=91.25%;90;95;0;100 'disk / free'=1073741824B;;;0\n"
        );
        // Problems are joined without `;` (Nagios rewrites it to `:`).
        let mut two = report();
        two.observations[0].status = Status::Crit;
        two.observations[0].message = "HTTP 502".into();
        let s = nagios(&two);
        assert!(
            s.starts_with("GROKMON CRITICAL - api: HTTP 502 / disk /: 91% used, 1.0 GiB free | "),
            "{s}"
        );
        // A skipped probe is not counted as ok.
        let mut fine = report();
        fine.observations[1].status = Status::Ok;
        assert!(
            nagios(&fine).starts_with("GROKMON OK - 2 probes ok, 1 skipped | "),
            "{}",
            nagios(&fine)
        );
        assert_eq!(
            nagios_unknown("config: line 2\nbad | x\x1b"),
            "GROKMON UNKNOWN - config: line 2 bad / x\\x1b\n"
        );
        // A piece escaped once already (a path with a backslash, as stderr
        // shows it) stays escaped once.
        assert_eq!(
            nagios_unknown("cannot read /nonexist/a\\\\b"),
            "GROKMON UNKNOWN - cannot read /nonexist/a\\\\b\n"
        );
        assert_eq!(plain_number(1e-7), "0");
        assert_eq!(plain_number(12345678901.0), "12345678901");
    }

    #[test]
    fn prometheus_text() {
        let s = prometheus(&report());
        assert!(s.contains("grokmon_check_status 1\n"), "{s}");
        assert!(
            s.contains("grokmon_probe_status{probe=\"disk\",mountpoint=\"/\"} 1\n"),
            "{s}"
        );
        // Full precision: a 0.567 ms latency is not 0.001 s.
        assert!(
            s.contains("grokmon_disk_used_ratio{mountpoint=\"/\"} 0.9125\n"),
            "{s}"
        );
        assert!(s.contains("grokmon_api_latency_seconds 0.0123\n"), "{s}");
        assert!(
            s.contains("grokmon_probe_duration_seconds{probe=\"api\"} 0.002\n"),
            "{s}"
        );
        assert_eq!(prom_number(0.000567), "0.000567");
        assert_eq!(prom_number(1e-9), "0.000000001");
        assert_eq!(prom_number(12345678901.5), "12345678901.5");
        assert_eq!(prom_number(-0.0), "0");
        // The forecast uses the disk's label name.
        let mut r = report();
        r.observations.push(
            Observation::new("forecast", Status::Ok, "not filling")
                .target("/")
                .metric(Metric::new("days_to_full", 40.25, Unit::None)),
        );
        let s = prometheus(&r);
        assert!(
            s.contains("grokmon_forecast_days_to_full{mountpoint=\"/\"} 40.25\n"),
            "{s}"
        );
        assert!(!s.contains("target="), "{s}");
        for l in s.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{name}"
            );
        }
    }

    #[test]
    fn json_has_every_probe_and_thresholds() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(v["status"], "warn");
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["probes"].as_array().unwrap().len(), 3);
        assert_eq!(v["probes"][1]["metrics"][0]["warn"], 90.0);
        assert_eq!(v["probes"][1]["target"], "/");
    }

    #[test]
    fn human_table_without_colour() {
        let s = human(&report(), false);
        assert!(!s.contains('\x1b'));
        assert!(s.contains("! disk /"), "{s}");
        assert!(s.contains("- service"), "{s}");
        assert!(
            s.lines()
                .last()
                .unwrap()
                .starts_with("WARN: 1 ok, 1 warn, 1 skipped"),
            "{s}"
        );
        assert!(human(&report(), true).contains("\x1b[33m"));
    }
}
