use std::path::PathBuf;

use clap::Args;
use qsmm_volume::Volume;

use crate::commands::{MediumArgs, sentence};

#[derive(Debug, Args)]
pub(crate) struct ChangepwdArgs {
    #[command(flatten)]
    medium: MediumArgs,
    /// Read the new passphrase from this file instead of the terminal.
    #[arg(long, value_name = "FILE")]
    new_passphrase_file: Option<PathBuf>,
}

pub(crate) fn run(args: &ChangepwdArgs) -> Result<(), String> {
    let medium = args.medium.open()?;
    let passphrase = args.medium.passphrase()?;
    let volume = Volume::open(&medium, &passphrase).map_err(|e| sentence(&e))?;
    let new = crate::passphrase::read_new(args.new_passphrase_file.as_deref())?;
    volume
        .change_passphrase(&new)
        .map_err(|e| format!("cannot change the passphrase: {}", sentence(&e)))?;
    volume.close().map_err(|e| sentence(&e))?;
    println!("passphrase changed");
    Ok(())
}
