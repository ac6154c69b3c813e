//! The crate's error type.

/// A `Result` whose error defaults to the cloak [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in `qsmm-cloak`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that should hold a cloak object do not: wrong magic or kind, cut short, trailing
    /// bytes, a length field out of range, or a TFHE-rs object that does not decode or does not
    /// conform to the parameter set.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The object being decoded (`"query"`, `"server key"`, …).
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// The object was written by a format version this build does not read.
    #[error("unsupported {what} format version {version}")]
    UnsupportedVersion {
        /// The object being decoded.
        what: &'static str,
        /// The version byte found.
        version: u8,
    },

    /// Two objects that must come from one key pair do not: a query, entry, update or answer
    /// made under another client key than the server key or index it meets, or an answer
    /// decrypted with the wrong client key.
    #[error("{what} belongs to another key pair")]
    KeyMismatch {
        /// The object that did not match.
        what: &'static str,
    },

    /// An insert would take the index beyond its cap on entries.
    #[error("the index is full: at most {max} entries")]
    IndexFull {
        /// The index's cap on entries.
        max: usize,
    },

    /// A cap on entries outside `1..=HARD_MAX_ENTRIES`.
    #[error("invalid entry cap {got}: must be between 1 and {max}")]
    InvalidCapacity {
        /// The cap asked for.
        got: usize,
        /// The largest cap allowed.
        max: usize,
    },

    /// The operating system's random number generator failed.
    #[error("the random number generator failed")]
    Random,

    /// TFHE-rs refused an operation (for example an encryption or the index's compression).
    #[error("TFHE-rs: {0}")]
    Fhe(#[from] tfhe::Error),
}
