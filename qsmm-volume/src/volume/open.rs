//! Opening and creating volumes: deriving the root's key, reading or writing the first root,
//! walking the map to claim its blocks, opening the lower volumes, and assembling the parts.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use qsmm_shatter::mesh::KeyedMesh;
use qsmm_types::{BlockId, SecretKey, derive_subkey, labels};
use qsmm_void::SectorCipher;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zeroize::Zeroize;

use super::cache::{read_leaf, read_map};
use super::relocate::{make_room, place_root};
use super::state::Aging;
use super::state::{
    SECTOR, State, VolumeInner, commit_reserve, fingerprint, leaf_count, map_sealer, to_usize,
};
use crate::bitmap::Bitmap;
use crate::error::{Error, Result};
use crate::map::{
    ENTRIES_PER_LEAF, Kind, LEAVES_PER_INDEX, LEAVES_PER_INDEX_LEN, MapSealer, Pointer,
    decode_pointers,
};
use crate::medium::{Medium, OpenVolume};
use crate::multi_snapshot::{Class, SnapshotMode, find_root as find_area_root, root_area};
use crate::root::{
    MAX_LOWER, Retired, Root, find_root, physical_mesh_blocks, read_root_slot, write_root,
};

/// A volume's root and where it lives.
struct Placed {
    mesh_key: SecretKey,
    keyed: KeyedMesh,
    mesh_blocks: Vec<u64>,
    /// Generation of the durable root.
    generation: u64,
    root: Root,
}

/// Everything an open volume is made of, read from its root or made by `create`.
struct Parts {
    placed: Placed,
    /// Blocks the volume holds (mesh slots and everything its map references).
    owned: Bitmap,
    /// The blocks among them that hold map blocks.
    map_blocks: Bitmap,
    /// Blocks only the fallback root references.
    fallback_only: Vec<u64>,
    /// Leaves whose map blocks failed to authenticate.
    bad_leaves: BTreeSet<u64>,
    /// Lower volumes, open for their protection.
    lower: Vec<Arc<VolumeInner>>,
    /// The pointer to each leaf, read from the index (`None`: a new volume, no leaves).
    leaf_ptrs: Option<Vec<Pointer>>,
    /// How its writes reach the medium.
    class: Class,
}

impl Parts {
    /// The parts of a volume without map: no map block, no fallback, no leaf.
    fn new(placed: Placed, owned: Bitmap, lower: Vec<Arc<VolumeInner>>, class: Class) -> Self {
        Self {
            placed,
            map_blocks: Bitmap::new(owned.len()),
            owned,
            fallback_only: Vec::new(),
            bad_leaves: BTreeSet::new(),
            lower,
            leaf_ptrs: None,
            class,
        }
    }
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
    if find_area_root(medium, &mesh_key)?.is_some() || find_root(medium, &mesh_key).is_ok() {
        return Err(Error::VolumeExists);
    }
    // Open volumes move out of the root's blocks (copy-on-write); they stay reserved until
    // the volume is assembled, and go back to the pool if anything fails before.
    let (keyed, mesh_blocks, reservation) = if multi {
        medium.enable_multi()?;
        let keyed = medium.mesh().for_key(&mesh_key, *medium.salt())?;
        (keyed, Vec::new(), make_room(medium, &[])?)
    } else {
        if medium.is_multi() {
            return Err(Error::InvalidParameter(
                "volumes of both snapshot modes cannot be open on one medium",
            ));
        }
        let (keyed, blocks, _, reservation) = place_root(medium, &mesh_key, &[])?;
        (keyed, blocks, reservation)
    };
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
        retired: Vec::new(),
        lower_alt: None,
    };
    // The first generation is random, so that the generation counts nothing.
    let mut first = [0u8; 8];
    getrandom::fill(&mut first).map_err(|_| qsmm_types::Error::Rng)?;
    let generation = (u64::from_le_bytes(first) >> 3) | (1 << 61);
    let class = match (multi, protect.is_empty()) {
        (false, _) => Class::Single,
        (true, true) => Class::Base,
        (true, false) => Class::Higher,
    };
    let written = if multi {
        let fingerprint = fingerprint(&mesh_key, medium.salt());
        let encoded = root.encode();
        medium
            .keep_root(fingerprint, &mesh_key, &encoded, generation, None)
            .and_then(|()| medium.commit_root(&fingerprint, &encoded, generation))
    } else {
        write_root(medium, &keyed, &root, generation).and_then(|()| Ok(medium.device().flush()?))
    };
    if let Err(e) = written {
        // Shares that landed would open as an empty volume under this passphrase: noise over
        // them (best effort) before the blocks go back to the pool with the reservation.
        scrub_best_effort(medium, &mesh_blocks);
        return Err(e);
    }
    let mut owned = Bitmap::new(medium.block_count());
    for &b in &mesh_blocks {
        owned.set(b);
    }
    let placed = Placed {
        mesh_key,
        keyed,
        mesh_blocks,
        generation,
        root,
    };
    let lower = protect.iter().map(|v| Arc::clone(v)).collect();
    let volume = assemble(medium, Parts::new(placed, owned, lower, class))?;
    reservation.keep()?;
    Ok(volume)
}

/// Opens the volume whose root `mesh_key` places, or returns the open one; `above` holds the
/// fingerprints of the volumes being opened above it (a lower list that leads back to one of
/// them is a cycle, refused).
pub(super) fn open_mesh_key(
    medium: &Medium,
    mesh_key: SecretKey,
    above: &[[u8; 32]],
) -> Result<Arc<VolumeInner>> {
    let fingerprint = fingerprint(&mesh_key, medium.salt());
    if above.contains(&fingerprint) {
        return Err(Error::LowerCycle);
    }
    if let Some(existing) = medium.find_open(&fingerprint) {
        return existing
            .downcast::<VolumeInner>()
            .map_err(|_| Error::Internal("a registered volume of another type"));
    }
    // A root in the root area is a multi-snapshot volume's; otherwise the mesh's.
    let (keyed, generation, root, mesh_blocks, class) = match find_area_root(medium, &mesh_key)? {
        Some(found) => {
            refuse_second_instance(medium, &found.root)?;
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
            let keyed = medium.mesh().for_key(&mesh_key, *medium.salt())?;
            (keyed, found.generation, found.root, Vec::new(), class)
        }
        None => {
            let (keyed, generation, root) = find_root(medium, &mesh_key)?;
            if medium.is_multi() {
                return Err(Error::InvalidParameter(
                    "volumes of both snapshot modes cannot be open on one medium",
                ));
            }
            let mesh_blocks = physical_mesh_blocks(&keyed);
            (keyed, generation, root, mesh_blocks, Class::Single)
        }
    };
    check_root(medium, &root)?;
    refuse_second_instance(medium, &root)?;
    // Before anything else: a passphrase change cut short may have left the old root whole.
    retire_old_root(medium, &root.retired)?;
    // Lower volumes first, before this one holds any block: one that does not open fails the
    // open (its blocks would be unprotected, and later writes would damage it).
    let mut chain = above.to_vec();
    chain.push(fingerprint);
    if chain.len() > MAX_LOWER + 1 && !root.lower.is_empty() {
        return Err(Error::LowerCycle);
    }
    let mut lower = Vec::with_capacity(root.lower.len());
    let mut root = root;
    let alt = root.lower_alt.take();
    for (position, key) in root.lower.iter_mut().enumerate() {
        let mut opened = open_mesh_key(medium, key.clone_key(), &chain);
        // A passphrase change of the lower volume cut short before its new root was durable:
        // it opens under the key it had, which this root names from now on.
        if let (Err(Error::NoVolume), Some((at, old))) = (&opened, &alt)
            && *at == position
        {
            opened = open_mesh_key(medium, old.clone_key(), &chain);
            if opened.is_ok() {
                *key = old.clone_key();
            }
        }
        match opened {
            Ok(v) => lower.push(v),
            Err(Error::LowerCycle) => return Err(Error::LowerCycle),
            Err(e) => {
                return Err(Error::LowerVolume {
                    position,
                    source: Box::new(e),
                });
            }
        }
    }
    let map = map_sealer(&root.volume_key, medium.salt(), root.volume_id);

    // Walk the map: every block it references becomes ours.
    let mut owned = Bitmap::new(medium.block_count());
    let mut map_blocks = Bitmap::new(medium.block_count());
    for &b in &mesh_blocks {
        owned.set(b);
    }
    let current = walk(medium, &map, &root)?;
    for &b in &current.blocks {
        owned.set(b);
    }
    for &b in &current.map_blocks {
        map_blocks.set(b);
    }
    medium.mark_used(owned.iter_ones());
    // The fallback generation (the other slot) stays whole until the root after next: hold
    // the blocks only it references, where no open volume holds them already, and free them
    // (map blocks overwritten with noise first) once two newer roots are durable.
    let mut fallback_only = Vec::new();
    // A root-area root keeps no fallback generation (a commit overwrites the previous root).
    let fallback = if class.is_multi() {
        None
    } else {
        read_fallback(medium, &keyed, generation, &root)
    };
    if let Some(fallback) = fallback {
        let older = walk(medium, &map, &fallback)?;
        let candidates: Vec<u64> = older
            .blocks
            .iter()
            .copied()
            .filter(|&b| !owned.get(b))
            .collect();
        for b in medium.claim_free(&candidates) {
            owned.set(b);
            fallback_only.push(b);
            if older.map_blocks.contains(&b) {
                map_blocks.set(b);
            }
        }
    }
    let placed = Placed {
        mesh_key,
        keyed,
        mesh_blocks,
        generation,
        root,
    };
    assemble(
        medium,
        Parts {
            map_blocks,
            fallback_only,
            bad_leaves: current.bad_leaves,
            leaf_ptrs: Some(current.leaf_ptrs),
            ..Parts::new(placed, owned, lower, class)
        },
    )
}

/// Builds the open volume from its parts and registers it on the medium.
fn assemble(medium: &Medium, parts: Parts) -> Result<Arc<VolumeInner>> {
    let Parts {
        placed:
            Placed {
                mesh_key,
                keyed,
                mesh_blocks,
                generation,
                root,
            },
        owned,
        map_blocks,
        fallback_only,
        bad_leaves,
        lower,
        leaf_ptrs,
        class,
    } = parts;
    let fingerprint = fingerprint(&mesh_key, medium.salt());
    let mut data_key = derive_subkey(&root.volume_key, medium.salt(), labels::VOLUME_DATA);
    let cipher = SectorCipher::new(data_key.as_bytes());
    data_key.zeroize();
    let map = map_sealer(&root.volume_key, medium.salt(), root.volume_id);
    let leaf_count = to_usize(leaf_count(root.logical_size))?;
    let index_count = leaf_count.div_ceil(LEAVES_PER_INDEX_LEN);
    let mut index_ptrs = root.index;
    index_ptrs.resize(index_count, Pointer::NONE);
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
        lower,
        state: Mutex::new(State {
            fingerprint,
            mesh_key,
            keyed,
            mesh_blocks,
            generation,
            volume_key: root.volume_key,
            lower_keys: root.lower,
            lower_alt: None,
            retired: Vec::new(),
            leaf_ptrs: leaf_ptrs.unwrap_or_else(|| vec![Pointer::NONE; leaf_count]),
            index_ptrs,
            dirty_index: BTreeSet::new(),
            cache: HashMap::new(),
            bad_leaves,
            owned,
            fresh: Bitmap::new(medium.block_count()),
            map_blocks,
            scrub: Vec::new(),
            reuse: Vec::new(),
            pending_now: Vec::new(),
            pending_prev: Vec::new(),
            fallback_only,
            changed: false,
            read_only: false,
            aging: Aging::default(),
            rng,
        }),
    });
    let registered: OpenVolume = volume.clone();
    medium.register(
        fingerprint,
        &registered,
        commit_reserve(leaf_count, index_count),
    );
    Ok(volume)
}

/// What a root's map references.
struct Walk {
    /// The pointer to each leaf.
    leaf_ptrs: Vec<Pointer>,
    /// Leaves whose map blocks did not authenticate.
    bad_leaves: BTreeSet<u64>,
    /// Every block referenced: index blocks, leaves, data blocks.
    blocks: Vec<u64>,
    /// The index and leaf blocks among them.
    map_blocks: BTreeSet<u64>,
}

/// Reads the map of `root`: every index block and leaf, and the data blocks they name.
fn walk(medium: &Medium, map: &MapSealer, root: &Root) -> Result<Walk> {
    let leaf_count = leaf_count(root.logical_size);
    let mut leaf_ptrs = vec![Pointer::NONE; to_usize(leaf_count)?];
    let mut bad_leaves = BTreeSet::new();
    let mut blocks = Vec::new();
    let mut map_blocks = BTreeSet::new();
    let in_medium = |b: u64| b != 0 && b < medium.block_count();
    for (i, &index) in (0u64..).zip(&root.index) {
        let first = i * LEAVES_PER_INDEX;
        let last = (first + LEAVES_PER_INDEX).min(leaf_count);
        if index.block == 0 {
            continue;
        }
        if !in_medium(index.block) {
            bad_leaves.extend(first..last);
            continue;
        }
        blocks.push(index.block);
        map_blocks.insert(index.block);
        let count = to_usize(last.saturating_sub(first))?;
        let pointers = read_map(medium.device(), map, Kind::Index, i, index)
            .ok()
            .and_then(|plain| decode_pointers(&plain, count));
        match pointers {
            Some(p) => {
                for (leaf, ptr) in (first..last).zip(p) {
                    if let Some(slot) = leaf_ptrs.get_mut(to_usize(leaf)?) {
                        *slot = ptr;
                    }
                }
            }
            None => bad_leaves.extend(first..last),
        }
    }
    for (leaf, &ptr) in (0u64..).zip(&leaf_ptrs) {
        if ptr.block == 0 || bad_leaves.contains(&leaf) {
            continue;
        }
        if !in_medium(ptr.block) {
            bad_leaves.insert(leaf);
            continue;
        }
        blocks.push(ptr.block);
        map_blocks.insert(ptr.block);
        match read_leaf(medium.device(), map, leaf, ptr) {
            Some(l) => blocks.extend(l.entries.iter().map(|e| e.block).filter(|&b| in_medium(b))),
            None => {
                bad_leaves.insert(leaf);
            }
        }
    }
    Ok(Walk {
        leaf_ptrs,
        bad_leaves,
        blocks,
        map_blocks,
    })
}

/// The root of the other mesh slot, if it reconstructs as an older generation of the same
/// volume.
fn read_fallback(medium: &Medium, keyed: &KeyedMesh, generation: u64, root: &Root) -> Option<Root> {
    let (_, fallback) = read_root_slot(medium, keyed, generation.wrapping_add(1) % 2)?;
    (fallback.volume_id == root.volume_id && fallback.logical_size == root.logical_size)
        .then_some(fallback)
}

/// Refuses a root whose sizes do not fit the medium (a crafted or damaged root must not make
/// the open allocate more than the medium could map).
fn check_root(medium: &Medium, root: &Root) -> Result<()> {
    let leaves = leaf_count(root.logical_size);
    let index_blocks = leaves.div_ceil(LEAVES_PER_INDEX);
    if root.logical_size > medium.size() || root.index.len() as u64 > index_blocks {
        return Err(Error::Integrity);
    }
    Ok(())
}

/// Refuses to open the volume of `root` a second time, under another passphrase (both roots
/// survived a passphrase change cut short, and the old one is open): before a root-area root
/// is kept for the next rewrite of the area.
fn refuse_second_instance(medium: &Medium, root: &Root) -> Result<()> {
    let open = medium.open_volumes().into_iter().any(|v| {
        v.downcast::<VolumeInner>()
            .is_ok_and(|v| v.volume_id == root.volume_id)
    });
    if open {
        return Err(Error::OpenUnderOtherPassphrase);
    }
    Ok(())
}

/// The roll-forward of a passphrase change (see [`crate::root`]): overwrites with noise every
/// retired root block that still holds what it held when the new root was written, and syncs.
/// An open that cannot do it fails: the old passphrase could still open the volume.
fn retire_old_root(medium: &Medium, retired: &[Retired]) -> Result<()> {
    let mut buf = vec![0u8; crate::medium::BLOCK_SIZE];
    let mut wrote = false;
    for r in retired {
        // Block 0 holds the salt; a crafted record must not reach it or past the end.
        if r.block == 0 || r.block >= medium.block_count() {
            continue;
        }
        medium.device().read_block(BlockId(r.block), &mut buf)?;
        if r.holds(&buf) {
            getrandom::fill(&mut buf).map_err(|_| qsmm_types::Error::Rng)?;
            medium.device().write_block(BlockId(r.block), &buf)?;
            wrote = true;
        }
    }
    if wrote {
        medium.device().flush()?;
    }
    Ok(())
}

/// Overwrites `blocks` with fresh noise and syncs, ignoring errors (a failing medium leaves
/// them as a crash would).
pub(super) fn scrub_best_effort(medium: &Medium, blocks: &[u64]) {
    let mut noise = vec![0u8; crate::medium::BLOCK_SIZE];
    for &b in blocks {
        if getrandom::fill(&mut noise).is_ok() {
            medium.device().write_block(BlockId(b), &noise).ok();
        }
    }
    medium.device().flush().ok();
}
