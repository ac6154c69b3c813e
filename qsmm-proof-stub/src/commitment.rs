//! The public commitment (Merkle root) to the blocks of one mesh generation.

use core::fmt;

use ff::PrimeField;
use qsmm_shatter::mimc::Fp;

use crate::{Error, Result};

/// The commitment to the blocks of one generation: the root of the MiMC-Merkle tree, with the
/// generation number and the leaf count bound in ([`hash::root`](crate::hash::root)).
///
/// A commitment is public. It is the same for every backend: the transparent
/// [`MimcMerkle`](crate::merkle::MimcMerkle) and a future zk-SNARK prover commit to the same tree, so a
/// stored commitment stays valid when the backend changes.
///
/// # Encoding
///
/// 32 bytes: the root field element of Pallas' base field in its canonical little-endian form
/// (`ff::PrimeField::to_repr`). Decoding rejects every non-canonical encoding (an integer
/// `≥ p`), so each commitment has exactly one encoding.
///
/// ```
/// use qsmm_proof_stub::{Commitment, Error};
/// use qsmm_proof_stub::merkle::MerkleTree;
///
/// let tree = MerkleTree::build(7, &[b"first block", b"other block"])?;
/// let bytes = tree.commitment().to_bytes();
/// assert_eq!(Commitment::from_bytes(&bytes)?, tree.commitment());
///
/// // 2^256 − 1 is not below the modulus.
/// assert!(matches!(Commitment::from_bytes(&[0xff; 32]), Err(Error::Encoding(_))));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Commitment(Fp);

impl Commitment {
    /// Length of the encoding in bytes.
    pub const LEN: usize = 32;

    /// Wraps a root field element (for backends and circuits that compute it themselves).
    #[must_use]
    pub const fn from_field(root: Fp) -> Self {
        Self(root)
    }

    /// The root as a field element, as it enters a circuit as a public input.
    #[must_use]
    pub const fn to_field(self) -> Fp {
        self.0
    }

    /// The canonical 32-byte encoding.
    #[must_use]
    pub fn to_bytes(self) -> [u8; Self::LEN] {
        self.0.to_repr()
    }

    /// Decodes a canonical 32-byte encoding.
    ///
    /// # Errors
    ///
    /// [`Error::Encoding`] if the bytes are not the canonical encoding of a field element (the
    /// little-endian integer is `≥ p`).
    pub fn from_bytes(bytes: &[u8; Self::LEN]) -> Result<Self> {
        Option::from(Fp::from_repr(*bytes))
            .map(Self)
            .ok_or(Error::Encoding("integrity commitment"))
    }

    /// Decodes a canonical encoding from a slice.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `bytes` is not 32 bytes long; [`Error::Encoding`] if it is not
    /// canonical.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self> {
        let array: &[u8; Self::LEN] = bytes.try_into().map_err(|_| Error::InvalidLength {
            what: "integrity commitment",
            expected: Self::LEN,
            got: bytes.len(),
        })?;
        Self::from_bytes(array)
    }
}

impl TryFrom<&[u8]> for Commitment {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        Self::try_from_slice(bytes)
    }
}

impl From<Commitment> for [u8; Commitment::LEN] {
    fn from(commitment: Commitment) -> Self {
        commitment.to_bytes()
    }
}

impl core::hash::Hash for Commitment {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.to_bytes().hash(state);
    }
}

/// Lower-case hex of the canonical encoding (byte order as stored).
impl fmt::Display for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.to_bytes() {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Commitment({self})")
    }
}

#[cfg(test)]
mod tests {
    use ff::Field;

    use super::*;

    /// `p` in little-endian bytes.
    const MODULUS_LE: [u8; 32] = {
        let mut le = [0u8; 32];
        let be: [u8; 32] = [
            0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x22, 0x46, 0x98, 0xfc, 0x09, 0x4c, 0xf9, 0x1b, 0x99, 0x2d, 0x30, 0xed,
            0x00, 0x00, 0x00, 0x01,
        ];
        let mut i = 0;
        while i < 32 {
            le[i] = be[31 - i];
            i += 1;
        }
        le
    };

    #[test]
    fn canonical_boundary() {
        // p − 1 is the largest canonical value.
        let mut p_minus_1 = MODULUS_LE;
        p_minus_1[0] -= 1;
        let max = Commitment::from_bytes(&p_minus_1).unwrap();
        assert_eq!(max.to_field(), -Fp::ONE);
        assert_eq!(max.to_bytes(), p_minus_1);
        // p, p + 1, and anything with the top bits set are rejected.
        let mut p_plus_1 = MODULUS_LE;
        p_plus_1[0] += 1;
        let mut top_bit = [0u8; 32];
        top_bit[31] = 0x80;
        for bad in [MODULUS_LE, p_plus_1, top_bit, [0xff; 32]] {
            assert!(matches!(
                Commitment::from_bytes(&bad),
                Err(Error::Encoding(_))
            ));
        }
    }

    #[test]
    fn slice_lengths_are_checked() {
        for len in [0, 1, 31, 33, 64] {
            let err = Commitment::try_from_slice(&vec![0; len]).unwrap_err();
            assert!(
                matches!(err, Error::InvalidLength { expected: 32, got, .. } if got == len),
                "{err:?}"
            );
        }
        let zero = Commitment::try_from(&[0u8; 32][..]).unwrap();
        assert_eq!(zero.to_field(), Fp::ZERO);
    }

    #[test]
    fn round_trip_and_display() {
        let c = Commitment::from_field(Fp::from(0x0102));
        let bytes: [u8; 32] = c.into();
        assert_eq!(bytes[..3], [2, 1, 0]);
        assert_eq!(Commitment::from_bytes(&bytes).unwrap(), c);
        assert_eq!(c.to_string(), format!("0201{}", "00".repeat(30)));
        assert_eq!(format!("{c:?}"), format!("Commitment({c})"));
        assert_ne!(c, Commitment::from_field(Fp::from(0x0103)));
    }
}
