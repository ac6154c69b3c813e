//! `qsmm age`: age files from standard input to standard output, with X25519 and post-quantum
//! hybrid (ML-KEM-768 + X25519) keys or a passphrase (scrypt) (`qsmm_shield::age`).

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use qsmm_shield::age::{
    AgeError, DEFAULT_WORK_FACTOR, Decryptor, Encryptor, Identity, MAX_WORK_FACTOR, Passphrase,
    Recipient,
};
use zeroize::Zeroizing;

use crate::passphrase;

/// Arguments of `qsmm age`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Example:
    qsmm age keygen --pq > key.txt                # prints the public key as a comment
    qsmm age encrypt -r age1pq1... < notes.txt > notes.age
    qsmm age decrypt -i key.txt < notes.age > notes.txt
    qsmm age encrypt -p < notes.txt > notes.age   # asks for a passphrase twice
    qsmm age decrypt -p < notes.age > notes.txt

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
        #[arg(
            short,
            long = "recipient",
            value_name = "RECIPIENT",
            required_unless_present_any = ["passphrase", "passphrase_file"],
            conflicts_with_all = ["passphrase", "passphrase_file"]
        )]
        recipients: Vec<String>,
        /// Encrypt with a passphrase (scrypt), asked twice on the terminal without echo.
        #[arg(short, long)]
        passphrase: bool,
        /// Encrypt with the passphrase in this file (one trailing newline is dropped).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// The scrypt work factor (log2 N) of a passphrase file; each step doubles the time
        /// and memory (18: about 256 MiB).
        #[arg(
            long,
            value_name = "LOG2_N",
            default_value_t = DEFAULT_WORK_FACTOR,
            value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_WORK_FACTOR))
        )]
        work_factor: u8,
        /// ASCII armor (PEM-like text) instead of binary.
        #[arg(short, long)]
        armor: bool,
    },
    /// Decrypt standard input to standard output.
    Decrypt {
        /// An identity file (`#` comments and blank lines allowed); repeat for several.
        #[arg(
            short,
            long = "identity",
            value_name = "FILE",
            required_unless_present_any = ["passphrase", "passphrase_file"],
            conflicts_with_all = ["passphrase", "passphrase_file"]
        )]
        identities: Vec<PathBuf>,
        /// Decrypt a passphrase file, asking for the passphrase on the terminal without echo.
        #[arg(short, long)]
        passphrase: bool,
        /// Decrypt a passphrase file with the passphrase in this file.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
}

/// Runs `qsmm age`.
pub(crate) fn run(args: &AgeArgs) -> Result<(), String> {
    match &args.command {
        AgeCommand::Keygen { pq } => keygen(*pq),
        AgeCommand::Encrypt {
            recipients,
            passphrase,
            passphrase_file,
            work_factor,
            armor,
        } => {
            if *passphrase || passphrase_file.is_some() {
                let secret = passphrase::read_new(passphrase_file.as_deref())?;
                encrypt_with_passphrase(&Passphrase::new(secret.to_vec()), *work_factor, *armor)
            } else {
                encrypt(recipients, *armor)
            }
        }
        AgeCommand::Decrypt {
            identities,
            passphrase,
            passphrase_file,
        } => {
            if *passphrase || passphrase_file.is_some() {
                let secret = passphrase::read(passphrase_file.as_deref(), "Passphrase: ")?;
                decrypt_with_passphrase(&Passphrase::new(secret.to_vec()))
            } else {
                decrypt(identities)
            }
        }
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
    let encryptor = Encryptor::new(&recipients, output, armor).map_err(|e| e.to_string())?;
    finish_encryption(encryptor)
}

fn encrypt_with_passphrase(
    secret: &Passphrase,
    work_factor: u8,
    armor: bool,
) -> Result<(), String> {
    let output = BufWriter::new(io::stdout().lock());
    let encryptor = Encryptor::with_passphrase(secret, work_factor, output, armor)
        .map_err(|e| e.to_string())?;
    finish_encryption(encryptor)
}

fn finish_encryption<W: Write>(mut encryptor: Encryptor<W>) -> Result<(), String> {
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
    let decryptor = Decryptor::new(&identities, io::stdin().lock()).map_err(|e| e.to_string())?;
    finish_decryption(decryptor)
}

fn decrypt_with_passphrase(secret: &Passphrase) -> Result<(), String> {
    let decryptor =
        Decryptor::with_passphrase(secret, io::stdin().lock()).map_err(|e| match e {
            AgeError::NoMatch => "wrong passphrase, or not a passphrase file".to_owned(),
            other => other.to_string(),
        })?;
    finish_decryption(decryptor)
}

fn finish_decryption<R: io::Read>(mut decryptor: Decryptor<R>) -> Result<(), String> {
    let mut output = BufWriter::new(io::stdout().lock());
    io::copy(&mut decryptor, &mut output).map_err(|e| AgeError::from_io(e).to_string())?;
    output.flush().map_err(|e| format!("cannot write: {e}"))
}
