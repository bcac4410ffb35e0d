//! Whose unit is it? `units install` never takes over a unit it did not
//! write: a `grokmon.service` that runs another program (the grow-room app
//! this tool was born from is named exactly that) is left alone unless
//! `--replace` is given. Pure functions over unit file texts.

use std::path::{Path, PathBuf};

use crate::config::Scope;

/// The program an `ExecStart=` value runs: the first word, without systemd's
/// prefixes (`-@:+!|`) and quotes.
fn program(exec: &str) -> Option<String> {
    let v = exec
        .trim()
        .trim_start_matches(['-', '@', ':', '+', '!', '|']);
    let first = if let Some(rest) = v.strip_prefix('"') {
        rest.split('"').next()?
    } else if let Some(rest) = v.strip_prefix('\'') {
        rest.split('\'').next()?
    } else {
        v.split_whitespace().next()?
    };
    (!first.is_empty()).then(|| first.to_string())
}

fn values<'a>(text: &'a str, key: &str) -> impl Iterator<Item = &'a str> {
    text.lines().filter_map(move |l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then_some(v.trim())
    })
}

/// Whether `program` is a grokmon binary (any directory).
fn is_grokmon(program: &str) -> bool {
    Path::new(program)
        .file_name()
        .is_some_and(|n| n == "grokmon")
}

/// `None` when the unit file `name` with `text` is grokmon's own (a service
/// whose every `ExecStart=` runs a binary named `grokmon`; a timer that
/// starts a grokmon unit; a drop-in of grokmon's); else what it is, in words.
pub fn foreign(name: &str, text: &str) -> Option<String> {
    if name.contains(".service.d/") {
        return None;
    }
    if name.ends_with(".timer") {
        return match values(text, "Unit").last() {
            Some(u) if u.starts_with("grokmon") => None,
            Some(u) => Some(format!("it starts {}", crate::text::sanitize(u))),
            None => None,
        };
    }
    let programs: Vec<String> = values(text, "ExecStart").filter_map(program).collect();
    match programs.iter().find(|p| !is_grokmon(p)) {
        Some(p) => Some(format!("it runs {}", crate::text::sanitize(p))),
        None if programs.is_empty() => Some("it runs no grokmon (no ExecStart=)".into()),
        None => None,
    }
}

/// The directories systemd loads units from below the one `units install`
/// writes to: a unit of the same name there is overridden by ours.
pub fn lower_dirs(scope: Scope) -> Vec<PathBuf> {
    match scope {
        Scope::System => [
            "/run/systemd/system",
            "/usr/local/lib/systemd/system",
            "/lib/systemd/system",
            "/usr/lib/systemd/system",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
        Scope::User => [
            "/etc/systemd/user",
            "/usr/local/lib/systemd/user",
            "/usr/lib/systemd/user",
        ]
        .iter()
        .map(PathBuf::from)
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grokmons_units_are_told_from_anothers() {
        let ours = "[Service]\nExecStart=/usr/bin/grokmon run\n";
        assert_eq!(foreign("grokmon.service", ours), None);
        let quoted = "[Service]\nExecStart=\"/opt/g m/grokmon\" --config /etc/g.toml run\n";
        assert_eq!(foreign("grokmon.service", quoted), None);
        let prefixed = "[Service]\nExecStart=-/home/al/.cargo/bin/grokmon check --quiet\n";
        assert_eq!(foreign("grokmon-check.service", prefixed), None);
        // The grow-room app, under the same unit name.
        let app = "[Unit]\nDescription=grow room\n[Service]\nExecStart=/opt/growroom/venv/bin/python -m growroom\nRestart=always\n";
        assert_eq!(
            foreign("grokmon.service", app).as_deref(),
            Some("it runs /opt/growroom/venv/bin/python")
        );
        // A binary merely named like grokmon is not grokmon.
        let lookalike = "[Service]\nExecStart=/usr/bin/grokmon-app\n";
        assert!(foreign("grokmon.service", lookalike).is_some());
        // One foreign ExecStart= among several.
        let mixed = "[Service]\nExecStart=/usr/bin/grokmon run\nExecStart=/bin/other\n";
        assert!(foreign("grokmon.service", mixed).is_some());
        assert!(foreign("grokmon.service", "[Service]\n").is_some());
        // Timers: by the unit they start.
        assert_eq!(
            foreign("grokmon-check.timer", "[Timer]\nOnBootSec=2min\n"),
            None
        );
        assert_eq!(
            foreign(
                "grokmon-check.timer",
                "[Timer]\nUnit=grokmon-check.service\n"
            ),
            None
        );
        assert!(foreign("grokmon-backup.timer", "[Timer]\nUnit=app-backup.service\n").is_some());
        assert_eq!(
            foreign("grokmon.service.d/restart-steps.conf", "[Service]\n"),
            None
        );
    }
}
