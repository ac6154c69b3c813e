//! The map cache: leaves loaded on demand, changed in memory, and written copy-on-write to
//! fresh blocks (with the index blocks that point at them).

use qsmm_types::BlockId;
use qsmm_void::BlockDevice;
use rand_core::Rng;

use super::state::{State, VolumeInner, to_usize};
use crate::error::{Error, Result};
use crate::map::{
    ENTRIES_PER_LEAF, Entry, Kind, LEAVES_PER_INDEX_LEN, Leaf, MapSealer, Pointer, encode_pointers,
};
use crate::medium::BLOCK_SIZE;
use crate::multi_snapshot::Class;

/// Most map leaves kept in memory (about 4 KiB each): 1024 leaves ≈ 4 MiB, the map of 344 MiB
/// of sectors. Dirty leaves beyond it are written out (copy-on-write) before the next flush.
const MAX_CACHED_LEAVES: usize = 1024;

impl VolumeInner {
    /// The map entry of sector `lba`.
    pub(super) fn entry(&self, state: &mut State, lba: u64) -> Result<Entry> {
        let leaf = self.leaf_mut(state, lba / ENTRIES_PER_LEAF)?;
        leaf.entries
            .get(to_usize(lba % ENTRIES_PER_LEAF)?)
            .copied()
            .ok_or(Error::Internal("entry past its leaf"))
    }

    /// Replaces the entry of `lba`; returns the block it pointed at.
    pub(super) fn set_entry(&self, state: &mut State, lba: u64, entry: Entry) -> Result<u64> {
        let leaf = self.leaf_mut(state, lba / ENTRIES_PER_LEAF)?;
        let slot = leaf
            .entries
            .get_mut(to_usize(lba % ENTRIES_PER_LEAF)?)
            .ok_or(Error::Internal("entry past its leaf"))?;
        let old = slot.block;
        if *slot != entry {
            *slot = entry;
            leaf.dirty = true;
        }
        Ok(old)
    }

    /// Loads leaf `leaf` and marks it dirty, so that the next flush writes it to a fresh block.
    pub(super) fn mark_leaf_dirty(&self, state: &mut State, leaf: u64) -> Result<()> {
        self.leaf_mut(state, leaf)?.dirty = true;
        Ok(())
    }

    /// Whether leaf `leaf` exists (cached, on the medium, or failed at open).
    pub(super) fn has_leaf(state: &State, leaf: u64) -> Result<bool> {
        Ok(state.cache.contains_key(&leaf)
            || state.bad_leaves.contains(&leaf)
            || state
                .leaf_ptrs
                .get(to_usize(leaf)?)
                .is_some_and(|p| p.block != 0))
    }

    /// The cached leaf `leaf`, loading it (and making room in the cache) if needed.
    fn leaf_mut<'s>(&self, state: &'s mut State, leaf: u64) -> Result<&'s mut Leaf> {
        if state.bad_leaves.contains(&leaf) {
            return Err(Error::Integrity);
        }
        if !state.cache.contains_key(&leaf) {
            if state.cache.len() >= MAX_CACHED_LEAVES {
                self.shrink_cache(state)?;
            }
            let ptr = state
                .leaf_ptrs
                .get(to_usize(leaf)?)
                .copied()
                .unwrap_or(Pointer::NONE);
            let loaded = if ptr.block == 0 {
                Leaf::empty()
            } else {
                read_leaf(&self.dev(), &self.map, leaf, ptr).ok_or(Error::Integrity)?
            };
            state.cache.insert(leaf, loaded);
        }
        state
            .cache
            .get_mut(&leaf)
            .ok_or(Error::Internal("leaf missing from the cache"))
    }

    /// Writes out every dirty leaf and drops all clean ones from the cache.
    fn shrink_cache(&self, state: &mut State) -> Result<()> {
        self.write_dirty_leaves(state)?;
        state.cache.clear();
        Ok(())
    }

    /// Writes every dirty leaf of the cache to a fresh block.
    pub(super) fn write_dirty_leaves(&self, state: &mut State) -> Result<()> {
        let dirty: Vec<u64> = state
            .cache
            .iter()
            .filter(|(_, l)| l.dirty)
            .map(|(&i, _)| i)
            .collect();
        for leaf in dirty {
            self.write_leaf(state, leaf)?;
        }
        Ok(())
    }

    /// Writes every index block that points at a rewritten leaf to a fresh block.
    pub(super) fn write_dirty_index(&self, state: &mut State) -> Result<()> {
        let dirty_index: Vec<usize> = state.dirty_index.iter().copied().collect();
        for i in dirty_index {
            let start = i * LEAVES_PER_INDEX_LEN;
            let end = (start + LEAVES_PER_INDEX_LEN).min(state.leaf_ptrs.len());
            let plain = encode_pointers(state.leaf_ptrs.get(start..end).unwrap_or_default());
            let block = self.write_map_block(state, Kind::Index, i as u64, &plain)?;
            let slot = state
                .index_ptrs
                .get_mut(i)
                .ok_or(Error::Internal("index block past the index"))?;
            let old = core::mem::replace(slot, block);
            if old.block != 0 {
                state.release(&self.medium, old.block);
            }
            state.dirty_index.remove(&i);
        }
        Ok(())
    }

    /// Seals leaf `leaf` into a fresh block (copy-on-write) and points the index at it.
    fn write_leaf(&self, state: &mut State, leaf: u64) -> Result<()> {
        let Some(l) = state.cache.get(&leaf) else {
            return Ok(());
        };
        let plain = l.encode();
        let block = self.write_map_block(state, Kind::Leaf, leaf, &plain)?;
        let index = to_usize(leaf)?;
        let slot = state
            .leaf_ptrs
            .get_mut(index)
            .ok_or(Error::Internal("leaf past the map"))?;
        let old = core::mem::replace(slot, block);
        if old.block != 0 {
            state.release(&self.medium, old.block);
        }
        state.dirty_index.insert(index / LEAVES_PER_INDEX_LEN);
        if let Some(l) = state.cache.get_mut(&leaf) {
            l.dirty = false;
        }
        Ok(())
    }

    /// Seals `plain` as map block `number` of `kind` into a freshly allocated block, for the
    /// next root generation, and returns its pointer; on a write error the block is given back.
    fn write_map_block(
        &self,
        state: &mut State,
        kind: Kind,
        number: u64,
        plain: &[u8],
    ) -> Result<Pointer> {
        // During a flush, blocks of the superseded root's map blocks come first: writing there
        // overwrites an old map block instead of leaving it for noise. Then map blocks no
        // durable root ever referenced (leaves written out of a full cache and rewritten
        // since): overwriting them is as good as noise, and a cache that keeps spilling holds
        // one map of them, not one per spill. (A higher volume's writes are queued: its
        // released blocks wait for noise.)
        let recycled = match state.reuse.pop() {
            Some(block) => Some(block),
            None if self.class != Class::Higher => state.scrub.pop(),
            None => None,
        };
        let block = match recycled {
            Some(block) => block,
            None => self.medium.allocate()?,
        };
        state.owned.set(block);
        state.fresh.set(block);
        state.map_blocks.set(block);
        let at = Pointer::new(block, state.generation.wrapping_add(1));
        let mut nonce = [0u8; 24];
        state.rng.fill_bytes(&mut nonce);
        let written = self
            .map
            .seal(kind, number, at, &nonce, plain)
            .ok_or(Error::Internal("map block longer than a block"))
            .and_then(|sealed| Ok(self.dev().write_block(BlockId(block), &sealed)?));
        if let Err(e) = written {
            state.release(&self.medium, block);
            return Err(e);
        }
        Ok(at)
    }

    /// Overwrites `blocks` with fresh noise (map blocks leaving the volume).
    pub(super) fn scrub_blocks(&self, state: &mut State, blocks: &[u64]) -> Result<()> {
        let mut noise = vec![0u8; BLOCK_SIZE];
        for &b in blocks {
            state.rng.fill_bytes(&mut noise);
            // A higher volume's noise is queued and leaves the queue with the block: its
            // freed blocks are left to the slots, like any free block.
            self.dev().write_block(BlockId(b), &noise)?;
        }
        Ok(())
    }
}

/// Reads map block `number` of `kind` at `at` and opens it.
pub(super) fn read_map(
    device: &dyn BlockDevice,
    map: &MapSealer,
    kind: Kind,
    number: u64,
    at: Pointer,
) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; BLOCK_SIZE];
    device.read_block(BlockId(at.block), &mut buf)?;
    map.open(kind, number, at, &buf).ok_or(Error::Integrity)
}

/// Reads leaf `leaf` at `at`; `None` if it does not open or decode.
pub(super) fn read_leaf(
    device: &dyn BlockDevice,
    map: &MapSealer,
    leaf: u64,
    at: Pointer,
) -> Option<Leaf> {
    read_map(device, map, Kind::Leaf, leaf, at)
        .ok()
        .and_then(|plain| Leaf::decode(&plain))
}
