//! Man pages and shell completions generated from the clap definitions (issue 7).

use crate::cli::{CompletionsArgs, ManArgs};

pub fn completions(_args: &CompletionsArgs) -> anyhow::Result<u8> {
    anyhow::bail!("completions are not implemented yet")
}

pub fn man(_args: &ManArgs) -> anyhow::Result<u8> {
    anyhow::bail!("man is not implemented yet")
}
