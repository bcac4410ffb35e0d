//! The crontab equivalent of the timers, for hosts without systemd
//! (`grokmon cron`): the check every `check.interval` (as near as cron's
//! schedules allow) and the daily backup.

use std::time::Duration;

use super::units::{Target, target_of};
use crate::cli::CronArgs;
use crate::{Ctx, exit};

/// Quotes a word for the shell cron runs, and escapes `%` (cron turns an
/// unescaped `%` into a newline).
pub fn cron_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._+-:@,=".contains(c));
    let q = if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    };
    q.replace('%', r"\%")
}

/// The crontab equivalent of the timers (pure).
pub fn crontab(target: &Target) -> String {
    let mut cmd = cron_quote(&target.exe.to_string_lossy());
    if let Some(c) = &target.config {
        cmd.push_str(" --config ");
        cmd.push_str(&cron_quote(&c.to_string_lossy()));
    }
    format!(
        "# grokmon: the crontab equivalent of grokmon-check.timer and grokmon-backup.timer,\n\
         # for hosts without systemd. Add with `crontab -e`. cron mails any output:\n\
         # `check --quiet` prints only when something is not OK.\n\
         */5 * * * * {cmd} check --quiet\n\
         17 3 * * * {cmd} backup\n\
         # Without systemd nothing supervises `grokmon run`. @reboot starts it once;\n\
         # after a crash a person looks (`grokmon status`) and starts it again:\n\
         # @reboot {cmd} run >>\"$HOME/grokmon-run.log\" 2>&1\n"
    )
}

/// The cron schedule closest to `interval` (cron counts whole minutes that
/// divide an hour, or whole hours that divide a day), and a note when it
/// is not exactly `interval`.
pub fn cron_schedule(interval: Duration) -> (String, Option<String>) {
    let mins = (interval.as_secs() / 60).max(1);
    let pick = |m: u64| -> String {
        match m {
            1 => "* * * * *".into(),
            m if m < 60 => format!("*/{m} * * * *"),
            60 => "0 * * * *".into(),
            m if m / 60 >= 24 => "0 0 * * *".into(),
            m => format!("0 */{} * * *", m / 60),
        }
    };
    let exact = interval.as_secs().is_multiple_of(60)
        && ((mins < 60 && 60u64.is_multiple_of(mins))
            || (mins.is_multiple_of(60) && 24u64.is_multiple_of(mins / 60))
            || mins == 1440);
    if exact {
        return (pick(mins), None);
    }
    // The largest cron step not longer than the interval.
    let steps = [
        1u64, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440,
    ];
    let m = steps
        .iter()
        .copied()
        .filter(|s| *s <= mins)
        .max()
        .unwrap_or(1);
    (
        pick(m),
        Some(format!(
            "# check.interval is {}; cron runs the check every {} instead\n",
            crate::text::human_duration(interval),
            crate::text::human_duration(Duration::from_secs(m * 60))
        )),
    )
}

/// `crontab`, with the check every `check.interval` (pure).
pub fn crontab_every(target: &Target, interval: Duration) -> String {
    let (schedule, note) = cron_schedule(interval);
    let text = crontab(target).replacen("*/5 * * * * ", &format!("{schedule} "), 1);
    match note {
        Some(n) => n + &text,
        None => text,
    }
}

/// `grokmon cron`.
pub fn cron(_args: &CronArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let target = target_of(ctx, ctx.config.service.scope)?;
    crate::print_stdout(&crontab_every(&target, ctx.config.check.interval))?;
    Ok(exit::OK)
}
