//! An open volume in memory: its fixed parts, the state behind its lock, and the small
//! derivations every part of the volume uses.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use qsmm_shatter::mesh::KeyedMesh;
use qsmm_types::{SecretKey, derive_subkey, labels};
use qsmm_void::{Namespace, SectorCipher};
use rand_chacha::ChaCha20Rng;

use crate::bitmap::Bitmap;
use crate::error::{Error, Result};
use crate::map::{ENTRIES_PER_LEAF, Leaf};
use crate::medium::{BLOCK_SIZE, Medium};
use crate::multi_snapshot::Class;
use crate::root::Root;

/// Bytes per logical sector.
pub(super) const SECTOR: u64 = BLOCK_SIZE as u64;

/// The parts of an open volume; [`crate::Volume`] handles share one.
pub(super) struct VolumeInner {
    pub(super) medium: Medium,
    pub(super) logical_size: u64,
    pub(super) volume_id: [u8; 16],
    pub(super) cipher: SectorCipher,
    pub(super) map: Namespace,
    /// How its writes reach the medium (the snapshot mode, and base or higher in multi).
    pub(super) class: Class,
    /// Lower volumes named by this root, held open for their protection.
    pub(super) _lower: Vec<Arc<Self>>,
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
    /// Physical block of each leaf (0 = no leaf: every entry unmapped).
    pub(super) leaf_ptrs: Vec<u64>,
    /// Physical block of each index block (0 = none yet).
    pub(super) index_ptrs: Vec<u64>,
    pub(super) dirty_index: BTreeSet<usize>,
    pub(super) cache: HashMap<u64, Leaf>,
    /// Leaves whose map block failed to authenticate at open.
    pub(super) bad_leaves: BTreeSet<u64>,
    /// Blocks this volume holds on the medium.
    pub(super) owned: Bitmap,
    /// Blocks allocated since the last durable root (free again at once when released).
    pub(super) fresh: Bitmap,
    /// Blocks the durable root references but the next will not: released two roots later.
    pub(super) pending_now: Vec<u64>,
    pub(super) pending_prev: Vec<u64>,
    /// Something changed since the last durable root.
    pub(super) changed: bool,
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

/// The in-memory identity of a passphrase's volume (never stored).
pub(super) fn fingerprint(mesh_key: &SecretKey, salt: &[u8]) -> [u8; 32] {
    *derive_subkey(mesh_key, salt, labels::VOLUME_HANDLE).as_bytes()
}

/// The namespace that seals the volume's map blocks.
pub(super) fn map_namespace(volume_key: &SecretKey, salt: &[u8]) -> Result<Namespace> {
    Ok(Namespace::new(
        derive_subkey(volume_key, salt, labels::VOLUME_MAP),
        salt,
    )?)
}
