//! A small age command on `qsmm_shield::age`, streaming stdin to stdout:
//!
//! ```text
//! cargo run -p qsmm-shield --example age -- keygen [--pq] > key.txt
//! cargo run -p qsmm-shield --example age -- encrypt [-a] -r age1pq1… [-r …] < in > out.age
//! cargo run -p qsmm-shield --example age -- decrypt -i key.txt [-i …] < out.age > in
//! ```
//!
//! `keygen` prints the public key as a `# public key:` comment and the identity, as `age-keygen`
//! does; identity files may hold several identities, `#` comments and blank lines. Files it
//! makes open with `age -d -i key.txt` (age 1.3 or later for `--pq` keys), and it opens theirs.

use std::error::Error;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use qsmm_shield::age::{AgeError, Decryptor, Encryptor, Identity, Recipient};

const USAGE: &str = "usage: age keygen [--pq]
       age encrypt [-a] -r RECIPIENT [-r RECIPIENT ...]   (stdin to stdout)
       age decrypt -i IDENTITY_FILE [-i IDENTITY_FILE ...] (stdin to stdout)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("age: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Box<dyn Error>> {
    let Some((command, options)) = args.split_first() else {
        return Err(USAGE.into());
    };
    match command.as_str() {
        "keygen" => keygen(options),
        "encrypt" => encrypt(options),
        "decrypt" => decrypt(options),
        _ => Err(USAGE.into()),
    }
}

fn keygen(options: &[String]) -> Result<(), Box<dyn Error>> {
    let identity = match options {
        [] => Identity::generate_x25519()?,
        [pq] if pq == "--pq" => Identity::generate_hybrid()?,
        _ => return Err(USAGE.into()),
    };
    let mut out = io::stdout().lock();
    writeln!(out, "# public key: {}", identity.to_recipient())?;
    writeln!(out, "{}", identity.to_encoded().as_str())?;
    Ok(())
}

fn encrypt(options: &[String]) -> Result<(), Box<dyn Error>> {
    let mut recipients = Vec::new();
    let mut armor = false;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match option.as_str() {
            "-a" | "--armor" => armor = true,
            "-r" | "--recipient" => {
                let text = options.next().ok_or(USAGE)?;
                recipients.push(text.parse::<Recipient>()?);
            }
            _ => return Err(USAGE.into()),
        }
    }
    let output = BufWriter::new(io::stdout().lock());
    let mut encryptor = Encryptor::new(&recipients, output, armor)?;
    io::copy(&mut io::stdin().lock(), &mut encryptor).map_err(AgeError::from_io)?;
    encryptor.finish()?.flush()?;
    Ok(())
}

fn decrypt(options: &[String]) -> Result<(), Box<dyn Error>> {
    let mut identities = Vec::new();
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match option.as_str() {
            "-i" | "--identity" => {
                let path = options.next().ok_or(USAGE)?;
                let text = zeroize::Zeroizing::new(fs::read_to_string(path)?);
                for line in text.lines().map(str::trim) {
                    if !line.is_empty() && !line.starts_with('#') {
                        identities.push(line.parse::<Identity>()?);
                    }
                }
            }
            _ => return Err(USAGE.into()),
        }
    }
    if identities.is_empty() {
        return Err(USAGE.into());
    }
    let mut decryptor = Decryptor::new(&identities, io::stdin().lock())?;
    let mut output = BufWriter::new(io::stdout().lock());
    io::copy(&mut decryptor, &mut output).map_err(AgeError::from_io)?;
    output.flush()?;
    Ok(())
}
