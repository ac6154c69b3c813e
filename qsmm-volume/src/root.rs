//! A volume's root: the record its mesh holds, where the mesh puts it on the medium, and
//! reading and writing its generations.
//!
//! # Root record (format 3)
//!
//! The metadata inside the `qsmm-shatter` shares (at most 3987 bytes), integers little-endian:
//!
//! ```text
//! offset      length  field
//! 0           1       version = 3
//! 1           1       m = number of lower volumes (≤ 14)
//! 2           32      volume key
//! 34          16      volume id (random; part of every sector's and map block's AAD)
//! 50          8       logical size in bytes (non-zero multiple of 4096)
//! 58          4       c = number of index blocks
//! 62          32·m    mesh keys of the lower volumes
//! 62+32m      12·c    pointer to each index block (block u64, generation u32; 0 = none yet)
//! e = 62+32m+12c
//! e           1       r = retired root blocks (≤ 8)
//! e+1         1       a = 1 + position of the lower volume with an alternative key (0 = none)
//! e+2         32·[a>0] the alternative mesh key of that lower volume
//! then        24·r    each retired root block: physical block (u64), SHA-256 of its content
//!                     when the root was written, first 16 bytes
//! ```
//!
//! The **retired root blocks** are the roll-forward record of a passphrase change: the blocks
//! of the root under the old passphrase, which the change overwrites with noise after this
//! root is durable. Every open of this root first overwrites with noise those of them that
//! still hold what they held (the digest matches), and syncs, so that a crash between the new
//! root and the noise never leaves two passphrases that open the volume once the new one has
//! been used. The next root written drops the record.
//!
//! The **alternative key** is the other half of a passphrase change seen from above: a volume
//! whose lower volume changes its passphrase names the new key first and the old one as the
//! alternative (durable before the lower volume's new root is written), and opens the lower
//! volume by the alternative only if the new key opens nothing. The next root written after
//! the change drops it.
//!
//! Format 2 is format 3 without the trailer (no record, no alternative key); it is still read.
//!
//! The first generation of a volume is a random number in `[2^61, 2^62)`, so the generation
//! (which the mesh records in every share) counts nothing a surrendered passphrase could use.

use qsmm_shatter::mesh::{KeyedMesh, MetadataMesh};
use qsmm_types::{BlockId, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::map::{POINTER_LEN, Pointer, decode_pointers, encode_pointers};
use crate::medium::{BLOCK_SIZE, Medium};

/// Most lower volumes a root names (15 volumes per medium: one and the 14 below it).
pub(crate) const MAX_LOWER: usize = 14;
/// Version byte of the root record: 3 since roots carry the roll-forward of a passphrase
/// change; 2 (map blocks bind kind, number and generation; no trailer) is still read.
const ROOT_VERSION: u8 = 3;
/// The version before the trailer.
const ROOT_VERSION_2: u8 = 2;
/// Bytes of the root before the lower keys: version, lower count, volume key, volume id,
/// logical size, index count.
const ROOT_HEADER_LEN: usize = 1 + 1 + 32 + 16 + 8 + 4;
/// Most retired root blocks a root records (a mesh root's two slots of four shares).
pub(crate) const MAX_RETIRED: usize = 8;
/// Bytes of a retired root block's digest.
const DIGEST_LEN: usize = 16;
/// Bytes of one retired root block in the record.
const RETIRED_LEN: usize = 8 + DIGEST_LEN;
/// The most the trailer takes: counts, an alternative key, a full record.
const TRAILER_MAX: usize = 2 + 32 + RETIRED_LEN * MAX_RETIRED;

/// A block of a root retired by a passphrase change, and what it held when the new root was
/// written (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Retired {
    /// Physical block.
    pub(crate) block: u64,
    /// First bytes of the SHA-256 of its content.
    pub(crate) digest: [u8; DIGEST_LEN],
}

impl Retired {
    /// Records `block` holding `content`.
    pub(crate) fn new(block: u64, content: &[u8]) -> Self {
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(&Sha256::digest(content)[..DIGEST_LEN]);
        Self { block, digest }
    }

    /// Whether the block still holds what it held when recorded.
    pub(crate) fn holds(&self, content: &[u8]) -> bool {
        Sha256::digest(content)[..DIGEST_LEN] == self.digest
    }
}

/// An alternative key of one lower volume: its position in the list, the key.
pub(crate) type LowerAlt = (usize, SecretKey);

/// The root record a volume's mesh holds.
pub(crate) struct Root {
    pub(crate) volume_key: SecretKey,
    pub(crate) volume_id: [u8; 16],
    pub(crate) logical_size: u64,
    pub(crate) lower: Vec<SecretKey>,
    pub(crate) index: Vec<Pointer>,
    /// Blocks of the root under the previous passphrase, to overwrite at open.
    pub(crate) retired: Vec<Retired>,
    /// An alternative key of one lower volume (its position): its key before a passphrase
    /// change, tried when the named key opens nothing.
    pub(crate) lower_alt: Option<LowerAlt>,
}

impl Root {
    /// The largest number of index blocks a root of `lower` lower keys can hold in `capacity`
    /// bytes (room for the largest trailer kept).
    pub(crate) fn max_index(capacity: usize, lower: usize) -> usize {
        capacity.saturating_sub(ROOT_HEADER_LEN + 32 * lower + TRAILER_MAX) / POINTER_LEN
    }

    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            ROOT_HEADER_LEN + 32 * self.lower.len() + POINTER_LEN * self.index.len(),
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
        out.push(u8::try_from(self.retired.len()).unwrap_or(u8::MAX));
        match &self.lower_alt {
            Some((position, key)) => {
                out.push(u8::try_from(position + 1).unwrap_or(0));
                out.extend_from_slice(key.as_bytes());
            }
            None => out.push(0),
        }
        for r in &self.retired {
            out.extend_from_slice(&r.block.to_le_bytes());
            out.extend_from_slice(&r.digest);
        }
        out
    }

    /// Decodes a root; `None` for any inconsistency.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let (header, rest) = bytes.split_at_checked(ROOT_HEADER_LEN)?;
        let (&version, header) = header.split_first()?;
        let (&lower_count, header) = header.split_first()?;
        if !(version == ROOT_VERSION || version == ROOT_VERSION_2)
            || usize::from(lower_count) > MAX_LOWER
        {
            return None;
        }
        let (key, header) = header.split_at_checked(32)?;
        let (id, header) = header.split_at_checked(16)?;
        let (size, count) = header.split_at_checked(8)?;
        let logical_size = u64::from_le_bytes(size.try_into().ok()?);
        let index_count = usize::try_from(u32::from_le_bytes(count.try_into().ok()?)).ok()?;
        let (lower_bytes, rest) = rest.split_at_checked(32 * usize::from(lower_count))?;
        let (index_bytes, trailer) =
            rest.split_at_checked(index_count.checked_mul(POINTER_LEN)?)?;
        if !logical_size.is_multiple_of(4096) || logical_size == 0 {
            return None;
        }
        let index = decode_pointers(index_bytes, index_count)?;
        let (retired, lower_alt) = if version == ROOT_VERSION_2 {
            trailer.is_empty().then_some((Vec::new(), None))?
        } else {
            decode_trailer(trailer, usize::from(lower_count))?
        };
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
            retired,
            lower_alt,
        })
    }
}

/// Decodes the trailer of a format 3 root (`lower_count` lower keys); `None` if inconsistent.
fn decode_trailer(trailer: &[u8], lower_count: usize) -> Option<(Vec<Retired>, Option<LowerAlt>)> {
    let (&count, rest) = trailer.split_first()?;
    let (&alt, rest) = rest.split_first()?;
    let count = usize::from(count);
    if count > MAX_RETIRED || usize::from(alt) > lower_count {
        return None;
    }
    let (lower_alt, rest) = match alt.checked_sub(1) {
        Some(position) => {
            let (key, rest) = rest.split_at_checked(32)?;
            let mut k: [u8; 32] = key.try_into().ok()?;
            let key = SecretKey::from_bytes(k);
            k.zeroize();
            (Some((usize::from(position), key)), rest)
        }
        None => (None, rest),
    };
    if rest.len() != count * RETIRED_LEN {
        return None;
    }
    let retired = rest
        .chunks_exact(RETIRED_LEN)
        .map(|c| {
            Some(Retired {
                block: u64::from_le_bytes(c.get(..8)?.try_into().ok()?),
                digest: c.get(8..)?.try_into().ok()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some((retired, lower_alt))
}

/// Mesh positions are in `[0, block_count - 1)`; block 0 holds the salt, so position `p` is
/// physical block `p + 1`.
pub(crate) fn physical_mesh_blocks(keyed: &KeyedMesh) -> Vec<u64> {
    keyed.blocks_to_read().iter().map(|b| b.get() + 1).collect()
}

/// Reads the newest root generation: `Err(NoVolume)` if none reconstructs.
pub(crate) fn read_root(medium: &Medium, keyed: &KeyedMesh) -> Result<(u64, Root)> {
    let mut blocks = Vec::with_capacity(keyed.blocks_to_read().len());
    for &id in keyed.blocks_to_read() {
        let mut buf = vec![0u8; BLOCK_SIZE];
        medium
            .device()
            .read_block(BlockId(id.get() + 1), &mut buf)?;
        blocks.push((id, buf));
    }
    let read = keyed.read_latest(&blocks).map_err(|_| Error::NoVolume)?;
    let root = Root::decode(&read.metadata).ok_or(Error::NoVolume)?;
    Ok((read.generation, root))
}

/// Places a passphrase's mesh root may take in one geometry. A new root takes a variant drawn
/// uniformly among those whose blocks are not another open volume's root (nor held by a volume
/// that cannot move), so that `create` and `change_passphrase` fail on placement only when all
/// of them are; an open tries them all.
pub(crate) const ROOT_VARIANTS: u8 = 8;
/// What follows the salt in the mesh's entropy for variants after the first.
const VARIANT_TAG: &[u8] = b"qsmm/v1/vol/root-variant";

/// The keyed mesh of root variant `variant` of `mesh_key` in geometry `mesh`: variant 0 keys it
/// with the medium's salt (as before variants existed), variant `v > 0` with the salt, a tag and
/// `v`, so that every variant has its own independent positions and share keys.
pub(crate) fn keyed_variant(
    mesh: &MetadataMesh,
    mesh_key: &SecretKey,
    salt: &[u8; 32],
    variant: u8,
) -> Result<KeyedMesh> {
    if variant == 0 {
        return Ok(mesh.for_key(mesh_key, *salt)?);
    }
    let mut entropy = Vec::with_capacity(salt.len() + VARIANT_TAG.len() + 1);
    entropy.extend_from_slice(salt);
    entropy.extend_from_slice(VARIANT_TAG);
    entropy.push(variant);
    Ok(mesh.for_key(mesh_key, entropy)?)
}

/// Finds the root of `mesh_key` on the medium, in any geometry it may use (see
/// [`Medium::meshes`]) and any variant: its keyed mesh, generation and record;
/// `Err(NoVolume)` if none.
pub(crate) fn find_root(medium: &Medium, mesh_key: &SecretKey) -> Result<(KeyedMesh, u64, Root)> {
    for mesh in medium.meshes() {
        for variant in 0..ROOT_VARIANTS {
            let keyed = keyed_variant(&mesh, mesh_key, medium.salt(), variant)?;
            match read_root(medium, &keyed) {
                Ok((generation, root)) => return Ok((keyed, generation, root)),
                Err(Error::NoVolume) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Err(Error::NoVolume)
}

/// Reads the root in mesh slot `slot` (0 or 1) alone: the fallback generation.
pub(crate) fn read_root_slot(medium: &Medium, keyed: &KeyedMesh, slot: u64) -> Option<(u64, Root)> {
    let all = keyed.blocks_to_read();
    let per_slot = all.len() / 2;
    let start = usize::try_from(slot).ok()?.checked_mul(per_slot)?;
    let mut blocks = Vec::with_capacity(per_slot);
    for &id in all.get(start..start + per_slot)? {
        let mut buf = vec![0u8; BLOCK_SIZE];
        medium
            .device()
            .read_block(BlockId(id.get() + 1), &mut buf)
            .ok()?;
        blocks.push((id, buf));
    }
    let read = keyed.read_latest(&blocks).ok()?;
    let root = Root::decode(&read.metadata)?;
    Some((read.generation, root))
}

/// Writes root generation `generation` to its slot; the caller syncs.
pub(crate) fn write_root(
    medium: &Medium,
    keyed: &KeyedMesh,
    root: &Root,
    generation: u64,
) -> Result<()> {
    let encoded = root.encode();
    for p in keyed.shard_metadata_generation(&encoded, generation)? {
        medium
            .device()
            .write_block(BlockId(p.target_block.get() + 1), &p.share)?;
    }
    Ok(())
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
            index: vec![Pointer::new(5, 1), Pointer::NONE, Pointer::new(7, 2)],
            retired: vec![Retired::new(9, b"share"), Retired::new(11, b"other share")],
            lower_alt: Some((0, SecretKey::from_bytes([4; 32]))),
        };
        let bytes = root.encode();
        let back = Root::decode(&bytes).unwrap();
        assert_eq!(back.volume_key.as_bytes(), &[1; 32]);
        assert_eq!(back.lower[0].as_bytes(), &[3; 32]);
        assert_eq!(back.retired, root.retired);
        assert!(back.retired[0].holds(b"share") && !back.retired[0].holds(b"shard"));
        let (position, alt) = back.lower_alt.as_ref().unwrap();
        assert_eq!((*position, alt.as_bytes()), (0, &[4; 32]));
        assert_eq!(
            (back.volume_id, back.logical_size, back.index),
            (
                [2; 16],
                8192,
                vec![Pointer::new(5, 1), Pointer::NONE, Pointer::new(7, 2)]
            )
        );
        for cut in 0..bytes.len() {
            assert!(Root::decode(&bytes[..cut]).is_none(), "{cut}");
        }
        let mut bad = bytes.to_vec();
        bad[0] = 1;
        assert!(Root::decode(&bad).is_none());
        // An alternative key for a lower volume that is not there, too many retired blocks.
        let alt_at = bytes.len() - 2 * RETIRED_LEN - 32 - 1;
        let mut bad = bytes.to_vec();
        bad[alt_at] = 2;
        assert!(Root::decode(&bad).is_none());
        let mut bad = bytes.to_vec();
        bad[alt_at - 1] = 9;
        assert!(Root::decode(&bad).is_none());
    }

    #[test]
    fn a_format_2_root_reads_without_record_or_alternative_key() {
        let root = Root {
            volume_key: SecretKey::from_bytes([1; 32]),
            volume_id: [2; 16],
            logical_size: 4096,
            lower: Vec::new(),
            index: vec![Pointer::new(5, 1)],
            retired: Vec::new(),
            lower_alt: None,
        };
        let mut v2 = root.encode().to_vec();
        v2.truncate(v2.len() - 2);
        v2[0] = 2;
        let back = Root::decode(&v2).unwrap();
        assert!(back.retired.is_empty() && back.lower_alt.is_none());
        assert_eq!(back.index, vec![Pointer::new(5, 1)]);
        v2.push(0);
        assert!(Root::decode(&v2).is_none(), "format 2 has no trailer");
    }
}
