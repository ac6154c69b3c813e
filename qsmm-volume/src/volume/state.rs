//! An open volume in memory: its fixed parts, the state behind its lock, and the small
//! derivations every part of the volume uses.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use qsmm_shatter::mesh::KeyedMesh;
use qsmm_types::{SecretKey, derive_subkey, labels};
use qsmm_void::SectorCipher;
use rand_chacha::ChaCha20Rng;

use crate::bitmap::Bitmap;
use crate::error::{Error, Result};
use crate::map::{ENTRIES_PER_LEAF, Leaf, MapSealer, Pointer};
use crate::medium::{BLOCK_SIZE, Medium};
use crate::multi_snapshot::Class;
use crate::root::{Retired, Root};

/// Bytes per logical sector.
pub(super) const SECTOR: u64 = BLOCK_SIZE as u64;

/// The parts of an open volume; [`crate::Volume`] handles share one.
pub(super) struct VolumeInner {
    pub(super) medium: Medium,
    pub(super) logical_size: u64,
    pub(super) volume_id: [u8; 16],
    pub(super) cipher: SectorCipher,
    pub(super) map: MapSealer,
    /// How its writes reach the medium (the snapshot mode, and base or higher in multi).
    pub(super) class: Class,
    /// Lower volumes named by this root, held open for their protection.
    pub(super) lower: Vec<Arc<Self>>,
    pub(super) state: Mutex<State>,
}

/// What changes while a volume is open, behind its lock.
pub(super) struct State {
    /// In-memory fingerprint of the current passphrase (registry key).
    pub(super) fingerprint: [u8; 32],
    pub(super) mesh_key: SecretKey,
    pub(super) keyed: KeyedMesh,
    /// Physical blocks of both mesh slots.
    pub(super) mesh_blocks: Vec<u64>,
    /// Generation of the last durable root.
    pub(super) generation: u64,
    pub(super) volume_key: SecretKey,
    pub(super) lower_keys: Vec<SecretKey>,
    /// The alternative key of one lower volume the next root records (see [`Root`]).
    pub(super) lower_alt: Option<(usize, SecretKey)>,
    /// The retired root blocks the next root records (a passphrase change under way).
    pub(super) retired: Vec<Retired>,
    /// Pointer to each leaf (block 0 = no leaf: every entry unmapped).
    pub(super) leaf_ptrs: Vec<Pointer>,
    /// Pointer to each index block (block 0 = none yet).
    pub(super) index_ptrs: Vec<Pointer>,
    pub(super) dirty_index: BTreeSet<usize>,
    pub(super) cache: HashMap<u64, Leaf>,
    /// Leaves whose map block failed to authenticate at open.
    pub(super) bad_leaves: BTreeSet<u64>,
    /// Blocks this volume holds on the medium.
    pub(super) owned: Bitmap,
    /// Blocks allocated since the last durable root (free again at once when released).
    pub(super) fresh: Bitmap,
    /// Blocks holding this volume's map blocks (live or waiting to be freed): overwritten with
    /// noise before they return to the pool.
    pub(super) map_blocks: Bitmap,
    /// Map blocks released before any durable root referenced them: overwritten with noise and
    /// freed at the next flush.
    pub(super) scrub: Vec<u64>,
    /// Map blocks of the superseded root that the flush under way writes its map blocks into.
    pub(super) reuse: Vec<u64>,
    /// Blocks the durable root references but the next will not: released two roots later.
    pub(super) pending_now: Vec<u64>,
    pub(super) pending_prev: Vec<u64>,
    /// Blocks only the fallback root (read at open) references: freed with `pending_prev`,
    /// but they do not make a flush write a root by themselves.
    pub(super) fallback_only: Vec<u64>,
    /// Something changed since the last durable root.
    pub(super) changed: bool,
    /// A sync failed: no more writes (see [`crate::Error::ReadOnly`]).
    pub(super) read_only: bool,
    /// Moves of live blocks (higher volumes in multi-snapshot mode).
    pub(super) aging: Aging,
    pub(super) rng: ChaCha20Rng,
}

impl VolumeInner {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for VolumeInner {
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Map blocks no durable root references (a drop without a flush) hold a map nothing
        // will read: overwrite them before the pool gets them back. Best effort: a failing
        // medium leaves them as a crash would.
        let unreferenced: Vec<u64> = state
            .fresh
            .iter_ones()
            .filter(|&b| state.map_blocks.get(b))
            .chain(state.scrub.iter().copied())
            .collect();
        if !unreferenced.is_empty() {
            let mut noise = vec![0u8; BLOCK_SIZE];
            for b in unreferenced {
                rand_core::Rng::fill_bytes(&mut state.rng, &mut noise);
                self.medium
                    .device()
                    .write_block(qsmm_types::BlockId(b), &noise)
                    .ok();
            }
            self.medium.device().flush().ok();
        }
        self.medium.forget(state.owned.iter_ones());
    }
}

impl State {
    /// The root record of the current state.
    pub(super) fn root(&self, inner: &VolumeInner) -> Root {
        Root {
            volume_key: self.volume_key.clone_key(),
            volume_id: inner.volume_id,
            logical_size: inner.logical_size,
            lower: self.lower_keys.iter().map(SecretKey::clone_key).collect(),
            index: self.index_ptrs.clone(),
            retired: self.retired.clone(),
            lower_alt: self
                .lower_alt
                .as_ref()
                .map(|(position, key)| (*position, key.clone_key())),
        }
    }
}

/// `x` as an index; fails only where `usize` is narrower than the value.
pub(super) fn to_usize(x: u64) -> Result<usize> {
    usize::try_from(x).map_err(|_| Error::Internal("index beyond the address space"))
}

/// Leaves of a volume of `logical_size` bytes.
pub(super) fn leaf_count(logical_size: u64) -> u64 {
    (logical_size / SECTOR).div_ceil(ENTRIES_PER_LEAF)
}

/// Blocks a commit of a volume of `leaves` leaves and `index_blocks` index blocks may need: two
/// rewrites of its whole map, and two spare. Every open volume's share of the medium's reserve.
pub(super) fn commit_reserve(leaves: usize, index_blocks: usize) -> u64 {
    2 * (leaves + index_blocks) as u64 + 2
}

/// The in-memory identity of a passphrase's volume (never stored).
pub(super) fn fingerprint(mesh_key: &SecretKey, salt: &[u8]) -> [u8; 32] {
    *derive_subkey(mesh_key, salt, labels::VOLUME_HANDLE).as_bytes()
}

/// The sealer of the volume's map blocks.
pub(super) fn map_sealer(volume_key: &SecretKey, salt: &[u8], volume_id: [u8; 16]) -> MapSealer {
    let key = derive_subkey(volume_key, salt, labels::VOLUME_MAP);
    MapSealer::new(key.as_bytes(), volume_id)
}

/// What a higher volume keeps for aging (`volume::aging`).
#[derive(Debug, Default)]
pub(super) struct Aging {
    /// Slots of the mount already counted towards moves.
    pub(super) credited: u64,
    /// Old places of moved blocks, until the commit after the move frees them.
    pub(super) moved: BTreeSet<u64>,
    /// A move is under way (a flush the moves cause makes none).
    pub(super) busy: bool,
}
