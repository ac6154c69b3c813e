//! `qsmm`: format a medium and manage the deniable volumes on it.
//!
//! Every subcommand lives in its own module under `commands`. Errors are printed as one plain
//! sentence on standard error, with a non-zero exit status.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// The subcommands, one module each.
mod commands;
/// Ctrl-C and SIGTERM around the prompts; no core dumps.
mod interrupt;
/// Starting and stopping nbdkit with the qsmm plugin.
mod nbdkit;
/// Passphrase input: terminal without echo, files or a descriptor.
mod passphrase;
/// Size arguments: `512K`, `256M`, `1G`, …
mod size;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("qsmm: {message}");
            ExitCode::FAILURE
        }
    }
}
