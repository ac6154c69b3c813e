//! Opening and creating volumes: deriving the root's key, reading or writing the first root,
//! walking the map to claim its blocks, opening the lower volumes, and assembling the parts.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use qsmm_shatter::mesh::KeyedMesh;
use qsmm_types::{SecretKey, derive_subkey, labels};
use qsmm_void::SectorCipher;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroize;

use super::cache::{read_leaf, read_sealed};
use super::state::{SECTOR, State, VolumeInner, fingerprint, leaf_count, map_namespace, to_usize};
use crate::bitmap::Bitmap;
use crate::error::{Error, Result};
use crate::map::{ENTRIES_PER_LEAF, LEAVES_PER_INDEX, LEAVES_PER_INDEX_LEN, decode_pointers};
use crate::medium::{Medium, OpenVolume};
use crate::multi_snapshot::{Class, SnapshotMode, find_root, root_area};
use crate::root::{MAX_LOWER, Root, physical_mesh_blocks, read_root, write_root};

/// Everything an open volume is made of, read from its root or made by `create`.
struct Parts {
    mesh_key: SecretKey,
    keyed: KeyedMesh,
    mesh_blocks: Vec<u64>,
    /// Generation of the durable root.
    generation: u64,
    root: Root,
    /// Blocks the volume holds (mesh slots and everything its map references).
    owned: Bitmap,
    /// Leaves whose map blocks failed to authenticate.
    bad_leaves: BTreeSet<u64>,
    /// Lower volumes, open for their protection.
    lower: Vec<Arc<VolumeInner>>,
    /// The block of each leaf, read from the index (`None`: a new volume, no leaves).
    leaf_ptrs: Option<Vec<u64>>,
    /// How its writes reach the medium.
    class: Class,
}

/// Creates a volume (see [`crate::Volume::create`]).
pub(super) fn create(
    medium: &Medium,
    passphrase: &[u8],
    logical_size: u64,
    protect: &[&Arc<VolumeInner>],
    mode: SnapshotMode,
) -> Result<Arc<VolumeInner>> {
    let multi = mode == SnapshotMode::Multi;
    let capacity = if multi {
        medium.mesh().max_metadata_len().min(root_area::CAPACITY)
    } else {
        medium.mesh().max_metadata_len()
    };
    let max_leaves = Root::max_index(capacity, protect.len()) as u64 * LEAVES_PER_INDEX;
    let max = medium
        .size()
        .min(max_leaves.saturating_mul(ENTRIES_PER_LEAF * SECTOR));
    if logical_size == 0 || !logical_size.is_multiple_of(SECTOR) || logical_size > max {
        return Err(Error::InvalidVolumeSize {
            size: logical_size,
            max,
        });
    }
    if protect.len() > MAX_LOWER {
        return Err(Error::InvalidParameter(
            "at most 14 volumes can be protected",
        ));
    }
    if protect.iter().any(|v| !v.medium.same(medium)) {
        return Err(Error::InvalidParameter(
            "protected volumes must be open on the same medium",
        ));
    }
    let mesh_key = medium.kdf_cost().derive(passphrase, medium.salt())?;
    let keyed = medium.mesh().for_key(&mesh_key, *medium.salt())?;
    if find_root(medium, &mesh_key)?.is_some() || read_root(medium, &keyed).is_ok() {
        return Err(Error::VolumeExists);
    }
    let mesh_blocks = if multi {
        medium.enable_multi()?;
        Vec::new()
    } else {
        if medium.is_multi() {
            return Err(Error::InvalidParameter(
                "volumes of both snapshot modes cannot be open on one medium",
            ));
        }
        physical_mesh_blocks(&keyed)
    };
    medium.claim(&mesh_blocks)?;
    let lower_keys: Vec<SecretKey> = protect
        .iter()
        .map(|v| v.lock().mesh_key.clone_key())
        .collect();
    let mut volume_id = [0u8; 16];
    getrandom::fill(&mut volume_id).map_err(|_| qsmm_types::Error::Rng)?;
    let root = Root {
        volume_key: SecretKey::try_generate()?,
        volume_id,
        logical_size,
        lower: lower_keys,
        index: Vec::new(),
    };
    let class = match (multi, protect.is_empty()) {
        (false, _) => Class::Single,
        (true, true) => Class::Base,
        (true, false) => Class::Higher,
    };
    let written = if multi {
        let fingerprint = fingerprint(&mesh_key, medium.salt());
        let encoded = root.encode();
        medium
            .keep_root(fingerprint, &mesh_key, &encoded, 0, None)
            .and_then(|()| medium.commit_root(&fingerprint, &encoded, 0))
    } else {
        write_root(medium, &keyed, &root, 0)
    };
    if let Err(e) = written {
        medium.release(mesh_blocks);
        return Err(e);
    }
    let mut owned = Bitmap::new(medium.block_count());
    for &b in &mesh_blocks {
        owned.set(b);
    }
    assemble(
        medium,
        Parts {
            mesh_key,
            keyed,
            mesh_blocks,
            generation: 0,
            root,
            owned,
            bad_leaves: BTreeSet::new(),
            lower: protect.iter().map(|v| Arc::clone(v)).collect(),
            leaf_ptrs: None,
            class,
        },
    )
}

/// Opens the volume whose root `mesh_key` places, or returns the open one; `depth` counts the
/// lower volumes above it.
pub(super) fn open_mesh_key(
    medium: &Medium,
    mesh_key: SecretKey,
    depth: usize,
) -> Result<Arc<VolumeInner>> {
    let fingerprint = fingerprint(&mesh_key, medium.salt());
    if let Some(existing) = medium.find_open(&fingerprint) {
        return existing
            .downcast::<VolumeInner>()
            .map_err(|_| Error::Internal("a registered volume of another type"));
    }
    let keyed = medium.mesh().for_key(&mesh_key, *medium.salt())?;
    // A root in the root area is a multi-snapshot volume's; otherwise the mesh's.
    let (generation, root, mesh_blocks, class) = match find_root(medium, &mesh_key)? {
        Some(found) => {
            medium.enable_multi()?;
            medium.keep_root(
                fingerprint,
                &mesh_key,
                &found.encoded,
                found.generation,
                Some(found.block),
            )?;
            let class = if found.root.lower.is_empty() {
                Class::Base
            } else {
                Class::Higher
            };
            (found.generation, found.root, Vec::new(), class)
        }
        None => {
            let (generation, root) = read_root(medium, &keyed)?;
            if medium.is_multi() {
                return Err(Error::InvalidParameter(
                    "volumes of both snapshot modes cannot be open on one medium",
                ));
            }
            (
                generation,
                root,
                physical_mesh_blocks(&keyed),
                Class::Single,
            )
        }
    };
    let map = map_namespace(&root.volume_key, medium.salt())?;

    // Walk the map: every block it references becomes ours.
    let mut owned = Bitmap::new(medium.block_count());
    for &b in &mesh_blocks {
        owned.set(b);
    }
    let leaf_count = leaf_count(root.logical_size);
    let mut leaf_ptrs = vec![0u64; usize::try_from(leaf_count).map_err(|_| Error::Integrity)?];
    let mut bad_leaves = BTreeSet::new();
    for (i, &index_block) in (0u64..).zip(&root.index) {
        let first = i * LEAVES_PER_INDEX;
        let last = (first + LEAVES_PER_INDEX).min(leaf_count);
        if index_block == 0 {
            continue;
        }
        owned.set(index_block);
        let pointers = read_sealed(medium.device(), &map, index_block)
            .ok()
            .and_then(|plain| decode_pointers(&plain));
        match pointers {
            Some(p) if p.len() as u64 == last.saturating_sub(first) => {
                for (leaf, ptr) in (first..last).zip(p) {
                    if let Some(slot) =
                        leaf_ptrs.get_mut(usize::try_from(leaf).unwrap_or(usize::MAX))
                    {
                        *slot = ptr;
                    }
                }
            }
            _ => bad_leaves.extend(first..last),
        }
    }
    for (leaf, &ptr) in (0u64..).zip(&leaf_ptrs) {
        if ptr == 0 || bad_leaves.contains(&leaf) {
            continue;
        }
        owned.set(ptr);
        match read_leaf(medium.device(), &map, ptr) {
            Some(l) => {
                for e in &l.entries {
                    if e.block != 0 {
                        owned.set(e.block);
                    }
                }
            }
            None => {
                bad_leaves.insert(leaf);
            }
        }
    }
    medium.mark_used(owned.iter_ones());
    // Lower volumes: open them for their protection; one that no longer opens (its
    // passphrase changed, or it was overwritten) is skipped.
    let mut lower = Vec::new();
    if depth < MAX_LOWER {
        for key in &root.lower {
            if let Ok(v) = open_mesh_key(medium, key.clone_key(), depth + 1) {
                lower.push(v);
            }
        }
    }
    assemble(
        medium,
        Parts {
            mesh_key,
            keyed,
            mesh_blocks,
            generation,
            root,
            owned,
            bad_leaves,
            lower,
            leaf_ptrs: Some(leaf_ptrs),
            class,
        },
    )
}

/// Builds the open volume from its parts and registers it on the medium.
fn assemble(medium: &Medium, parts: Parts) -> Result<Arc<VolumeInner>> {
    let Parts {
        mesh_key,
        keyed,
        mesh_blocks,
        generation,
        root,
        owned,
        bad_leaves,
        lower,
        leaf_ptrs,
        class,
    } = parts;
    let fingerprint = fingerprint(&mesh_key, medium.salt());
    let mut data_key = derive_subkey(&root.volume_key, medium.salt(), labels::VOLUME_DATA);
    let cipher = SectorCipher::new(data_key.as_bytes());
    data_key.zeroize();
    let map = map_namespace(&root.volume_key, medium.salt())?;
    let leaf_count = to_usize(leaf_count(root.logical_size))?;
    let index_count = leaf_count.div_ceil(LEAVES_PER_INDEX_LEN);
    let mut index_ptrs = root.index;
    index_ptrs.resize(index_count, 0);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|_| qsmm_types::Error::Rng)?;
    let rng = ChaCha20Rng::from_seed(seed);
    seed.zeroize();
    let volume = Arc::new(VolumeInner {
        medium: medium.clone(),
        logical_size: root.logical_size,
        volume_id: root.volume_id,
        cipher,
        map,
        class,
        _lower: lower,
        state: Mutex::new(State {
            fingerprint,
            mesh_key,
            keyed,
            mesh_blocks,
            generation,
            volume_key: root.volume_key,
            lower_keys: root.lower,
            leaf_ptrs: leaf_ptrs.unwrap_or_else(|| vec![0; leaf_count]),
            index_ptrs,
            dirty_index: BTreeSet::new(),
            cache: HashMap::new(),
            bad_leaves,
            owned,
            fresh: Bitmap::new(medium.block_count()),
            pending_now: Vec::new(),
            pending_prev: Vec::new(),
            changed: false,
            rng,
        }),
    });
    let registered: OpenVolume = volume.clone();
    medium.register(fingerprint, &registered);
    Ok(volume)
}
