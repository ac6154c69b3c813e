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

#[cfg(test)]
mod tests {
    use super::*;

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
