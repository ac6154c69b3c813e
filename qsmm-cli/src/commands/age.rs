//! `qsmm age`: age files from standard input to standard output, with X25519 and post-quantum
//! hybrid (ML-KEM-768 + X25519) keys (`qsmm_shield::age`).

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use qsmm_shield::age::{AgeError, Decryptor, Encryptor, Identity, Recipient};
use zeroize::Zeroizing;

/// Arguments of `qsmm age`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Example:
    qsmm age keygen --pq > key.txt                # prints the public key as a comment
    qsmm age encrypt -r age1pq1... < notes.txt > notes.age
    qsmm age decrypt -i key.txt < notes.age > notes.txt

Files interoperate with age 1.3 and later (age -d -i key.txt) and typage.")]
pub(crate) struct AgeArgs {
    #[command(subcommand)]
    command: AgeCommand,
}

#[derive(Debug, Subcommand)]
enum AgeCommand {
    /// Print a new identity (with its public key as a `# public key:` comment).
    Keygen {
        /// A post-quantum hybrid key (ML-KEM-768 + X25519) instead of X25519.
        #[arg(long)]
        pq: bool,
    },
    /// Encrypt standard input to standard output.
    Encrypt {
        /// A recipient (`age1…` or `age1pq1…`); repeat for several.
        #[arg(short, long = "recipient", value_name = "RECIPIENT", required = true)]
        recipients: Vec<String>,
        /// ASCII armor (PEM-like text) instead of binary.
        #[arg(short, long)]
        armor: bool,
    },
    /// Decrypt standard input to standard output.
    Decrypt {
        /// An identity file (`#` comments and blank lines allowed); repeat for several.
        #[arg(short, long = "identity", value_name = "FILE", required = true)]
        identities: Vec<PathBuf>,
    },
}

/// Runs `qsmm age`.
pub(crate) fn run(args: &AgeArgs) -> Result<(), String> {
    match &args.command {
        AgeCommand::Keygen { pq } => keygen(*pq),
        AgeCommand::Encrypt { recipients, armor } => encrypt(recipients, *armor),
        AgeCommand::Decrypt { identities } => decrypt(identities),
    }
}

fn keygen(pq: bool) -> Result<(), String> {
    let identity = if pq {
        Identity::generate_hybrid()
    } else {
        Identity::generate_x25519()
    }
    .map_err(|e| e.to_string())?;
    let mut out = io::stdout().lock();
    writeln!(out, "# public key: {}", identity.to_recipient())
        .and_then(|()| writeln!(out, "{}", identity.to_encoded().as_str()))
        .map_err(|e| format!("cannot write the key: {e}"))
}

fn encrypt(texts: &[String], armor: bool) -> Result<(), String> {
    let recipients = texts
        .iter()
        .map(|text| {
            text.parse::<Recipient>()
                .map_err(|e| format!("bad recipient {text}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let output = BufWriter::new(io::stdout().lock());
    let mut encryptor = Encryptor::new(&recipients, output, armor).map_err(|e| e.to_string())?;
    io::copy(&mut io::stdin().lock(), &mut encryptor)
        .map_err(|e| AgeError::from_io(e).to_string())?;
    encryptor
        .finish()
        .map_err(|e| e.to_string())?
        .flush()
        .map_err(|e| format!("cannot write: {e}"))
}

fn decrypt(files: &[PathBuf]) -> Result<(), String> {
    let mut identities = Vec::new();
    for path in files {
        let text = Zeroizing::new(
            fs::read_to_string(path)
                .map_err(|e| format!("cannot read identity file {}: {e}", path.display()))?,
        );
        for line in text.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with('#') {
                identities.push(
                    line.parse::<Identity>()
                        .map_err(|e| format!("bad identity in {}: {e}", path.display()))?,
                );
            }
        }
    }
    if identities.is_empty() {
        return Err("no identity in the identity files".into());
    }
    let mut decryptor =
        Decryptor::new(&identities, io::stdin().lock()).map_err(|e| e.to_string())?;
    let mut output = BufWriter::new(io::stdout().lock());
    io::copy(&mut decryptor, &mut output).map_err(|e| AgeError::from_io(e).to_string())?;
    output.flush().map_err(|e| format!("cannot write: {e}"))
}
