use clap::Args;
use qsmm_volume::{SnapshotMode, Volume};

use crate::commands::{MediumArgs, sentence};

#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    #[command(flatten)]
    medium: MediumArgs,
}

pub(crate) fn run(args: &InfoArgs) -> Result<(), String> {
    let medium = args.medium.open()?;
    let passphrase = args.medium.passphrase()?;
    let volume = Volume::open(&medium, &passphrase).map_err(|e| sentence(&e))?;
    let blocks = volume.physical_blocks().len();
    println!("medium:           {} bytes", medium.size());
    println!("volume size:      {} bytes", volume.logical_size());
    println!("blocks it holds:  {blocks} (data, map and root, 4096 bytes each)");
    let mode = match volume.snapshot_mode() {
        SnapshotMode::Multi => "multi-snapshot",
        _ => "single-snapshot",
    };
    println!("mode:             {mode}");
    println!("(only what this passphrase opens is shown; other volumes are invisible)");
    Ok(())
}
