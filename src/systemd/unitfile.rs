//! Reading unit files and `systemctl show` values for what systemd does not
//! report while a unit is not running (measured under 252: `WatchdogUSec`
//! reads `infinity` before a unit's first start), and telling grokmon's own
//! orchestrator from any other service.

use std::time::Duration;

/// The last value of `key` in `[section]` over a fragment and its drop-ins,
/// in the order systemd reads them (an empty assignment resets). Pure.
pub fn configured(texts: &[String], section: &str, key: &str) -> Option<String> {
    let mut value = None;
    for text in texts {
        let mut here = false;
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                here = l == format!("[{section}]");
                continue;
            }
            if !here || l.starts_with('#') || l.starts_with(';') {
                continue;
            }
            if let Some((k, v)) = l.split_once('=')
                && k.trim() == key
            {
                let v = v.trim();
                value = (!v.is_empty()).then(|| v.to_string());
            }
        }
    }
    value
}

/// A systemd time span (`60`, `60s`, `1min 30s`, `500ms`); a bare number is
/// seconds. `Some(ZERO)` for `0`, `None` for `infinity` or garbage.
pub fn timespan(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(Duration::from_secs(n));
    }
    if v == "infinity" {
        return None;
    }
    humantime::parse_duration(v).ok()
}

/// Reads a unit's fragment and drop-ins (`FragmentPath`, `DropInPaths`
/// from `systemctl show`), in order; `Err` names the first unreadable one.
pub fn read_unit(fragment: &str, dropins: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for p in std::iter::once(fragment)
        .chain(dropins.split_whitespace())
        .filter(|p| !p.is_empty())
    {
        match std::fs::read_to_string(p) {
            Ok(t) => out.push(t),
            Err(e) => return Err(format!("cannot read {p}: {e}")),
        }
    }
    if out.is_empty() {
        return Err("systemd names no unit file".into());
    }
    Ok(out)
}

/// Whether a `systemctl show -p ExecStart` value runs `grokmon … run` (the
/// orchestrator): `{ path=/usr/bin/grokmon ; argv[]=/usr/bin/grokmon
/// --config /etc/g.toml run ; … }`. Pure.
pub fn runs_orchestrator(exec_start: &str) -> bool {
    exec_start.split("argv[]=").skip(1).any(|rest| {
        let argv = rest.split(" ;").next().unwrap_or("");
        let mut words = argv.split_whitespace();
        let prog_is_grokmon = words
            .next()
            .and_then(|p| std::path::Path::new(p).file_name())
            .is_some_and(|n| n == "grokmon");
        prog_is_grokmon && words.any(|w| w == "run")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_values_follow_drop_ins() {
        let frag =
            "[Unit]\nWatchdogSec=5\n[Service]\nType=notify\nWatchdogSec=60\n# WatchdogSec=1\n"
                .to_string();
        assert_eq!(
            configured(std::slice::from_ref(&frag), "Service", "WatchdogSec").as_deref(),
            Some("60")
        );
        let speed = "[Service]\nWatchdogSec=4\n".to_string();
        assert_eq!(
            configured(&[frag.clone(), speed], "Service", "WatchdogSec").as_deref(),
            Some("4")
        );
        let reset = "[Service]\nWatchdogSec=\n".to_string();
        assert_eq!(configured(&[frag, reset], "Service", "WatchdogSec"), None);
        assert_eq!(timespan("60"), Some(Duration::from_secs(60)));
        assert_eq!(timespan("1min 30s"), Some(Duration::from_secs(90)));
        assert_eq!(timespan("0"), Some(Duration::ZERO));
        assert_eq!(timespan("infinity"), None);
    }

    #[test]
    fn the_orchestrator_is_told_from_another_service() {
        assert!(runs_orchestrator(
            "{ path=/opt/grokmon/bin/grokmon ; argv[]=/opt/grokmon/bin/grokmon --config /etc/grokmon/config.toml run ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }"
        ));
        assert!(runs_orchestrator(
            "{ path=/usr/bin/grokmon ; argv[]=/usr/bin/grokmon run ; ignore_errors=no }"
        ));
        assert!(!runs_orchestrator(
            "{ path=/usr/bin/grokmon ; argv[]=/usr/bin/grokmon check --quiet ; ignore_errors=no }"
        ));
        assert!(!runs_orchestrator(
            "{ path=/opt/growroom/bin/python ; argv[]=/opt/growroom/bin/python -m growroom run ; ignore_errors=no }"
        ));
        assert!(!runs_orchestrator(""));
    }
}
