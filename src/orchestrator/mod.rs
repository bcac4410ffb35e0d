//! `grokmon run`: the resilient orchestrator (issues 5 and 6).

use crate::Ctx;
use crate::cli::RunArgs;

pub fn run(_args: &RunArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("run is not implemented yet")
}
