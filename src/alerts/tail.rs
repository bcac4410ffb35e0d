//! `grokmon alerts tail`: read the alerts log (issue 3).

use crate::Ctx;
use crate::cli::AlertsTailArgs;

pub fn run(_args: &AlertsTailArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("alerts tail is not implemented yet")
}
