//! The error type of the crate.

/// Everything that can go wrong with a medium or a volume.
///
/// Integrity failures are opaque: [`Error::Integrity`] never says which check failed, and
/// [`Error::NoVolume`] is the same answer for a wrong passphrase and for a medium that holds no
/// volume at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No volume opens with this passphrase (a wrong passphrase, or no volume on the medium:
    /// the two cannot be told apart).
    #[error("no volume opens with this passphrase")]
    NoVolume,
    /// A volume already opens with this passphrase, so creating another would destroy it.
    #[error("a volume already opens with this passphrase")]
    VolumeExists,
    /// This passphrase would place its root on an open volume's root, whose place is fixed
    /// by that volume's passphrase; choose another passphrase. (Other blocks of open volumes
    /// are moved out of the way; the chance of this is about 64 · open volumes / blocks.)
    #[error(
        "this passphrase would place its root on another open volume's root; choose another passphrase"
    )]
    PassphraseCollision,
    /// Blocks this passphrase's root needs are held by a volume closed while others stay
    /// open: its blocks stay taken (its data is kept) but cannot be moved, since it is not open.
    #[error(
        "blocks this passphrase's root needs belong to a volume closed while others are still \
         open; reopen that volume (or close every volume on the medium) and try again"
    )]
    RootBlocksHeld,
    /// Another process (or another handle in this one) holds the medium's lock.
    #[error("the medium is in use by another process")]
    Locked,
    /// The medium reads as zeros where a formatted medium has noise: it was never formatted.
    #[error("the medium is not formatted (format it first)")]
    NotFormatted,
    /// The medium's size is not a whole number of 4096-byte blocks of at least the minimum.
    #[error("invalid medium size {size} bytes: it must be a multiple of 4096 and at least {min}")]
    InvalidMediumSize {
        /// The size found or asked for, in bytes.
        size: u64,
        /// The smallest size accepted, in bytes.
        min: u64,
    },
    /// A volume size that is zero, not a multiple of 4096 or larger than the medium.
    #[error(
        "invalid volume size {size} bytes: it must be a non-zero multiple of 4096 of at most {max}"
    )]
    InvalidVolumeSize {
        /// The size asked for, in bytes.
        size: u64,
        /// The largest size accepted, in bytes.
        max: u64,
    },
    /// An access outside the volume, or a sector access not aligned to 4096 bytes.
    #[error("access of {len} bytes at offset {offset} is outside the volume or not sector-aligned")]
    OutOfRange {
        /// Byte offset of the access.
        offset: u64,
        /// Length of the access in bytes.
        len: u64,
    },
    /// Data or metadata of the volume failed authentication: the medium was damaged or
    /// tampered with, or another volume that was not open overwrote it.
    #[error("integrity check failed")]
    Integrity,
    /// No free block is left on the medium.
    #[error("the medium is full")]
    NoSpace,
    /// A lower volume this volume's root names (created with it in `protect`) does not open:
    /// its passphrase was changed while this volume was not open, or it was overwritten. It
    /// would be left unprotected, so this volume does not open.
    #[error(
        "lower volume {position} named by this volume's root does not open (the {ordinal} volume \
         given to protect when it was created; was its passphrase changed while this volume was \
         closed?): {source}",
        ordinal = position + 1
    )]
    LowerVolume {
        /// Its position in the root's list, from 0: the order of `protect` at creation.
        position: usize,
        /// Why it did not open.
        source: Box<Self>,
    },
    /// The lower volumes named by roots lead back to a volume being opened (or nest deeper
    /// than 15 volumes): a crafted or damaged root.
    #[error("the lower volumes of this volume's root form a cycle")]
    LowerCycle,
    /// An earlier flush could not sync the medium: writes since the last durable root may be
    /// lost (the system may have dropped them), so the volume takes no more writes. Reads still
    /// work; close and reopen the volume to continue from its last durable root.
    #[error("a sync of the medium failed: the volume is read-only until it is reopened")]
    ReadOnly,
    /// A state the code never reaches (an index past a table it sized itself): a bug, reported
    /// instead of a panic.
    #[error("internal inconsistency: {0}")]
    Internal(&'static str),
    /// A parameter outside its documented range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
    /// An error of the lower layers (sealing, mesh, key derivation, block media).
    #[error(transparent)]
    Core(#[from] qsmm_types::Error),
    /// An I/O error of the medium.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The result type of the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
