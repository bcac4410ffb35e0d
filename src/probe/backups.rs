//! Backups: age of the newest backup in `paths.backups`, by the naming scheme
//! shared with `grokmon backup`. No backup at all is a WARNING: a backup that
//! silently stopped is the failure nobody notices.

use super::{Context, Metric, Observation, Outcome, Status, Unit};
use crate::backup::naming;
use crate::text::human_duration;

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
    let Some(first) = found.first() else {
        let mut msg = format!("no backup yet in {}", dir.display());
        // Another tool's backups (the original scripts' names) are not
        // counted: say what was seen, so "no backup" is not a mystery.
        if let Ok(other) = naming::foreign(dir)
            && let Some(newest) = other.first()
        {
            let more = match other.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            msg.push_str(&format!(
                " (not counted: {newest}{more}, not named grokmon-YYYYMMDDTHHMMSSZ.db.zst/.db.gz/.db: another tool's backups?)"
            ));
        }
        return Observation::new("backups", Status::Warn, msg).into();
    };
    let file_name = |b: &naming::Found| {
        b.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // A backup dated in the future (clock trouble) must not stand in for the
    // newest real one: freshness is judged on the newest one not in the future.
    let future = (first.time > ctx.now).then(|| file_name(first));
    let Some(newest) = found.iter().find(|b| b.time <= ctx.now) else {
        return Observation::new(
            "backups",
            Status::Warn,
            format!(
                "newest backup {} is dated in the future: check the clock",
                file_name(first)
            ),
        )
        .into();
    };
    let name = file_name(newest);
    let age = (ctx.now - newest.time).to_std().unwrap_or_default();
    let mut status = if age >= t.1 {
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
    if let Some(f) = future {
        status = status.worst(Status::Warn);
        msg.push_str(&format!("; {f} is dated in the future: check the clock"));
    }
    let mut m = Metric::new("age", age.as_secs_f64(), Unit::Seconds);
    m.warn = Some(t.0.as_secs_f64());
    m.crit = Some(t.1.as_secs_f64());
    Observation::new("backups", status, msg)
        .metric(m)
        .metric(Metric::new("files", found.len() as f64, Unit::None).min0())
        .into()
}
