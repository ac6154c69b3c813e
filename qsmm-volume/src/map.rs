//! The on-disk structures of a volume's map under its root: index blocks and map leaves (byte
//! layouts in ARCHITECTURE.md, "Deniable volumes").

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
