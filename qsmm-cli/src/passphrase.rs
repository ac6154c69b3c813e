//! Passphrases: from a file (`--passphrase-file`) or the terminal without echo.

use std::path::Path;

use zeroize::Zeroizing;

/// Reads a passphrase from `file` (one trailing newline is dropped), or asks on the terminal.
pub(crate) fn read(file: Option<&Path>, prompt: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut bytes = match file {
        Some(path) => Zeroizing::new(
            std::fs::read(path)
                .map_err(|e| format!("cannot read passphrase file {}: {e}", path.display()))?,
        ),
        None => Zeroizing::new(
            rpassword::prompt_password(prompt)
                .map_err(|e| format!("cannot read a passphrase from the terminal: {e}"))?
                .into_bytes(),
        ),
    };
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err("the passphrase is empty".into());
    }
    Ok(bytes)
}

/// Reads a new passphrase: from `file`, or twice on the terminal (both must match).
pub(crate) fn read_new(file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>, String> {
    if file.is_some() {
        return read(file, "");
    }
    let first = read(None, "New passphrase: ")?;
    let second = read(None, "Repeat the new passphrase: ")?;
    if *first != *second {
        return Err("the two passphrases differ".into());
    }
    Ok(first)
}
