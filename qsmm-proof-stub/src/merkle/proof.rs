//! The MiMC-Merkle proof (an authentication path) and its versioned byte encoding.
#![deny(clippy::indexing_slicing)]

use ff::PrimeField;
use qsmm_shatter::mimc::Fp;

use crate::{Error, ProofEncoding, Result, hash};

/// A transparent MiMC-Merkle proof: the authentication path of one leaf.
///
/// Made by [`MerkleTree::prove`](crate::merkle::MerkleTree::prove) or decoded by
/// [`MerkleProof::from_bytes`]; either way its fields are consistent (`index < leaf_count`,
/// one sibling per level of a tree of `leaf_count` leaves).
///
/// <div class="warning">Not zero-knowledge: everything below is in the clear.</div>
///
/// # Encoding (format `0x01`)
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | format byte [`MerkleProof::FORMAT`] `= 0x01` (MiMC-Merkle, version 1) |
/// | 1 | 8 | generation, `u64` little-endian |
/// | 9 | 8 | leaf count `n ≥ 1`, `u64` little-endian |
/// | 17 | 8 | index `i < n`, `u64` little-endian |
/// | 25 | 1 | sibling count `d`, which must equal `⌈log₂ n⌉ ≤ 64` |
/// | 26 | 32·d | siblings from the leaf level up, each a canonical little-endian field element |
///
/// The total length must be exactly `26 + 32·d` (at most 2074 bytes). The format byte `0x02` is
/// reserved for the zk-SNARK backend.
///
/// ```
/// use qsmm_proof_stub::Error;
/// use qsmm_proof_stub::merkle::{MerkleProof, MerkleTree};
///
/// let tree = MerkleTree::build(7, &[b"a", b"b", b"c"])?;
/// let bytes = tree.prove(2)?.to_bytes();
/// assert_eq!(bytes.len(), 26 + 32 * 2);
/// let proof = MerkleProof::from_bytes(&bytes)?;
/// assert_eq!((proof.generation(), proof.leaf_count(), proof.index()), (7, 3, 2));
/// assert!(matches!(MerkleProof::from_bytes(&bytes[..40]), Err(Error::Encoding(_))));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleProof {
    generation: u64,
    leaf_count: u64,
    index: u64,
    siblings: Vec<Fp>,
}

impl MerkleProof {
    /// The format byte that opens every encoding: MiMC-Merkle proof, version 1.
    pub const FORMAT: u8 = 0x01;

    /// Length of the fixed header before the siblings.
    pub const HEADER_LEN: usize = 26;

    /// Length of one encoded sibling.
    pub const SIBLING_LEN: usize = 32;

    /// The largest encoding: a path of 64 siblings.
    pub const MAX_LEN: usize = Self::HEADER_LEN + 64 * Self::SIBLING_LEN;

    /// Builds a proof after checking that its fields fit together.
    pub(crate) fn new(
        generation: u64,
        leaf_count: u64,
        index: u64,
        siblings: Vec<Fp>,
    ) -> Result<Self> {
        let malformed = Error::Encoding("MiMC-Merkle proof");
        let depth = hash::depth(leaf_count).ok_or(Error::Encoding("MiMC-Merkle proof"))?;
        if index >= leaf_count || u32::try_from(siblings.len()).ok() != Some(depth) {
            return Err(malformed);
        }
        Ok(Self {
            generation,
            leaf_count,
            index,
            siblings,
        })
    }

    /// The generation the proof claims; bound into the commitment, so it is the generation of
    /// the commitment whenever the proof verifies.
    #[must_use]
    pub const fn generation(&self) -> u64 {
        self.generation
    }

    /// The number of leaves of the tree; bound into the commitment.
    #[must_use]
    pub const fn leaf_count(&self) -> u64 {
        self.leaf_count
    }

    /// The index of the leaf this path opens.
    #[must_use]
    pub const fn index(&self) -> u64 {
        self.index
    }

    /// The sibling hashes, from the leaf level up.
    #[must_use]
    pub fn siblings(&self) -> &[Fp] {
        &self.siblings
    }

    /// The length of [`to_bytes`](Self::to_bytes): `26 + 32·d`.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        Self::HEADER_LEN + Self::SIBLING_LEN * self.siblings.len()
    }

    /// The encoding described on the [type](Self).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(Self::FORMAT);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.leaf_count.to_le_bytes());
        out.extend_from_slice(&self.index.to_le_bytes());
        // At most 64 siblings, by construction.
        out.push(u8::try_from(self.siblings.len()).unwrap_or(u8::MAX));
        for sibling in &self.siblings {
            out.extend_from_slice(&sibling.to_repr());
        }
        out
    }

    /// Decodes the encoding described on the [type](Self).
    ///
    /// Never panics; allocates at most 64 siblings.
    ///
    /// # Errors
    ///
    /// [`Error::Encoding`] if the format byte is not [`FORMAT`](Self::FORMAT), the length is not
    /// exactly `26 + 32·d`, the leaf count is zero, the index is not below it, the sibling count
    /// is not `⌈log₂ n⌉`, or a sibling is not a canonical field element.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let malformed = || Error::Encoding("MiMC-Merkle proof");
        let (header, rest) = bytes
            .split_first_chunk::<{ Self::HEADER_LEN }>()
            .ok_or_else(malformed)?;
        let (&format, header) = header.split_first().ok_or_else(malformed)?;
        let (generation, header) = read_u64(header).ok_or_else(malformed)?;
        let (leaf_count, header) = read_u64(header).ok_or_else(malformed)?;
        let (index, header) = read_u64(header).ok_or_else(malformed)?;
        let count = match header {
            [count] => usize::from(*count),
            _ => return Err(malformed()),
        };
        let depth = hash::depth(leaf_count).ok_or_else(malformed)?;
        if format != Self::FORMAT
            || u32::try_from(count).ok() != Some(depth)
            || Some(rest.len()) != count.checked_mul(Self::SIBLING_LEN)
        {
            return Err(malformed());
        }
        let (chunks, remainder) = rest.as_chunks::<{ Self::SIBLING_LEN }>();
        if !remainder.is_empty() {
            return Err(malformed());
        }
        let siblings = chunks
            .iter()
            .map(|chunk| Option::from(Fp::from_repr(*chunk)).ok_or_else(malformed))
            .collect::<Result<Vec<Fp>>>()?;
        Self::new(generation, leaf_count, index, siblings)
    }
}

impl ProofEncoding for MerkleProof {
    fn to_bytes(&self) -> Vec<u8> {
        Self::to_bytes(self)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes(bytes)
    }
}

impl TryFrom<&[u8]> for MerkleProof {
    type Error = Error;

    fn try_from(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes(bytes)
    }
}

/// Splits a little-endian `u64` off the front of `bytes`.
fn read_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), rest))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests index fixed layouts")]
mod tests {
    use ff::Field;

    use super::*;

    fn sample() -> MerkleProof {
        MerkleProof::new(7, 5, 4, vec![Fp::from(1), Fp::from(2), -Fp::ONE]).unwrap()
    }

    #[test]
    fn layout() {
        let bytes = sample().to_bytes();
        assert_eq!(bytes.len(), 26 + 3 * 32);
        assert_eq!(bytes[0], 0x01);
        assert_eq!(bytes[1..9], 7u64.to_le_bytes());
        assert_eq!(bytes[9..17], 5u64.to_le_bytes());
        assert_eq!(bytes[17..25], 4u64.to_le_bytes());
        assert_eq!(bytes[25], 3);
        assert_eq!(bytes[26], 1);
        assert_eq!(bytes[58], 2);
        assert_eq!(MerkleProof::from_bytes(&bytes).unwrap(), sample());
    }

    #[test]
    fn constructor_checks_consistency() {
        assert!(MerkleProof::new(0, 0, 0, vec![]).is_err());
        assert!(MerkleProof::new(0, 1, 1, vec![]).is_err());
        assert!(MerkleProof::new(0, 1, 0, vec![Fp::ZERO]).is_err());
        assert!(MerkleProof::new(0, 2, 1, vec![]).is_err());
        assert!(MerkleProof::new(0, 1, 0, vec![]).is_ok());
        assert!(MerkleProof::new(0, u64::MAX, u64::MAX - 1, vec![Fp::ZERO; 64]).is_ok());
    }

    #[test]
    fn largest_proof_round_trips() {
        let proof = MerkleProof::new(u64::MAX, u64::MAX, u64::MAX - 1, vec![-Fp::ONE; 64]).unwrap();
        let bytes = proof.to_bytes();
        assert_eq!(bytes.len(), MerkleProof::MAX_LEN);
        assert_eq!(MerkleProof::from_bytes(&bytes).unwrap(), proof);
    }

    #[test]
    fn every_header_field_is_checked() {
        let good = sample().to_bytes();
        let patch = |offset: usize, value: &[u8]| {
            let mut b = good.clone();
            b[offset..offset + value.len()].copy_from_slice(value);
            MerkleProof::from_bytes(&b)
        };
        assert!(patch(0, &[0x00]).is_err());
        assert!(patch(0, &[0x02]).is_err());
        assert!(patch(9, &0u64.to_le_bytes()).is_err(), "zero leaves");
        assert!(
            patch(9, &4u64.to_le_bytes()).is_err(),
            "depth 2 != 3 siblings"
        );
        assert!(
            patch(9, &9u64.to_le_bytes()).is_err(),
            "depth 4 != 3 siblings"
        );
        assert!(
            patch(9, &8u64.to_le_bytes()).is_ok(),
            "depth 3 is consistent"
        );
        assert!(patch(17, &5u64.to_le_bytes()).is_err(), "index = count");
        assert!(patch(17, &u64::MAX.to_le_bytes()).is_err());
        assert!(patch(25, &[2]).is_err());
        assert!(patch(25, &[4]).is_err());
        assert!(patch(25, &[255]).is_err());
        // A non-canonical sibling: p itself.
        let mut p = (-Fp::ONE).to_repr();
        p[0] += 1;
        assert!(patch(26, &p).is_err());
        assert!(patch(26 + 64, &[0xff; 32]).is_err());
    }

    #[test]
    fn every_length_but_the_right_one_fails() {
        let good = sample().to_bytes();
        for len in 0..good.len() {
            assert!(MerkleProof::from_bytes(&good[..len]).is_err(), "len {len}");
        }
        for extra in 1..=64 {
            let mut long = good.clone();
            long.resize(good.len() + extra, 0);
            assert!(MerkleProof::from_bytes(&long).is_err(), "extra {extra}");
        }
    }
}
