//! Backups: age of the newest backup in `paths.backups`, by the naming scheme
//! shared with `grokmon backup`. No backup at all is a WARNING: a backup that
//! silently stopped is the failure nobody notices.

use super::{Context, Metric, Observation, Outcome, Status, Unit, human_duration};
use crate::backup::naming;

pub fn probe(ctx: &Context<'_>) -> Outcome {
    let dir = &ctx.config.paths.backups;
    let t = ctx.config.check.thresholds.backup_age;
    let found = match naming::list(dir) {
        Ok(v) => v,
        Err(e) => {
            return Observation::new(
                "backups",
                Status::Unknown,
                format!("cannot read {}: {e}", dir.display()),
            )
            .into();
        }
    };
    let Some(newest) = found.first() else {
        return Observation::new(
            "backups",
            Status::Warn,
            format!("no backup yet in {}", dir.display()),
        )
        .into();
    };
    let name = newest
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(age) = (ctx.now - newest.time).to_std() else {
        return Observation::new(
            "backups",
            Status::Warn,
            format!("newest backup {name} is dated in the future: check the clock"),
        )
        .into();
    };
    let status = if age >= t.1 {
        Status::Crit
    } else if age >= t.0 {
        Status::Warn
    } else {
        Status::Ok
    };
    let mut msg = format!("newest {name}, {} old", human_duration(age));
    if status != Status::Ok {
        msg = format!(
            "newest backup is {} old ({name}): is the backup timer running?",
            human_duration(age)
        );
    }
    let mut m = Metric::new("age", age.as_secs_f64(), Unit::Seconds);
    m.warn = Some(t.0.as_secs_f64());
    m.crit = Some(t.1.as_secs_f64());
    Observation::new("backups", status, msg)
        .metric(m)
        .metric(Metric::new("count", found.len() as f64, Unit::None).min0())
        .into()
}
