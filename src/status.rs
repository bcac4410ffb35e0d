//! `grokmon status`: one screen for a person (issue 3).

use crate::Ctx;
use crate::cli::StatusArgs;

pub fn run(_args: &StatusArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("status is not implemented yet")
}
