//! Units: the protections of `service.unit` that systemd really enforces
//! (`systemd::rules`, what `grokmon units verify` prints with the fixes),
//! apart from the `service` probe, so that a finding that cannot be fixed on
//! this host (say, no memory controller) is one standing WARN of its own and
//! never hides a later `service` alert. It shares the service probe's one
//! `systemctl show` when both run.

use std::collections::BTreeMap;

use super::{Context, Observation, Outcome, Status};
use crate::probe_names::{SERVICE, UNITS};
use crate::systemd::{Systemctl, SystemctlError, rules, unitfile};

/// Judges the protections from `systemctl show` properties (with
/// `rules::PROPS`), reading the cgroup filesystem and the unit files.
pub fn observe(props: &BTreeMap<String, String>, ctx: &Context<'_>) -> Observation {
    let unit = &ctx.config.service.unit;
    if props.get("LoadState").map(String::as_str) == Some("not-found") {
        return Observation::new(
            UNITS,
            Status::Skipped,
            format!("unit {unit} not installed (see the service probe)"),
        );
    }
    let seen = rules::gather(props, &ctx.cgroup_root, &ctx.proc_root);
    let findings = rules::findings(props, &seen);
    judge(props, &findings)
}

/// The observation for a set of findings (pure).
pub fn judge(props: &BTreeMap<String, String>, findings: &[rules::Finding]) -> Observation {
    let ours = unitfile::runs_orchestrator(props.get("ExecStart").map_or("", |s| s));
    let rules_name = if ours {
        "grokmon's orchestrator"
    } else {
        "any service"
    };
    if findings.is_empty() {
        return Observation::new(
            UNITS,
            Status::Ok,
            format!("every protection in force (rules for {rules_name})"),
        );
    }
    let list: Vec<String> = findings
        .iter()
        .map(|f| format!("{} {}", f.setting, f.problem))
        .collect();
    Observation::new(
        UNITS,
        Status::Warn,
        format!(
            "{} protection(s) not in force: {}; run `grokmon units verify` for the fixes",
            findings.len(),
            list.join("; ")
        ),
    )
}

/// The `units` probe on its own: when the `service` probe runs, it has
/// already produced this observation from its `systemctl show`.
pub fn probe(ctx: &Context<'_>) -> Outcome {
    let cfg = ctx.config;
    if cfg.check.probes.iter().any(|p| p == SERVICE) {
        return Outcome::default();
    }
    let sc = Systemctl::new(cfg.service.scope);
    match sc.properties(&cfg.service.unit, rules::PROPS) {
        Ok(props) => observe(&props, ctx).into(),
        Err(SystemctlError::Unavailable(note)) => {
            Observation::new(UNITS, Status::Skipped, note).into()
        }
        Err(e) => Observation::new(UNITS, Status::Unknown, crate::text::chain(&e)).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_make_a_warning_of_their_own() {
        let props = crate::systemd::parse_show(
            "ExecStart={ path=/usr/bin/grokmon ; argv[]=/usr/bin/grokmon run ; x }\n",
        );
        let o = judge(&props, &[]);
        assert_eq!(o.status, Status::Ok);
        assert!(
            o.message.contains("grokmon's orchestrator"),
            "{}",
            o.message
        );
        let f = rules::Finding {
            setting: "MemoryMax",
            problem: "is set, but does nothing here: x".into(),
            fix: "y".into(),
        };
        let o = judge(&props, &[f]);
        assert_eq!((o.probe, o.status), ("units", Status::Warn));
        assert!(
            o.message
                .contains("1 protection(s) not in force: MemoryMax is set"),
            "{}",
            o.message
        );
        assert!(o.message.contains("grokmon units verify"), "{}", o.message);
    }
}
