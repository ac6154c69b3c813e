//! The error type shared by every qsmm library crate.

/// A `Result` whose error defaults to the qsmm [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in a qsmm library crate.
///
/// Cryptographic failures are deliberately opaque: whether a tag did not verify, a key was
/// wrong, a ciphertext was cut short or an encoding was tampered with, the caller sees the one
/// variant [`Error::Crypto`] with the one message `"decryption failed"`. Size errors that are
/// about public, caller-chosen parameters may say what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A cryptographic check failed: wrong key, forged or modified data, bad encoding of a
    /// protected object. The message never says which check failed.
    #[error("decryption failed")]
    Crypto,

    /// A Shamir threshold outside `2 ≤ k ≤ n ≤ 255`.
    #[error("invalid threshold {k}-of-{n}: need 2 <= k <= n <= 255")]
    InvalidThreshold {
        /// The requested number of shares needed to reconstruct.
        k: usize,
        /// The requested number of shares.
        n: usize,
    },

    /// An input had the wrong length.
    #[error("invalid length for {what}: expected {expected}, got {got}")]
    InvalidLength {
        /// What was being decoded or checked.
        what: &'static str,
        /// The length that was expected (or the maximum, for variable-length inputs).
        expected: usize,
        /// The length that was given.
        got: usize,
    },

    /// Data is longer than the container that should hold it (a block, a mesh root, a note).
    #[error("data too large: at most {max} bytes fit, got {got}")]
    DataTooLarge {
        /// The largest length that fits.
        max: usize,
        /// The length that was given.
        got: usize,
    },

    /// A medium has too few blocks for what was asked of it.
    #[error("too few blocks: need at least {needed}, the medium has {available}")]
    TooFewBlocks {
        /// The smallest number of blocks that would work.
        needed: u64,
        /// The number of blocks available.
        available: u64,
    },

    /// A block id lies outside the medium.
    #[error("block {block} is out of range for a medium of {count} blocks")]
    BlockOutOfRange {
        /// The block that was addressed.
        block: u64,
        /// The number of blocks on the medium.
        count: u64,
    },

    /// Fewer intact shares were found than the threshold needs. Deliberately vague: it does not
    /// say how many were found or why the others were rejected.
    #[error("not enough valid shares to reconstruct")]
    NotEnoughShares,

    /// A public key or signing key failed validation (for example the FIPS 203 modulus check).
    #[error("invalid key")]
    InvalidKey,

    /// A signature did not verify.
    #[error("signature verification failed")]
    InvalidSignature,

    /// An encoded object is malformed, names an unknown version or suite, or does not match
    /// the algorithm it was handed to.
    #[error("malformed or unsupported encoding of {0}")]
    Encoding(&'static str),

    /// A parameter is outside the range the operation supports.
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,

    /// An I/O error from a block device.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
