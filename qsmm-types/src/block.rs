//! Block addressing.

use core::fmt;

/// The index of one block on a medium, counted from zero.
///
/// A `BlockId` is public information: it is bound into every sealed block as associated data,
/// so a block moved to another position no longer opens.
///
/// ```
/// use qsmm_types::BlockId;
///
/// let id = BlockId(42);
/// assert_eq!(id.get(), 42);
/// assert_eq!(id.to_le_bytes(), 42u64.to_le_bytes());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(clippy::exhaustive_structs, reason = "a transparent newtype by design")]
pub struct BlockId(pub u64);

impl BlockId {
    /// The block index as a number.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The little-endian encoding used wherever a block id is hashed or authenticated.
    #[must_use]
    pub const fn to_le_bytes(self) -> [u8; 8] {
        self.0.to_le_bytes()
    }
}

impl From<u64> for BlockId {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl From<BlockId> for u64 {
    fn from(value: BlockId) -> Self {
        value.0
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block {}", self.0)
    }
}
