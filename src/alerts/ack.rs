//! `grokmon alerts ack`: mark the alerts so far as reviewed (issue 3).

use crate::Ctx;
use crate::cli::AlertsAckArgs;

pub fn run(_args: &AlertsAckArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("alerts ack is not implemented yet")
}
