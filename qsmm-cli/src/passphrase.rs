//! Passphrases: from files (`--passphrase-file`, the format of
//! [`qsmm_volume::Passphrase::read_file`]), an inherited descriptor (`--passphrase-fd`, one per
//! line), or the terminal without echo.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use qsmm_volume::Passphrase;
use zeroize::Zeroizing;

/// Reads a passphrase from `file` (one trailing newline is dropped), or asks on the terminal.
pub(crate) fn read(file: Option<&Path>, prompt: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let passphrase = match file {
        Some(path) => Passphrase::read_file(path).map_err(|e| report(&e))?,
        None => ask(prompt)?.ok_or("the passphrase is empty")?,
    };
    Ok(Zeroizing::new(passphrase.as_bytes().to_vec()))
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

/// Where the passphrases of several volumes come from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// Files, one passphrase each.
    pub(crate) files: Vec<PathBuf>,
    /// An inherited descriptor with one passphrase per line.
    pub(crate) fd: Option<u32>,
}

impl Sources {
    /// The passphrases from the files, then the descriptor; with neither, asks on the
    /// terminal: `count` times, or (with `None`) until an empty answer after the first.
    pub(crate) fn read_all(&self, count: Option<u8>) -> Result<Vec<Passphrase>, String> {
        let mut out = Vec::new();
        for path in &self.files {
            out.push(Passphrase::read_file(path).map_err(|e| report(&e))?);
        }
        if let Some(fd) = self.fd {
            let file = std::fs::File::open(format!("/proc/self/fd/{fd}"))
                .map_err(|e| format!("cannot read passphrases from descriptor {fd}: {e}"))?;
            let mut reader = BufReader::new(file);
            loop {
                let mut line = Zeroizing::new(Vec::new());
                let n = Read::take(&mut reader, MAX_LINE)
                    .read_until(b'\n', &mut line)
                    .map_err(|e| format!("cannot read passphrases from descriptor {fd}: {e}"))?;
                if n == 0 {
                    break;
                }
                out.push(Passphrase::from_file_contents(&line).map_err(|e| report(&e))?);
                if out.len() > qsmm_nbd::MAX_VOLUMES {
                    return Err(format!("more than {} passphrases", qsmm_nbd::MAX_VOLUMES));
                }
            }
        }
        if !self.files.is_empty() || self.fd.is_some() {
            if out.is_empty() {
                return Err("no passphrase given".into());
            }
            return Ok(out);
        }
        match count {
            Some(1) => out.push(ask("Passphrase: ")?.ok_or("the passphrase is empty")?),
            Some(n) => {
                for i in 0..n {
                    let prompt = format!("Passphrase of volume {i}: ");
                    out.push(ask(&prompt)?.ok_or("the passphrase is empty")?);
                }
            }
            None => {
                out.push(ask("Passphrase: ")?.ok_or("the passphrase is empty")?);
                while out.len() < qsmm_nbd::MAX_VOLUMES {
                    match ask("Another passphrase on this medium (Enter if none): ")? {
                        Some(passphrase) => out.push(passphrase),
                        None => break,
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Asks on the terminal without echo; `None` for an empty answer.
fn ask(prompt: &str) -> Result<Option<Passphrase>, String> {
    let typed = Zeroizing::new(
        with_echo_off(|| rpassword::prompt_password(prompt))
            .map_err(|e| format!("cannot read a passphrase from the terminal: {e}"))?,
    );
    if typed.is_empty() {
        return Ok(None);
    }
    Passphrase::new(typed.as_bytes())
        .map(Some)
        .map_err(|e| report(&e))
}

/// Runs `f` with the terminal's echo off, from before the prompt is printed: the prompt
/// reader turns echo off only after printing it, and anything typed in between (typed ahead,
/// or pasted at once) would show.
fn with_echo_off<T>(f: impl FnOnce() -> T) -> T {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let Ok(tty) = std::fs::File::open("/dev/tty") else {
        return f();
    };
    let Ok(saved) = tcgetattr(&tty) else {
        return f();
    };
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    // Best effort: without it the prompt reader still hides what is typed after the prompt.
    tcsetattr(&tty, SetArg::TCSANOW, &quiet).ok();
    let result = f();
    tcsetattr(&tty, SetArg::TCSANOW, &saved).ok();
    result
}

/// An error with its cause, as one sentence.
fn report(error: &dyn std::error::Error) -> String {
    match error.source() {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

/// Longest line read from a passphrase descriptor (a passphrase and its line break).
const MAX_LINE: u64 = qsmm_volume::MAX_PASSPHRASE_LEN as u64 + 2;
