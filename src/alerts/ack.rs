//! `grokmon alerts ack`: mark the alerts so far as reviewed. The mark is a
//! time in the state database (`alerts.acked_until`); `alerts tail
//! --unreviewed`, `status` and `restart` count the events after it.

use anyhow::Context as _;
use chrono::SecondsFormat;

use super::{AlertLog, events_after};
use crate::Ctx;
use crate::cli::AlertsAckArgs;
use crate::state::{Read as _, State, StateError, keys};

pub fn run(_args: &AlertsAckArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let cfg = &ctx.config;
    let log = AlertLog::from_config(cfg);
    let mut st = State::open(&cfg.paths.state)?;
    // Under the write lock, so two acks at once cannot move the mark back.
    let prev = st.write(|tx| -> Result<_, StateError> {
        let prev = tx.get_time(keys::ACKED_UNTIL)?;
        let until = prev.map_or(ctx.now, |p| p.max(ctx.now));
        tx.set_time(keys::ACKED_UNTIL, until)?;
        Ok(prev)
    })?;
    let read = |since| {
        events_after(&log, since, 0)
            .map(|(n, _)| n)
            .with_context(|| format!("cannot read alerts log {}", log.path().display()))
    };
    let newly = read(prev)?.saturating_sub(read(Some(ctx.now))?);
    let when = ctx.now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let text = match newly {
        0 => format!("no new alerts; reviewed up to {when}\n"),
        1 => format!("1 alert marked as reviewed (up to {when})\n"),
        n => format!("{n} alerts marked as reviewed (up to {when})\n"),
    };
    crate::print_stdout(&text)?;
    Ok(crate::exit::OK)
}
