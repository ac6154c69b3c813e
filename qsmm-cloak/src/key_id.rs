//! The name a client key and its server key share.

use core::fmt;

use crate::error::{Error, Result};

/// A random 16-byte name shared by a client key and its server key.
///
/// Not secret: it lets the host and the client tell objects of different key pairs apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 16]);

impl KeyId {
    /// Its length in bytes.
    pub const LEN: usize = 16;

    /// A fresh random id.
    pub(crate) fn random() -> Result<Self> {
        let mut id = [0; Self::LEN];
        getrandom::fill(&mut id).map_err(|_| Error::Random)?;
        Ok(Self(id))
    }

    /// The id with these bytes.
    #[must_use]
    pub const fn from_array(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The id's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The id in `bytes`, if they are 16 long.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Refuses `other` unless it is this id.
    pub(crate) fn check(&self, other: &Self, what: &'static str) -> Result<()> {
        if self == other {
            Ok(())
        } else {
            Err(Error::KeyMismatch { what })
        }
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId(")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ")")
    }
}
