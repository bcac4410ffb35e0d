//! `grokmon backup`: consistent, verified, compressed backups with retention (issue 4).

pub mod naming;

use crate::Ctx;
use crate::cli::BackupArgs;

pub fn run(_args: &BackupArgs, _ctx: &Ctx) -> anyhow::Result<u8> {
    anyhow::bail!("backup is not implemented yet")
}
