//! What can go wrong, one sentence each, and the exit code of each outcome.

use std::io;

/// Why a command failed. [`CliError::exit_code`] maps each to the documented exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// An argument is not usable (exit code 2).
    #[error("{0}")]
    InvalidArgument(String),
    /// Standard input was empty.
    #[error("the message is empty: write it to standard input")]
    EmptyMessage,
    /// Standard input held more than the largest message any server takes.
    #[error("the message is larger than {max} bytes, the most any paravoid server takes")]
    MessageTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// The passphrase given is empty.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// The passphrase and its confirmation differ.
    #[error("the two passphrases differ")]
    PassphraseMismatch,
    /// The note does not exist, has expired, has been read, or was destroyed (exit code 3).
    #[error("this note does not exist, has expired, or has already been read")]
    Gone,
    /// The note needs a passphrase and none could be asked for (exit code 4).
    #[error("this note needs a passphrase: give --passphrase-file or run in a terminal")]
    PassphraseRequired,
    /// The server counted a wrong passphrase (exit code 4).
    #[error("wrong passphrase{}", attempts_note(*.attempts_left))]
    WrongPassphrase {
        /// Tries the server still allows, when it says.
        attempts_left: Option<u64>,
    },
    /// The link is malformed (exit code 5).
    #[error("the link is not a paravoid link: {0}")]
    InvalidLink(&'static str),
    /// The link is one of the published API, which the server opens itself (exit code 5).
    #[error(
        "this link is not end to end (its fragment does not start with `e2e.`): open it in a browser"
    )]
    NotEndToEnd,
    /// The server says the link's keys are not the note's (exit code 5).
    #[error("the server refuses this link's keys: the link is damaged or belongs to another note")]
    WrongLinkKeys,
    /// The server could not be reached (exit code 6).
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// The server answered with an error (exit code 6).
    #[error("the server refused the request (HTTP {status}): {message}")]
    Server {
        /// The HTTP status code.
        status: u16,
        /// The server's error text, cleaned of control characters and shortened.
        message: String,
    },
    /// The server's answer is not what the end-to-end API answers (exit code 6).
    #[error("the server's answer is not a paravoid answer: {0}")]
    UnexpectedAnswer(&'static str),
    /// A local file or stream failed (exit code 7).
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done, as a verb phrase.
        what: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The note the server handed out does not open with the link (exit code 8).
    #[error(
        "the note the server handed out does not open with this link: the server or its database changed it"
    )]
    Tampered,
    /// The request for a secret is unknown, has expired, or already has its one answer (exit
    /// code 3).
    #[error("this request does not exist, has expired, or has already been answered")]
    RequestClosed,
    /// No receipt answers to the status token: unknown, or kept no longer (exit code 3).
    #[error("no receipt answers to this status token (unknown, or its time is over)")]
    NoReceipt,
    /// Nobody has answered the request yet (exit code 9).
    #[error("nobody has answered this request yet: try again later")]
    NotAnswered,
    /// The note's file list cannot be saved safely: malformed, or a name with a path
    /// separator, `..`, a control character, or given twice (exit code 10).
    #[error(
        "the note's file list is malformed or names a file unsafely (a path, `..`, a control character or a name given twice): nothing was saved"
    )]
    UnsafeFileList,
    /// A file of the note would replace an existing file (exit code 7).
    #[error("{path} already exists: choose another directory with -o, nothing was replaced")]
    FileExists {
        /// The path that exists.
        path: String,
    },
    /// A file the server handed out does not open with the link (exit code 8).
    #[error(
        "a file the server handed out does not open with this link (changed or cut short): no file was saved under its name"
    )]
    FileTampered,
    /// Sealing failed: no randomness, or an internal limit (exit code 1).
    #[error("sealing failed: {0}")]
    Seal(#[source] qsmm_shield::Error),
}

/// " (N tries left)" when the server says how many.
fn attempts_note(attempts_left: Option<u64>) -> String {
    match attempts_left {
        Some(0) => ": the note is destroyed".to_owned(),
        Some(1) => " (1 try left)".to_owned(),
        Some(n) => format!(" ({n} tries left)"),
        None => String::new(),
    }
}

impl CliError {
    /// The process exit code of this error, as the README documents:
    ///
    /// | code | meaning |
    /// | --- | --- |
    /// | 1 | sealing failed (no randomness) |
    /// | 2 | bad arguments or input: empty or oversized message, empty or mismatched passphrase |
    /// | 3 | the note does not exist, has expired, or has already been read; no receipt answers to a status token |
    /// | 4 | the note needs a passphrase, or the passphrase is wrong |
    /// | 5 | the link is malformed, not end to end, or its keys are not the note's |
    /// | 6 | the server is unreachable, refused the request, or answered something else |
    /// | 7 | a local file or stream could not be read or written, or a file would be replaced |
    /// | 8 | the note or a file handed out does not open with the link (changed by the server) |
    /// | 9 | nobody has answered the request yet |
    /// | 10 | the note's file list names a file unsafely (path, `..`, control character, twice) |
    #[must_use]
    pub const fn exit_code(&self) -> u8 {
        match self {
            Self::Seal(_) => 1,
            Self::InvalidArgument(_)
            | Self::EmptyMessage
            | Self::MessageTooLarge { .. }
            | Self::EmptyPassphrase
            | Self::PassphraseMismatch => 2,
            Self::Gone | Self::RequestClosed | Self::NoReceipt => 3,
            Self::PassphraseRequired | Self::WrongPassphrase { .. } => 4,
            Self::InvalidLink(_) | Self::NotEndToEnd | Self::WrongLinkKeys => 5,
            Self::Unreachable(_) | Self::Server { .. } | Self::UnexpectedAnswer(_) => 6,
            Self::Io { .. } | Self::FileExists { .. } => 7,
            Self::Tampered | Self::FileTampered => 8,
            Self::NotAnswered => 9,
            Self::UnsafeFileList => 10,
        }
    }

    /// A [`CliError::Io`] while doing `what` (a verb phrase: "read standard input").
    #[must_use]
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// The result of this crate's functions.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_sentence() {
        let errors = [
            CliError::Gone,
            CliError::WrongPassphrase {
                attempts_left: Some(2),
            },
            CliError::WrongPassphrase {
                attempts_left: Some(0),
            },
            CliError::NotEndToEnd,
            CliError::Tampered,
            CliError::FileTampered,
            CliError::UnsafeFileList,
            CliError::FileExists {
                path: "out/report.pdf".to_owned(),
            },
            CliError::io("read standard input", io::Error::other("broken pipe")),
        ];
        for error in errors {
            let text = error.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(!text.ends_with('.'), "{text}");
            assert!(
                text.matches(". ").count() == 0,
                "one sentence, no full stop inside: {text}"
            );
        }
        assert_eq!(
            CliError::WrongPassphrase {
                attempts_left: Some(2)
            }
            .to_string(),
            "wrong passphrase (2 tries left)"
        );
    }

    #[test]
    fn exit_codes_are_distinct_per_outcome() {
        assert_eq!(CliError::Gone.exit_code(), 3);
        assert_eq!(CliError::PassphraseRequired.exit_code(), 4);
        assert_eq!(CliError::NotEndToEnd.exit_code(), 5);
        assert_eq!(CliError::Unreachable(String::new()).exit_code(), 6);
        assert_eq!(CliError::Tampered.exit_code(), 8);
        assert_eq!(CliError::FileTampered.exit_code(), 8);
        assert_eq!(CliError::UnsafeFileList.exit_code(), 10);
        assert_eq!(
            CliError::FileExists {
                path: "a".to_owned()
            }
            .exit_code(),
            7
        );
    }
}
