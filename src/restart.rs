//! `grokmon restart`: the reviewed, confirmed, recorded restart. Never automatic (issue 7).

use crate::Ctx;
use crate::cli::RestartArgs;

/// Proof that a person reviewed and confirmed a restart. Only this module can
/// build one, so only this module can make `systemd` restart the unit.
#[derive(Debug)]
pub struct Confirmed {
    _private: (),
}

pub fn run(_args: &RestartArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("restart is not implemented yet")
}
