//! A toy deniable volume on the qsmm primitives: a metadata root in the Shamir mesh, extent-map
//! blocks and data blocks, all sealed.
//!
//! Layout of one volume (everything sealed, everything at keyed or recorded positions):
//!
//! ```text
//! mesh root (k-of-n shares at key-derived blocks)
//!   └─ map blocks (ids recorded in the root)
//!        └─ data blocks (ids recorded in the map blocks)
//! ```
//!
//! Root: `"qsmm/example/rt1"` (16 bytes) ‖ data block count (u32 LE) ‖ map block count (u32 LE)
//! ‖ map block ids (u64 LE each). A map block holds up to `capacity / 8` data block ids
//! (u64 LE each), in order.

use std::collections::BTreeSet;

use qsmm::shatter::{MeshConfig, MetadataMesh};
use qsmm::types::{BlockId, Error, Result, SecretKey, Threshold};
use qsmm::void::{BlockDevice, Namespace};

/// Domain tag at the start of a root.
const ROOT_TAG: &[u8; 16] = b"qsmm/example/rt1";

/// The mesh every volume of these examples uses: 3-of-5 over the whole medium.
pub(crate) fn mesh(device: &dyn BlockDevice) -> Result<MetadataMesh> {
    Ok(MetadataMesh::new(MeshConfig {
        threshold: Threshold::new(3, 5),
        total_blocks: device.block_count(),
    }))
}

/// The blocks a key's mesh may occupy (both update slots): never allocated to data.
pub(crate) fn mesh_blocks(
    device: &dyn BlockDevice,
    key: &SecretKey,
    hw: &[u8],
) -> Result<Vec<BlockId>> {
    mesh(device)?.blocks_to_read(key, hw)
}

/// Writes a new volume of `key` holding `blocks` (each at most one block's capacity).
///
/// `in_use` holds every block used by the volumes that are open now (their mesh blocks and
/// data); this volume's mesh blocks are added before allocation and its blocks are added as
/// they are allocated, so open volumes never overwrite each other. Returns the data block ids.
pub(crate) fn create(
    device: &dyn BlockDevice,
    key: &SecretKey,
    hw: &[u8],
    blocks: &[Vec<u8>],
    in_use: &mut BTreeSet<BlockId>,
) -> Result<Vec<BlockId>> {
    let mesh = mesh(device)?;
    let reserved = mesh.blocks_to_read(key, hw)?;
    in_use.extend(reserved.iter().copied());
    let namespace = Namespace::new(key.clone_key(), hw)?;
    let allocator = namespace.data_allocator(device.block_count(), &reserved)?;
    let mut next = 0;

    let mut data_ids = Vec::with_capacity(blocks.len());
    for data in blocks {
        let id = allocator.allocate(&mut next, &|id| in_use.contains(&id))?;
        in_use.insert(id);
        namespace.write_block(device, id, data)?;
        data_ids.push(id);
    }

    let ids_per_map = namespace.capacity() / 8;
    let mut map_ids = Vec::new();
    for chunk in data_ids.chunks(ids_per_map) {
        let id = allocator.allocate(&mut next, &|id| in_use.contains(&id))?;
        in_use.insert(id);
        let map: Vec<u8> = chunk.iter().flat_map(|b| b.to_le_bytes()).collect();
        namespace.write_block(device, id, &map)?;
        map_ids.push(id);
    }

    let mut root = ROOT_TAG.to_vec();
    root.extend_from_slice(&count(data_ids.len())?.to_le_bytes());
    root.extend_from_slice(&count(map_ids.len())?.to_le_bytes());
    for id in &map_ids {
        root.extend_from_slice(&id.to_le_bytes());
    }
    for placement in mesh.shard_metadata(&root, key, hw)? {
        device.write_block(placement.target_block, &placement.share)?;
    }
    device.flush()?;
    Ok(data_ids)
}

/// Opens the volume of `key`: `Ok(None)` if the medium holds no volume for this key.
pub(crate) fn open(
    device: &dyn BlockDevice,
    key: &SecretKey,
    hw: &[u8],
) -> Result<Option<Vec<Vec<u8>>>> {
    let mesh = mesh(device)?;
    let mut shares = Vec::new();
    for id in mesh.blocks_to_read(key, hw)? {
        let mut block = vec![0u8; device.block_size()];
        device.read_block(id, &mut block)?;
        shares.push((id, block));
    }
    let root = match mesh.reconstruct_metadata(key, hw, &shares) {
        Ok(root) => root,
        Err(Error::NotEnoughShares) => return Ok(None),
        Err(err) => return Err(err),
    };
    let Some(rest) = root.strip_prefix(ROOT_TAG.as_slice()) else {
        return Ok(None);
    };
    let (data_count, rest) = take_u32(rest)?;
    let (map_count, mut rest) = take_u32(rest)?;

    let namespace = Namespace::new(key.clone_key(), hw)?;
    let mut data_ids = Vec::new();
    for _ in 0..map_count {
        let (map_id, tail) = take_u64(rest)?;
        rest = tail;
        let map = namespace
            .read_block(device, BlockId(map_id))?
            .ok_or(Error::Crypto)?;
        for id in map.chunks_exact(8) {
            data_ids.push(BlockId(take_u64(id)?.0));
        }
    }
    if data_ids.len() != usize::try_from(data_count).map_err(|_| Error::Encoding("root"))? {
        return Err(Error::Encoding("root"));
    }
    let mut blocks = Vec::with_capacity(data_ids.len());
    for id in data_ids {
        blocks.push(namespace.read_block(device, id)?.ok_or(Error::Crypto)?);
    }
    Ok(Some(blocks))
}

fn count(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::InvalidParameter("too many blocks"))
}

fn take_u32(bytes: &[u8]) -> Result<(u32, &[u8])> {
    let (head, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or(Error::Encoding("root"))?;
    Ok((u32::from_le_bytes(*head), rest))
}

fn take_u64(bytes: &[u8]) -> Result<(u64, &[u8])> {
    let (head, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or(Error::Encoding("root"))?;
    Ok((u64::from_le_bytes(*head), rest))
}
