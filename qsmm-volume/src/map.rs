//! The on-disk structures of a volume's map under its root: index blocks and map leaves, and how
//! they are sealed.
//!
//! # Map blocks (format 2)
//!
//! Every map block is 4096 bytes: a fresh random 24-byte nonce, the 16-byte Poly1305 tag, then
//! 4056 bytes of XChaCha20 ciphertext, under the map key (`HKDF(volume key, salt,
//! "qsmm/v1/volume/map")`). The associated data binds what the block is and when it was written:
//!
//! ```text
//! "qsmm/v2/vol/map_" (16) ‖ volume id (16) ‖ kind (1: 0 leaf, 1 index) ‖ number (u64: leaf or
//! index block number) ‖ generation (u32: low 32 bits of the root generation the block was
//! written for) ‖ physical block (u64)
//! ```
//!
//! so a map block opens only as the leaf or index block its parent's pointer names, at the
//! generation that pointer records: an old version of a leaf put back in place, a leaf moved to
//! another number or a leaf of another volume does not authenticate.
//!
//! A **pointer** (in index blocks and in the root) is 12 bytes: physical block (u64, 0 = none)
//! and the generation its block was written for (u32).
//!
//! An **index block**'s plaintext is up to 338 pointers (4056 bytes), zero-padded; index block
//! `i` covers leaves `338·i … 338·i + 337`. A **leaf**'s plaintext is 84 entries of 48 bytes
//! (4032 bytes) and 24 zero bytes; leaf `j` maps sectors `84·j … 84·j + 83`:
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
//! does not authenticate. A 1 GiB volume has 3121 leaves and 10 index blocks: 0.3 % overhead.
//!
//! Format 1 (root version 1) sealed map blocks as `qsmm-void` namespace blocks with the block
//! id alone as associated data and 8-byte pointers; it is not read any more.

use qsmm_void::SectorCipher;

/// Domain tag at the start of a map block's associated data.
const MAP_AAD_DOMAIN: [u8; 16] = *b"qsmm/v2/vol/map_";
/// Bytes of a map block's plaintext: the block less nonce and tag.
pub(crate) const MAP_PLAIN_LEN: usize = 4096 - 24 - 16;
/// Bytes of a pointer: block (8) and generation (4).
pub(crate) const POINTER_LEN: usize = 12;

/// Bytes of one map entry: block (8), nonce (24), tag (16).
pub(crate) const ENTRY_LEN: usize = 48;
/// Map entries per leaf: 84 × 48 = 4032 bytes, within a sealed block's 4052.
pub(crate) const ENTRIES_PER_LEAF: u64 = 84;
/// [`ENTRIES_PER_LEAF`] as a `usize`.
pub(crate) const ENTRIES_PER_LEAF_LEN: usize = 84;
/// Leaf pointers per index block: 338 × 12 = 4056 bytes.
pub(crate) const LEAVES_PER_INDEX: u64 = 338;
/// [`LEAVES_PER_INDEX`] as a `usize`.
pub(crate) const LEAVES_PER_INDEX_LEN: usize = 338;

/// What a map block is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// A leaf of map entries.
    Leaf = 0,
    /// An index block of leaf pointers.
    Index = 1,
}

/// Where a map block lives and the generation it was written for (block 0 = none).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Pointer {
    pub(crate) block: u64,
    pub(crate) generation: u32,
}

impl Pointer {
    /// No block.
    pub(crate) const NONE: Self = Self {
        block: 0,
        generation: 0,
    };

    /// The pointer to `block` written for root generation `generation` (its low 32 bits).
    pub(crate) const fn new(block: u64, generation: u64) -> Self {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "the low 32 bits are what the format binds"
        )]
        let generation = generation as u32;
        Self { block, generation }
    }
}

/// Seals and opens a volume's map blocks (layout in the module docs).
pub(crate) struct MapSealer {
    cipher: SectorCipher,
    volume_id: [u8; 16],
}

impl MapSealer {
    /// The sealer of the map key `key` of volume `volume_id`.
    pub(crate) fn new(key: &[u8; 32], volume_id: [u8; 16]) -> Self {
        Self {
            cipher: SectorCipher::new(key),
            volume_id,
        }
    }

    fn aad(&self, kind: Kind, number: u64, at: Pointer) -> [u8; 53] {
        let mut aad = [0u8; 53];
        aad[..16].copy_from_slice(&MAP_AAD_DOMAIN);
        aad[16..32].copy_from_slice(&self.volume_id);
        aad[32] = kind as u8;
        aad[33..41].copy_from_slice(&number.to_le_bytes());
        aad[41..45].copy_from_slice(&at.generation.to_le_bytes());
        aad[45..53].copy_from_slice(&at.block.to_le_bytes());
        aad
    }

    /// Seals `plain` (at most [`MAP_PLAIN_LEN`] bytes, zero-padded) as map block `number` of
    /// `kind` stored at `at`; `nonce` must be fresh.
    pub(crate) fn seal(
        &self,
        kind: Kind,
        number: u64,
        at: Pointer,
        nonce: &[u8; 24],
        plain: &[u8],
    ) -> Option<Vec<u8>> {
        if plain.len() > MAP_PLAIN_LEN {
            return None;
        }
        let mut body = vec![0u8; MAP_PLAIN_LEN];
        body.get_mut(..plain.len())?.copy_from_slice(plain);
        let tag =
            self.cipher
                .encrypt_in_place_detached(nonce, &self.aad(kind, number, at), &mut body);
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&tag);
        out.extend_from_slice(&body);
        Some(out)
    }

    /// Opens a block read from `at` as map block `number` of `kind`; `None` if it does not
    /// authenticate.
    pub(crate) fn open(
        &self,
        kind: Kind,
        number: u64,
        at: Pointer,
        sealed: &[u8],
    ) -> Option<Vec<u8>> {
        let (nonce, rest) = sealed.split_at_checked(24)?;
        let (tag, body) = rest.split_at_checked(16)?;
        if body.len() != MAP_PLAIN_LEN {
            return None;
        }
        let mut plain = body.to_vec();
        self.cipher
            .decrypt_in_place_detached(
                nonce.try_into().ok()?,
                &self.aad(kind, number, at),
                &mut plain,
                tag.try_into().ok()?,
            )
            .ok()?;
        Some(plain)
    }
}

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

    /// Decodes a leaf from a map block's plaintext: `ENTRIES_PER_LEAF` entries, then zeros.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let (bytes, padding) = bytes.split_at_checked(ENTRY_LEN * ENTRIES_PER_LEAF_LEN)?;
        if padding.iter().any(|&b| b != 0) {
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

/// Encodes a run of pointers (block u64, generation u32, little-endian).
pub(crate) fn encode_pointers(pointers: &[Pointer]) -> Vec<u8> {
    let mut out = Vec::with_capacity(POINTER_LEN * pointers.len());
    for p in pointers {
        out.extend_from_slice(&p.block.to_le_bytes());
        out.extend_from_slice(&p.generation.to_le_bytes());
    }
    out
}

/// Decodes exactly `count` pointers from the start of `bytes`; `None` if `bytes` is shorter or
/// anything after them is not zero.
pub(crate) fn decode_pointers(bytes: &[u8], count: usize) -> Option<Vec<Pointer>> {
    let (used, padding) = bytes.split_at_checked(count.checked_mul(POINTER_LEN)?)?;
    if padding.iter().any(|&b| b != 0) {
        return None;
    }
    used.chunks_exact(POINTER_LEN)
        .map(|c| {
            let (block, generation) = c.split_at(8);
            Some(Pointer {
                block: u64::from_le_bytes(block.try_into().ok()?),
                generation: u32::from_le_bytes(generation.try_into().ok()?),
            })
        })
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

    #[test]
    fn map_blocks_open_only_as_what_their_pointer_names() {
        let sealer = MapSealer::new(&[9; 32], [1; 16]);
        let at = Pointer::new(77, (1 << 40) + 5);
        let sealed = sealer
            .seal(Kind::Leaf, 3, at, &[4; 24], b"entries")
            .unwrap();
        assert_eq!(sealed.len(), 4096);
        let plain = sealer.open(Kind::Leaf, 3, at, &sealed).unwrap();
        assert_eq!((&plain[..7], plain.len()), (&b"entries"[..], MAP_PLAIN_LEN));
        let older = Pointer::new(77, (1 << 40) + 4);
        let moved = Pointer::new(78, (1 << 40) + 5);
        assert!(sealer.open(Kind::Index, 3, at, &sealed).is_none());
        assert!(sealer.open(Kind::Leaf, 4, at, &sealed).is_none());
        assert!(sealer.open(Kind::Leaf, 3, older, &sealed).is_none());
        assert!(sealer.open(Kind::Leaf, 3, moved, &sealed).is_none());
        let other = MapSealer::new(&[9; 32], [2; 16]);
        assert!(other.open(Kind::Leaf, 3, at, &sealed).is_none());
    }

    #[test]
    fn pointers_round_trip_and_reject_garbage_padding() {
        let ptrs = [
            Pointer::new(5, 7),
            Pointer::NONE,
            Pointer::new(u64::MAX, u64::MAX),
        ];
        let mut bytes = encode_pointers(&ptrs);
        bytes.resize(MAP_PLAIN_LEN, 0);
        assert_eq!(decode_pointers(&bytes, 3).unwrap(), ptrs);
        assert!(decode_pointers(&bytes, 339).is_none());
        bytes[100] = 1;
        assert!(decode_pointers(&bytes, 3).is_none());
    }
}
