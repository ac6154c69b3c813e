//! The command line: global options and the subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use qsmm_volume::{KdfCost, Medium};

/// `qsmm age`.
mod age;
/// `qsmm changepwd`.
mod changepwd;
/// `qsmm create`.
mod create;
/// `qsmm format`.
mod format;
/// `qsmm info`.
mod info;
/// `qsmm mount` and `qsmm unmount`.
mod mount;
/// `qsmm proof`.
mod proof;
/// `qsmm serve`.
mod serve;
/// `qsmm testpwd`.
mod testpwd;

/// Deniable volumes on a noise-filled medium.
#[derive(Debug, Parser)]
#[command(name = "qsmm", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill a medium (a new image file, or a block device) with random noise.
    Format(format::FormatArgs),
    /// Create a volume behind a new passphrase.
    Create(create::CreateArgs),
    /// Tell whether a passphrase opens a volume.
    Testpwd(testpwd::TestpwdArgs),
    /// Change the passphrase of a volume.
    Changepwd(changepwd::ChangepwdArgs),
    /// Show what a passphrase opens.
    Info(info::InfoArgs),
    /// Export volumes as NBD block devices (nbdkit with the qsmm plugin) until Ctrl-C.
    Serve(serve::ServeArgs),
    /// Mount volumes as directories (in the background, without root) until `qsmm unmount`.
    Mount(mount::MountArgs),
    /// Unmount what `qsmm mount` mounted: flush, stop the background processes, clean up.
    Unmount(mount::UnmountArgs),
    /// Encrypt and decrypt age files (X25519 and post-quantum hybrid keys).
    Age(age::AgeArgs),
    /// Zero-knowledge proofs that a block is on a medium: commit, prove, verify.
    Proof(proof::ProofArgs),
}

/// The medium and the passphrase cost, shared by the commands that open volumes.
#[derive(Debug, Args)]
pub(crate) struct MediumArgs {
    /// The medium: an image file or a block device made by `qsmm format`.
    medium: PathBuf,
    /// Read the passphrase from this file instead of the terminal.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// INSECURE, for tests only: derive keys with a tiny Argon2id cost. A volume made with it
    /// opens only with it.
    #[arg(long, hide = true)]
    danger_insecure_kdf: bool,
}

impl MediumArgs {
    fn open(&self) -> Result<Medium, String> {
        if !self.medium.exists() {
            return Err(format!(
                "the medium {} does not exist",
                self.medium.display()
            ));
        }
        let cost = if self.danger_insecure_kdf {
            KdfCost::DANGER_INSECURE_FOR_TESTS
        } else {
            KdfCost::DEFAULT
        };
        Medium::open_with_kdf_cost(&self.medium, cost)
            .map_err(|e| format!("cannot open {}: {}", self.medium.display(), sentence(&e)))
    }

    fn passphrase(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        crate::passphrase::read(self.passphrase_file.as_deref(), "Passphrase: ")
    }
}

/// Runs a parsed command line.
pub(crate) fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Format(args) => format::run(&args),
        Command::Create(args) => create::run(&args),
        Command::Testpwd(args) => testpwd::run(&args),
        Command::Changepwd(args) => changepwd::run(&args),
        Command::Info(args) => info::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Mount(args) => mount::run(&args),
        Command::Unmount(args) => mount::unmount(&args),
        Command::Age(args) => age::run(&args),
        Command::Proof(args) => proof::run(&args),
    }
}

/// An error as one sentence.
pub(crate) fn sentence(e: &qsmm_volume::Error) -> String {
    e.to_string()
}
