use std::path::PathBuf;

use clap::Args;
use qsmm_volume::{SnapshotMode, Volume};

use crate::commands::{MediumArgs, sentence};

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    medium: MediumArgs,
    /// Size of the volume: 256M, 1G, … (a multiple of 4096).
    #[arg(long, value_parser = crate::size::parse_size)]
    size: u64,
    /// A lower volume to protect and to open with this one (its passphrase in a file);
    /// repeat for several.
    #[arg(long, value_name = "FILE")]
    protect_passphrase_file: Vec<PathBuf>,
    /// Multi-snapshot mode: deniable against images of the medium taken between mounts (a
    /// volume above protected volumes takes their mode).
    #[arg(long)]
    multi_snapshot: bool,
    /// Ask on the terminal for the passphrases of N lower volumes to protect (as
    /// --protect-passphrase-file, without a file).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=14))]
    protect: u8,
}

pub(crate) fn run(args: &CreateArgs) -> Result<(), String> {
    let medium = args.medium.open()?;
    let mut lower = Vec::new();
    for file in &args.protect_passphrase_file {
        let passphrase = crate::passphrase::read(Some(file), "")?;
        let volume = Volume::open(&medium, &passphrase).map_err(|e| {
            format!(
                "the passphrase in {} opens no volume: {}",
                file.display(),
                sentence(&e)
            )
        })?;
        lower.push(volume);
    }
    for i in 0..args.protect {
        let prompt = format!("Passphrase of lower volume {} to protect: ", i + 1);
        let passphrase = crate::passphrase::read(None, &prompt)?;
        let volume = Volume::open(&medium, &passphrase)
            .map_err(|e| format!("that passphrase opens no volume: {}", sentence(&e)))?;
        lower.push(volume);
    }
    let passphrase = if args.medium.passphrase_file.is_some() {
        args.medium.passphrase()?
    } else {
        crate::passphrase::read_new(None)?
    };
    let refs: Vec<&Volume> = lower.iter().collect();
    let multi = args.multi_snapshot
        || lower
            .iter()
            .any(|v| v.snapshot_mode() == SnapshotMode::Multi);
    let mode = if multi {
        SnapshotMode::Multi
    } else {
        SnapshotMode::Single
    };
    let volume = Volume::create_with_mode(&medium, &passphrase, args.size, &refs, mode)
        .map_err(|e| format!("cannot create the volume: {}", sentence(&e)))?;
    volume
        .close()
        .map_err(|e| format!("cannot write the volume: {}", sentence(&e)))?;
    for v in lower {
        v.close()
            .map_err(|e| format!("cannot close a protected volume: {}", sentence(&e)))?;
    }
    println!("created a volume of {} bytes", args.size);
    Ok(())
}
