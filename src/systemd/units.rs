//! systemd units: render, install, verify; cron lines (issue 7).

use crate::Ctx;
use crate::cli::{CronArgs, UnitsCommand};

pub fn run(_args: &UnitsCommand, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("units is not implemented yet")
}

pub fn cron(_args: &CronArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("cron is not implemented yet")
}
