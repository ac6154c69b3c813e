//! The on-disk structures under a volume's mesh root: the root record, index blocks and map
//! leaves, and the data blocks they point at.
//!
//! All integers are little-endian and every block is 4096 bytes.
//!
//! # Mesh root
//!
//! The metadata inside the `qsmm-shatter` shares (Shamir GF(256) 2-of-4, generation `g` in slot
//! `g mod 2`, each share a sealed block; see `qsmm_shatter::mesh`), at most 3987 bytes:
//!
//! ```text
//! offset      length  field
//! 0           1       version = 1
//! 1           1       m = number of lower volumes (≤ 14)
//! 2           32      volume key
//! 34          16      volume id (random; part of every sector's associated data)
//! 50          8       logical size in bytes (non-zero multiple of 4096)
//! 58          4       c = number of index blocks
//! 62          32·m    mesh keys of the lower volumes
//! 62+32m      8·c     physical block of each index block (0 = none yet)
//! ```
//!
//! # Index block
//!
//! A `qsmm-void` sealed block (24-byte nonce, ciphertext, 16-byte tag; AAD =
//! `"qsmm/v1/void/blk"` ‖ block id) under the map namespace; its plaintext is up to 506 leaf
//! pointers, `u64` each (0 = leaf never written: its 84 sectors read as zeros). Index block `i`
//! covers leaves `506·i … 506·i + 505`.
//!
//! # Map leaf
//!
//! A sealed block of the same kind holding 84 map entries of 48 bytes (4032 bytes); leaf `j` maps
//! sectors `84·j … 84·j + 83`:
//!
//! ```text
//! offset  length  field
//! 0       8       physical block of the sector's ciphertext (0 = unmapped: reads as zeros)
//! 8       24      XChaCha20 nonce, fresh random per write
//! 32      16      Poly1305 tag
//! ```
//!
//! # Data block
//!
//! Exactly 4096 bytes of XChaCha20 ciphertext of the sector; the tag (in its map entry) covers it
//! and the 48-byte associated data `"qsmm/v1/vol/sect"` ‖ volume id ‖ sector number (`u64`) ‖
//! physical block (`u64`), so a sector moved to another block, another sector or another volume
//! does not authenticate. A 1 GiB volume has 3121 leaves and 7 index blocks: 0.3 % overhead.

use qsmm_types::SecretKey;
use zeroize::{Zeroize, Zeroizing};

/// Bytes of one map entry: block (8), nonce (24), tag (16).
pub(crate) const ENTRY_LEN: usize = 48;
/// Map entries per leaf: 84 × 48 = 4032 bytes, within a sealed block's 4052.
pub(crate) const ENTRIES_PER_LEAF: u64 = 84;
/// [`ENTRIES_PER_LEAF`] as a `usize`.
pub(crate) const ENTRIES_PER_LEAF_LEN: usize = 84;
/// Leaf pointers per index block: 506 × 8 = 4048 bytes.
pub(crate) const LEAVES_PER_INDEX: u64 = 506;
/// [`LEAVES_PER_INDEX`] as a `usize`.
pub(crate) const LEAVES_PER_INDEX_LEN: usize = 506;
/// Most lower volumes a root names (15 volumes per medium: one and the 14 below it).
pub(crate) const MAX_LOWER: usize = 14;
/// Version byte of the root record.
const ROOT_VERSION: u8 = 1;
/// Bytes of the root before the lower keys: version, lower count, volume key, volume id,
/// logical size, index count.
const ROOT_HEADER_LEN: usize = 1 + 1 + 32 + 16 + 8 + 4;

/// Where one logical sector lives: a physical block (0 = unmapped: block 0 holds the salt and
/// is never allocated) and the nonce and tag of its ciphertext.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) block: u64,
    pub(crate) nonce: [u8; 24],
    pub(crate) tag: [u8; 16],
}

/// A leaf: `ENTRIES_PER_LEAF` entries in memory.
pub(crate) struct Leaf {
    pub(crate) entries: Vec<Entry>,
    pub(crate) dirty: bool,
}

impl Leaf {
    pub(crate) fn empty() -> Self {
        Self {
            entries: vec![Entry::default(); ENTRIES_PER_LEAF_LEN],
            dirty: false,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENTRY_LEN * self.entries.len());
        for e in &self.entries {
            out.extend_from_slice(&e.block.to_le_bytes());
            out.extend_from_slice(&e.nonce);
            out.extend_from_slice(&e.tag);
        }
        out
    }

    /// Decodes a leaf; `None` unless exactly `ENTRIES_PER_LEAF` entries are present.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != ENTRY_LEN * ENTRIES_PER_LEAF_LEN {
            return None;
        }
        let mut entries = Vec::with_capacity(ENTRIES_PER_LEAF_LEN);
        for chunk in bytes.chunks_exact(ENTRY_LEN) {
            let (block, rest) = chunk.split_at(8);
            let (nonce, tag) = rest.split_at(24);
            entries.push(Entry {
                block: u64::from_le_bytes(block.try_into().ok()?),
                nonce: nonce.try_into().ok()?,
                tag: tag.try_into().ok()?,
            });
        }
        Some(Self {
            entries,
            dirty: false,
        })
    }
}

/// Encodes a run of block pointers (u64 little-endian each).
pub(crate) fn encode_pointers(pointers: &[u64]) -> Vec<u8> {
    pointers.iter().flat_map(|p| p.to_le_bytes()).collect()
}

/// Decodes block pointers; `None` if the length is not a multiple of 8.
pub(crate) fn decode_pointers(bytes: &[u8]) -> Option<Vec<u64>> {
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    bytes
        .chunks_exact(8)
        .map(|c| c.try_into().ok().map(u64::from_le_bytes))
        .collect()
}

/// The root record a volume's mesh holds.
pub(crate) struct Root {
    pub(crate) volume_key: SecretKey,
    pub(crate) volume_id: [u8; 16],
    pub(crate) logical_size: u64,
    pub(crate) lower: Vec<SecretKey>,
    pub(crate) index: Vec<u64>,
}

impl Root {
    /// The largest number of index blocks a root of `lower` lower keys can hold in `capacity`
    /// bytes.
    pub(crate) fn max_index(capacity: usize, lower: usize) -> usize {
        capacity.saturating_sub(ROOT_HEADER_LEN + 32 * lower) / 8
    }

    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            ROOT_HEADER_LEN + 32 * self.lower.len() + 8 * self.index.len(),
        ));
        out.push(ROOT_VERSION);
        out.push(u8::try_from(self.lower.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.volume_key.as_bytes());
        out.extend_from_slice(&self.volume_id);
        out.extend_from_slice(&self.logical_size.to_le_bytes());
        out.extend_from_slice(
            &u32::try_from(self.index.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        for key in &self.lower {
            out.extend_from_slice(key.as_bytes());
        }
        out.extend_from_slice(&encode_pointers(&self.index));
        out
    }

    /// Decodes a root; `None` for any inconsistency.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let (header, rest) = bytes.split_at_checked(ROOT_HEADER_LEN)?;
        let (&version, header) = header.split_first()?;
        let (&lower_count, header) = header.split_first()?;
        if version != ROOT_VERSION || usize::from(lower_count) > MAX_LOWER {
            return None;
        }
        let (key, header) = header.split_at_checked(32)?;
        let (id, header) = header.split_at_checked(16)?;
        let (size, count) = header.split_at_checked(8)?;
        let logical_size = u64::from_le_bytes(size.try_into().ok()?);
        let index_count = usize::try_from(u32::from_le_bytes(count.try_into().ok()?)).ok()?;
        let (lower_bytes, index_bytes) = rest.split_at_checked(32 * usize::from(lower_count))?;
        let index = decode_pointers(index_bytes)?;
        if index.len() != index_count || !logical_size.is_multiple_of(4096) || logical_size == 0 {
            return None;
        }
        let lower = lower_bytes
            .chunks_exact(32)
            .map(|c| {
                let mut k: [u8; 32] = c.try_into().ok()?;
                let key = SecretKey::from_bytes(k);
                k.zeroize();
                Some(key)
            })
            .collect::<Option<Vec<_>>>()?;
        let mut vk: [u8; 32] = key.try_into().ok()?;
        let volume_key = SecretKey::from_bytes(vk);
        vk.zeroize();
        Some(Self {
            volume_key,
            volume_id: id.try_into().ok()?,
            logical_size,
            lower,
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_round_trip_and_rejects_garbage() {
        let root = Root {
            volume_key: SecretKey::from_bytes([1; 32]),
            volume_id: [2; 16],
            logical_size: 8192,
            lower: vec![SecretKey::from_bytes([3; 32])],
            index: vec![5, 0, 7],
        };
        let bytes = root.encode();
        let back = Root::decode(&bytes).unwrap();
        assert_eq!(back.volume_key.as_bytes(), &[1; 32]);
        assert_eq!(back.lower[0].as_bytes(), &[3; 32]);
        assert_eq!(
            (back.volume_id, back.logical_size, back.index),
            ([2; 16], 8192, vec![5, 0, 7])
        );
        for cut in 0..bytes.len() {
            assert!(Root::decode(&bytes[..cut]).is_none(), "{cut}");
        }
        let mut bad = bytes.to_vec();
        bad[0] = 2;
        assert!(Root::decode(&bad).is_none());
    }

    #[test]
    fn leaf_round_trip() {
        let mut leaf = Leaf::empty();
        leaf.entries[3] = Entry {
            block: 9,
            nonce: [4; 24],
            tag: [5; 16],
        };
        let bytes = leaf.encode();
        assert_eq!(bytes.len(), 4032);
        let back = Leaf::decode(&bytes).unwrap();
        assert!(back.entries == leaf.entries);
        assert!(Leaf::decode(&bytes[1..]).is_none());
    }
}
