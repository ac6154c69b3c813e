//! The share format: the header inside every sealed share and the metadata commitment.
//!
//! The layout is documented in the [`mesh`](crate::mesh) module.

use sha3::{Digest, Sha3_256};

use qsmm_types::labels;

/// Version byte at the start of every share.
pub const SHARE_FORMAT_VERSION: u8 = 1;

/// Bytes of the share header inside the seal (see [`crate::mesh`] for the layout).
pub const SHARE_HEADER_LEN: usize = 65;

/// Length of the random split id in the share header.
pub(super) const SPLIT_ID_LEN: usize = 16;

/// Length of the SHA3-256 commitment in the share header.
pub(super) const COMMITMENT_LEN: usize = 32;

/// Domain string of the metadata commitment.
const COMMITMENT_DOMAIN: &[u8] = labels::SHATTER_COMMITMENT.as_bytes();

/// The decoded share header (see the module docs).
#[derive(Clone, Copy)]
pub(super) struct ShareHeader {
    pub(super) slot: u8,
    pub(super) index: u8,
    pub(super) k: u8,
    pub(super) n: u8,
    pub(super) generation: u64,
    pub(super) split_id: [u8; SPLIT_ID_LEN],
    pub(super) length: u32,
    pub(super) commitment: [u8; COMMITMENT_LEN],
}

impl ShareHeader {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[SHARE_FORMAT_VERSION, self.slot, self.index, self.k, self.n]);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.split_id);
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&self.commitment);
    }

    /// The header and the share body after it, or `None` if `plain` is too short or names
    /// another format version.
    pub(super) fn decode(plain: &[u8]) -> Option<(Self, &[u8])> {
        let (&[version, slot, index, k, n], rest) = plain.split_first_chunk::<5>()?;
        let (generation, rest) = rest.split_first_chunk::<8>()?;
        let (split_id, rest) = rest.split_first_chunk::<SPLIT_ID_LEN>()?;
        let (length, rest) = rest.split_first_chunk::<4>()?;
        let (commitment, body) = rest.split_first_chunk::<COMMITMENT_LEN>()?;
        (version == SHARE_FORMAT_VERSION).then_some((
            Self {
                slot,
                index,
                k,
                n,
                generation: u64::from_le_bytes(*generation),
                split_id: *split_id,
                length: u32::from_le_bytes(*length),
                commitment: *commitment,
            },
            body,
        ))
    }

    /// Whether two shares come from the same sharing: same generation, split id, length and
    /// commitment (slot, k and n are already checked against the mesh).
    pub(super) fn same_sharing(&self, other: &Self) -> bool {
        self.generation == other.generation
            && self.split_id == other.split_id
            && self.length == other.length
            && self.commitment == other.commitment
    }
}

/// The slot of a generation: `g mod 2`.
pub(super) fn slot_of(generation: u64) -> u8 {
    if generation.is_multiple_of(2) { 0 } else { 1 }
}

/// `SHA3-256(domain ‖ LE64(generation) ‖ LE32(len) ‖ metadata)`.
pub(super) fn commitment(generation: u64, metadata: &[u8]) -> [u8; COMMITMENT_LEN] {
    let length = u64::try_from(metadata.len()).unwrap_or(u64::MAX);
    let mut hash = Sha3_256::new();
    hash.update(COMMITMENT_DOMAIN);
    hash.update(generation.to_le_bytes());
    // The length is at most a block, so it fits 32 bits; the header stores it as u32 too.
    hash.update(u32::try_from(length).unwrap_or(u32::MAX).to_le_bytes());
    hash.update(metadata);
    hash.finalize().into()
}
