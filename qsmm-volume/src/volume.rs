//! Volumes: a logical block device of 4096-byte sectors per passphrase, copy-on-write over
//! randomly allocated blocks, with a map tree under a Shamir mesh root.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use qsmm_shatter::mesh::KeyedMesh;
use qsmm_types::{BlockId, SecretKey, derive_subkey, labels};
use qsmm_void::Namespace;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::map::{
    ENTRIES_PER_LEAF, Entry, LEAVES_PER_INDEX, LEAVES_PER_INDEX_LEN, Leaf, MAX_LOWER, Root,
};
use crate::medium::{BLOCK_SIZE, Bitmap, Medium, MediumInner};
use qsmm_void::SectorCipher;

/// Most map leaves kept in memory (about 4 KiB each): 1024 leaves ≈ 4 MiB, the map of 344 MiB
/// of sectors. Dirty leaves beyond it are written out (copy-on-write) before the next flush.
const MAX_CACHED_LEAVES: usize = 1024;

/// Domain tag at the start of a sector's associated data.
const SECTOR_AAD_DOMAIN: [u8; 16] = *b"qsmm/v1/vol/sect";

const SECTOR: u64 = BLOCK_SIZE as u64;

/// One deniable volume: a block device of [`Self::logical_size`] bytes in 4096-byte sectors,
/// stored on a [`Medium`] behind one passphrase.
///
/// All I/O methods take `&self`; the volume synchronises internally and is `Send + Sync`.
/// Writes go to fresh, uniformly random free blocks of the medium; [`Self::flush`] makes them
/// durable (copy-on-write map, then the next root generation). A volume dropped without
/// [`Self::close`] or [`Self::flush`] loses its unflushed writes, exactly as after a crash.
///
/// Opening a volume whose root names lower volumes (created with `protect`) opens those too,
/// in the background, so that this volume's writes never land on their blocks.
///
/// # Examples
///
/// ```
/// use qsmm_volume::{KdfCost, Medium, Volume};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("medium.img");
/// qsmm_volume::format(&path, 4 << 20, |_, _| {})?;
/// let medium = Medium::open_with_kdf_cost(&path, KdfCost::DANGER_INSECURE_FOR_TESTS)?;
///
/// let volume = Volume::create(&medium, b"correct horse", 1 << 20, &[])?;
/// volume.write(3, &[7u8; 4096])?;
/// volume.write_at(10, b"hello")?;
/// volume.close()?;
///
/// let volume = Volume::open(&medium, b"correct horse")?;
/// let mut sector = vec![0u8; 4096];
/// volume.read(3, &mut sector)?;
/// assert_eq!(sector, vec![7u8; 4096]);
/// let mut hello = [0u8; 5];
/// volume.read_at(10, &mut hello)?;
/// assert_eq!(&hello, b"hello");
/// assert!(matches!(Volume::open(&medium, b"wrong"), Err(qsmm_volume::Error::NoVolume)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Volume {
    inner: Arc<VolumeInner>,
}

pub(crate) struct VolumeInner {
    medium: Medium,
    logical_size: u64,
    volume_id: [u8; 16],
    cipher: SectorCipher,
    map: Namespace,
    /// Lower volumes named by this root, held open for their protection.
    _lower: Vec<Volume>,
    state: Mutex<State>,
}

struct State {
    /// In-memory fingerprint of the current passphrase (registry key).
    fingerprint: [u8; 32],
    mesh_key: SecretKey,
    keyed: KeyedMesh,
    /// Physical blocks of both mesh slots.
    mesh_blocks: Vec<u64>,
    /// Generation of the last durable root.
    generation: u64,
    volume_key: SecretKey,
    lower_keys: Vec<SecretKey>,
    /// Physical block of each leaf (0 = no leaf: every entry unmapped).
    leaf_ptrs: Vec<u64>,
    /// Physical block of each index block (0 = none yet).
    index_ptrs: Vec<u64>,
    dirty_index: BTreeSet<usize>,
    cache: HashMap<u64, Leaf>,
    /// Leaves whose map block failed to authenticate at open.
    bad_leaves: BTreeSet<u64>,
    /// Blocks this volume holds on the medium.
    owned: Bitmap,
    /// Blocks allocated since the last durable root (free again at once when released).
    fresh: Bitmap,
    /// Blocks the durable root references but the next will not: released two roots later.
    pending_now: Vec<u64>,
    pending_prev: Vec<u64>,
    /// Something changed since the last durable root.
    changed: bool,
    rng: ChaCha20Rng,
}

/// A sector encrypted for its block: the ciphertext (stored) and its tag (kept in the map).
struct SealedSector {
    bytes: Vec<u8>,
    tag: [u8; 16],
}

impl core::ops::Deref for SealedSector {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Volume {
    /// Creates a volume of `logical_size` bytes behind `passphrase` on `medium` and writes its
    /// first root (durable on return). Every sector reads as zeros until written.
    ///
    /// `protect` names volumes, open on the same medium, that this one stands above: its root
    /// records their root keys, so opening this volume later opens and protects them too (and a
    /// coerced user can still give up a lower passphrase alone). Every volume open on `medium`
    /// is protected anyway while it is open.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidVolumeSize`] for a size that is zero, not a multiple of 4096, larger
    ///   than the medium or than a root can map;
    /// - [`Error::InvalidParameter`] if a `protect` volume is on another medium, or more than
    ///   14 are given;
    /// - [`Error::VolumeExists`] if `passphrase` already opens a volume here;
    /// - [`Error::PassphraseCollision`] if the root's blocks are used by an open volume;
    /// - [`Error::Io`], [`Error::Core`] from the medium.
    pub fn create(
        medium: &Medium,
        passphrase: &[u8],
        logical_size: u64,
        protect: &[&Self],
    ) -> Result<Self> {
        let inner = &medium.inner;
        let max_leaves =
            Root::max_index(inner.mesh.max_metadata_len(), protect.len()) as u64 * LEAVES_PER_INDEX;
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
        if protect.iter().any(|v| !v.inner.medium.same(medium)) {
            return Err(Error::InvalidParameter(
                "protected volumes must be open on the same medium",
            ));
        }
        let mesh_key = inner.kdf.derive(passphrase, &inner.salt)?;
        let keyed = inner.mesh.for_key(&mesh_key, inner.salt)?;
        if read_root(inner, &keyed).is_ok() {
            return Err(Error::VolumeExists);
        }
        let mesh_blocks = physical_mesh_blocks(&keyed);
        reserve(inner, &mesh_blocks)?;
        let lower_keys: Vec<SecretKey> = protect
            .iter()
            .map(|v| v.inner.lock().mesh_key.clone_key())
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
        let result = write_root(inner, &keyed, &root, 0);
        if let Err(e) = result {
            release_all(inner, &mesh_blocks);
            return Err(e);
        }
        let lower: Vec<Self> = protect
            .iter()
            .map(|v| Self {
                inner: Arc::clone(&v.inner),
            })
            .collect();
        let mut owned = Bitmap::new(inner.block_count);
        for &b in &mesh_blocks {
            owned.set(b);
        }
        Self::assemble(
            medium,
            mesh_key,
            keyed,
            mesh_blocks,
            0,
            root,
            owned,
            BTreeSet::new(),
            lower,
            Vec::new(),
            None,
        )
    }

    /// Opens the volume behind `passphrase`. Opening a volume that is already open on this
    /// medium returns another handle to it.
    ///
    /// # Errors
    ///
    /// [`Error::NoVolume`] if no volume opens with `passphrase` (a wrong passphrase or a
    /// medium without volumes, which take about the same time: Argon2id and reading the root's
    /// blocks dominate both); [`Error::Io`], [`Error::Core`] from the medium.
    pub fn open(medium: &Medium, passphrase: &[u8]) -> Result<Self> {
        let mesh_key = medium.inner.kdf.derive(passphrase, &medium.inner.salt)?;
        Self::open_mesh_key(medium, mesh_key, 0)
    }

    fn open_mesh_key(medium: &Medium, mesh_key: SecretKey, depth: usize) -> Result<Self> {
        let inner = &medium.inner;
        let fingerprint = fingerprint(&mesh_key, &inner.salt);
        if let Some(existing) = find_open(inner, &fingerprint) {
            return Ok(Self { inner: existing });
        }
        let keyed = inner.mesh.for_key(&mesh_key, inner.salt)?;
        let (generation, root) = read_root(inner, &keyed)?;
        let mesh_blocks = physical_mesh_blocks(&keyed);
        let map = map_namespace(&root.volume_key, &inner.salt)?;

        // Walk the map: every block it references becomes ours.
        let mut owned = Bitmap::new(inner.block_count);
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
            let pointers = read_sealed(inner, &map, index_block)
                .ok()
                .and_then(|plain| crate::map::decode_pointers(&plain));
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
            match read_leaf(inner, &map, ptr) {
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
        {
            let mut state = inner.lock();
            for b in owned.iter_ones() {
                state.used.set(b);
            }
        }
        // Lower volumes: open them for their protection; one that no longer opens (its
        // passphrase changed, or it was overwritten) is skipped.
        let mut lower = Vec::new();
        if depth < MAX_LOWER {
            for key in &root.lower {
                if let Ok(v) = Self::open_mesh_key(medium, key.clone_key(), depth + 1) {
                    lower.push(v);
                }
            }
        }
        let lower_keys = root.lower.iter().map(SecretKey::clone_key).collect();
        Self::assemble(
            medium,
            mesh_key,
            keyed,
            mesh_blocks,
            generation,
            root,
            owned,
            bad_leaves,
            lower,
            lower_keys,
            Some(leaf_ptrs),
        )
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "a private constructor of all parts"
    )]
    fn assemble(
        medium: &Medium,
        mesh_key: SecretKey,
        keyed: KeyedMesh,
        mesh_blocks: Vec<u64>,
        generation: u64,
        root: Root,
        owned: Bitmap,
        bad_leaves: BTreeSet<u64>,
        lower: Vec<Self>,
        lower_keys: Vec<SecretKey>,
        leaf_ptrs: Option<Vec<u64>>,
    ) -> Result<Self> {
        let inner = &medium.inner;
        let fingerprint = fingerprint(&mesh_key, &inner.salt);
        let mut data_key = derive_subkey(&root.volume_key, &inner.salt, labels::VOLUME_DATA);
        let cipher = SectorCipher::new(data_key.as_bytes());
        data_key.zeroize();
        let map = map_namespace(&root.volume_key, &inner.salt)?;
        let leaf_count = usize::try_from(leaf_count(root.logical_size))
            .map_err(|_| Error::InvalidParameter("volume too large"))?;
        let index_count = leaf_count.div_ceil(LEAVES_PER_INDEX_LEN);
        let mut index_ptrs = root.index;
        index_ptrs.resize(index_count, 0);
        let lower_keys = if lower_keys.is_empty() {
            root.lower
        } else {
            lower_keys
        };
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
            _lower: lower,
            state: Mutex::new(State {
                fingerprint,
                mesh_key,
                keyed,
                mesh_blocks,
                generation,
                volume_key: root.volume_key,
                lower_keys,
                leaf_ptrs: leaf_ptrs.unwrap_or_else(|| vec![0; leaf_count]),
                index_ptrs,
                dirty_index: BTreeSet::new(),
                cache: HashMap::new(),
                bad_leaves,
                owned,
                fresh: Bitmap::new(inner.block_count),
                pending_now: Vec::new(),
                pending_prev: Vec::new(),
                changed: false,
                rng,
            }),
        });
        inner
            .lock()
            .open
            .push((fingerprint, Arc::downgrade(&volume)));
        Ok(Self { inner: volume })
    }

    /// Size of the volume in bytes, a multiple of 4096.
    #[must_use]
    pub fn logical_size(&self) -> u64 {
        self.inner.logical_size
    }

    /// Reads whole sectors starting at sector `lba` into `buf` (a multiple of 4096 bytes).
    /// Unwritten and trimmed sectors read as zeros.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] for a misaligned buffer or a range past the end;
    /// [`Error::Integrity`] if a sector or its map fails authentication (the buffer then holds
    /// no data of the failed sector); [`Error::Io`] from the medium.
    pub fn read(&self, lba: u64, buf: &mut [u8]) -> Result<()> {
        self.check_sectors(lba, buf.len())?;
        for (i, sector) in (lba..).zip(buf.chunks_exact_mut(BLOCK_SIZE)) {
            self.inner.read_sector_shared(i, sector)?;
        }
        Ok(())
    }

    /// Writes whole sectors starting at sector `lba` from `buf` (a multiple of 4096 bytes),
    /// each to a fresh random block with a fresh nonce. Durable after [`Self::flush`].
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] as [`Self::read`]; [`Error::NoSpace`] if the medium is full;
    /// [`Error::Integrity`] if the sectors' map leaf failed authentication at open;
    /// [`Error::Io`]. After an error, a prefix of the sectors may have been written.
    pub fn write(&self, lba: u64, buf: &[u8]) -> Result<()> {
        self.check_sectors(lba, buf.len())?;
        for (i, sector) in (lba..).zip(buf.chunks_exact(BLOCK_SIZE)) {
            self.inner.write_sector_shared(i, sector)?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at byte `offset` (any alignment).
    ///
    /// # Errors
    ///
    /// As [`Self::read`].
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.check_bytes(offset, buf.len())?;
        let mut sector = vec![0u8; BLOCK_SIZE];
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let (lba, within) = (pos / SECTOR, (pos % SECTOR) as usize);
            let n = (BLOCK_SIZE - within).min(buf.len() - done);
            let out = buf
                .get_mut(done..done + n)
                .ok_or(Error::InvalidParameter("range"))?;
            if n == BLOCK_SIZE {
                self.inner.read_sector_shared(lba, out)?;
            } else {
                self.inner.read_sector_shared(lba, &mut sector)?;
                out.copy_from_slice(
                    sector
                        .get(within..within + n)
                        .ok_or(Error::InvalidParameter("range"))?,
                );
            }
            done += n;
        }
        sector.zeroize();
        Ok(())
    }

    /// Writes `buf` at byte `offset` (any alignment); partial sectors are read, modified and
    /// written back.
    ///
    /// # Errors
    ///
    /// As [`Self::write`] (and [`Self::read`] for partial sectors).
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        self.check_bytes(offset, buf.len())?;
        if offset.is_multiple_of(SECTOR) && buf.len().is_multiple_of(BLOCK_SIZE) {
            return self.write(offset / SECTOR, buf);
        }
        // A partial sector is read, modified and written under one lock, so that writes to
        // other bytes of the same sector running at the same time are not lost.
        let mut state = self.inner.lock();
        self.inner
            .write_bytes(&mut state, offset, Some(buf), buf.len())
    }

    /// Unmaps `count` sectors from sector `lba`: they read as zeros, and their blocks become
    /// free once the unmapping is durable. Durable after [`Self::flush`].
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] past the end; [`Error::Integrity`] for a map leaf that failed
    /// authentication at open; [`Error::Io`].
    pub fn trim(&self, lba: u64, count: u64) -> Result<()> {
        let end = lba
            .checked_add(count)
            .filter(|&end| end <= self.logical_size() / SECTOR)
            .ok_or(Error::OutOfRange {
                offset: lba.saturating_mul(SECTOR),
                len: count.saturating_mul(SECTOR),
            })?;
        let mut state = self.inner.lock();
        self.inner.trim_sectors(&mut state, lba, end)
    }

    /// Trims the byte range `[offset, offset + len)`: whole sectors are unmapped, the covered
    /// parts of partial sectors are zeroed.
    ///
    /// # Errors
    ///
    /// As [`Self::trim`] and [`Self::write_at`].
    pub fn trim_at(&self, offset: u64, len: u64) -> Result<()> {
        let len_usize = usize::try_from(len).map_err(|_| Error::OutOfRange { offset, len })?;
        self.check_bytes(offset, len_usize)?;
        let end = offset + len;
        let first_full = offset.div_ceil(SECTOR);
        let last_full = end / SECTOR;
        let mut state = self.inner.lock();
        if first_full >= last_full {
            return self.inner.write_bytes(&mut state, offset, None, len_usize);
        }
        let head = first_full * SECTOR - offset;
        self.inner
            .write_bytes(&mut state, offset, None, usize::try_from(head).unwrap_or(0))?;
        self.inner.trim_sectors(&mut state, first_full, last_full)?;
        let tail = end - last_full * SECTOR;
        self.inner.write_bytes(
            &mut state,
            last_full * SECTOR,
            None,
            usize::try_from(tail).unwrap_or(0),
        )
    }

    /// Makes every write and trim acknowledged so far durable: writes the changed map blocks to
    /// fresh blocks, syncs, writes the next root generation to the other mesh slot, syncs.
    ///
    /// After an error nothing acknowledged is lost: the previous root is intact and a retry
    /// continues where this one stopped.
    ///
    /// # Errors
    ///
    /// [`Error::NoSpace`] if no block is left for the map; [`Error::Io`], [`Error::Core`].
    pub fn flush(&self) -> Result<()> {
        let mut state = self.inner.lock();
        self.inner.flush_locked(&mut state)
    }

    /// Flushes and closes this handle; when it is the last handle, the volume's blocks stop
    /// being protected on the medium.
    ///
    /// # Errors
    ///
    /// As [`Self::flush`]; the handle is closed either way.
    pub fn close(self) -> Result<()> {
        self.flush()
    }

    /// Replaces the passphrase: writes the root under the new passphrase's mesh key (durable
    /// on return), then overwrites the old root's blocks with noise. Data is not re-encrypted:
    /// the volume key in the root stays the same.
    ///
    /// A higher volume that names this one (created with it in `protect`) still holds the old
    /// root key and no longer opens this one for protection.
    ///
    /// # Errors
    ///
    /// [`Error::VolumeExists`] if the new passphrase already opens a volume;
    /// [`Error::PassphraseCollision`]; as [`Self::flush`].
    pub fn change_passphrase(&self, new_passphrase: &[u8]) -> Result<()> {
        let inner = &*self.inner;
        let medium = &inner.medium.inner;
        let mesh_key = medium.kdf.derive(new_passphrase, &medium.salt)?;
        let keyed = medium.mesh.for_key(&mesh_key, medium.salt)?;
        let mut state = inner.lock();
        inner.flush_locked(&mut state)?;
        if read_root(medium, &keyed).is_ok() {
            return Err(Error::VolumeExists);
        }
        let new_blocks = physical_mesh_blocks(&keyed);
        // The new root may reuse the old root's blocks, but no other block of this volume.
        let to_reserve: Vec<u64> = new_blocks
            .iter()
            .copied()
            .filter(|b| !state.mesh_blocks.contains(b))
            .collect();
        reserve(medium, &to_reserve)?;
        let root = state.root(inner);
        let generation = state.generation + 1;
        if let Err(e) = write_root(medium, &keyed, &root, generation) {
            release_all(medium, &to_reserve);
            return Err(e);
        }
        // Scrub the old root with noise, except blocks the new root uses.
        let old: Vec<u64> = state
            .mesh_blocks
            .iter()
            .copied()
            .filter(|b| !new_blocks.contains(b))
            .collect();
        let mut noise = vec![0u8; BLOCK_SIZE];
        for &b in &old {
            state.rng.fill_bytes(&mut noise);
            medium.device.write_block(BlockId(b), &noise)?;
        }
        medium.device.flush()?;
        for &b in &to_reserve {
            state.owned.set(b);
        }
        for &b in &old {
            state.owned.clear(b);
        }
        release_all(medium, &old);
        let fingerprint = fingerprint(&mesh_key, &medium.salt);
        {
            let mut ms = medium.lock();
            for entry in &mut ms.open {
                if entry.0 == state.fingerprint {
                    entry.0 = fingerprint;
                }
            }
        }
        state.fingerprint = fingerprint;
        state.mesh_key = mesh_key;
        state.keyed = keyed;
        state.mesh_blocks = new_blocks;
        state.generation = generation;
        Ok(())
    }

    /// Every block of the medium this volume holds: both mesh slots, index and leaf blocks, data
    /// blocks (and blocks the last roots referenced that are not yet free), ascending.
    ///
    /// This is what the passphrase reveals about the medium's layout; audits and tests use it.
    #[must_use]
    pub fn physical_blocks(&self) -> Vec<u64> {
        self.inner.lock().owned.iter_ones().collect()
    }

    /// The generation of the last durable root.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.inner.lock().generation
    }

    fn check_sectors(&self, lba: u64, len: usize) -> Result<()> {
        let offset = lba.checked_mul(SECTOR).ok_or(Error::OutOfRange {
            offset: u64::MAX,
            len: len as u64,
        })?;
        if !len.is_multiple_of(BLOCK_SIZE) {
            return Err(Error::OutOfRange {
                offset,
                len: len as u64,
            });
        }
        self.check_bytes(offset, len)
    }

    fn check_bytes(&self, offset: u64, len: usize) -> Result<()> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.logical_size() => Ok(()),
            _ => Err(Error::OutOfRange {
                offset,
                len: len as u64,
            }),
        }
    }
}

impl core::fmt::Debug for Volume {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Volume")
            .field("logical_size", &self.inner.logical_size)
            .finish_non_exhaustive()
    }
}

impl VolumeInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn aad(&self, lba: u64, block: u64) -> [u8; 48] {
        let mut aad = [0u8; 48];
        aad[..16].copy_from_slice(&SECTOR_AAD_DOMAIN);
        aad[16..32].copy_from_slice(&self.volume_id);
        aad[32..40].copy_from_slice(&lba.to_le_bytes());
        aad[40..48].copy_from_slice(&block.to_le_bytes());
        aad
    }

    /// Reads sector `lba` while the lock is held (the map cannot change meanwhile).
    fn read_sector(&self, state: &mut State, lba: u64, out: &mut [u8]) -> Result<()> {
        let entry = self.entry(state, lba)?;
        self.read_entry(lba, &entry, out)
    }

    /// Reads sector `lba` holding the lock only to look up its map entry, so that reads and
    /// writes of other requests proceed while this one waits for the medium and decrypts.
    ///
    /// A write of the same sector running meanwhile may free the block the entry names, and
    /// another write may reuse and overwrite it. The sector then fails authentication (the
    /// block number and a nonce used once are bound into it), and is read again under the lock,
    /// where the answer is final. A sector that authenticates is the data of that entry: the
    /// value before the concurrent write, which is a valid order of the two requests.
    fn read_sector_shared(&self, lba: u64, out: &mut [u8]) -> Result<()> {
        let entry = {
            let mut state = self.lock();
            self.entry(&mut state, lba)?
        };
        match self.read_entry(lba, &entry, out) {
            Err(Error::Integrity) => {
                let mut state = self.lock();
                self.read_sector(&mut state, lba, out)
            }
            other => other,
        }
    }

    /// Reads and opens the block of `entry` into `out` (zeros for an unmapped sector); on a
    /// failed authentication `out` is zeroed and the error is [`Error::Integrity`].
    fn read_entry(&self, lba: u64, entry: &Entry, out: &mut [u8]) -> Result<()> {
        if entry.block == 0 {
            out.fill(0);
            return Ok(());
        }
        self.medium
            .inner
            .device
            .read_block(BlockId(entry.block), out)?;
        let aad = self.aad(lba, entry.block);
        if self
            .cipher
            .decrypt_in_place_detached(&entry.nonce, &aad, out, &entry.tag)
            .is_err()
        {
            out.fill(0);
            return Err(Error::Integrity);
        }
        Ok(())
    }

    /// Writes sector `lba` while the lock is held throughout (the read-modify-write of partial
    /// sectors needs that).
    fn write_sector(&self, state: &mut State, lba: u64, data: &[u8]) -> Result<()> {
        let (block, nonce) = self.allocate_sector(state, lba)?;
        let sealed = self.seal_sector(lba, block, &nonce, data);
        if let Err(e) = self
            .medium
            .inner
            .device
            .write_block(BlockId(block), &sealed)
        {
            state.release(&self.medium.inner, block);
            return Err(e.into());
        }
        self.commit_sector(
            state,
            lba,
            Entry {
                block,
                nonce,
                tag: sealed.tag,
            },
        )
    }

    /// Writes a whole sector holding the lock only to allocate its block and to record it in
    /// the map: encryption and the write to the medium run unlocked, beside other requests.
    ///
    /// A flush running meanwhile does not see this sector (it is not in the map yet) and is
    /// not meant to: only writes acknowledged before a flush was asked for must be durable
    /// after it. The block, allocated before that flush, is then released like a block of an
    /// older root, two roots after it stops being used.
    fn write_sector_shared(&self, lba: u64, data: &[u8]) -> Result<()> {
        let (block, nonce) = {
            let mut state = self.lock();
            self.allocate_sector(&mut state, lba)?
        };
        let sealed = self.seal_sector(lba, block, &nonce, data);
        let written = self
            .medium
            .inner
            .device
            .write_block(BlockId(block), &sealed);
        let mut state = self.lock();
        if let Err(e) = written {
            state.release(&self.medium.inner, block);
            return Err(e.into());
        }
        self.commit_sector(
            &mut state,
            lba,
            Entry {
                block,
                nonce,
                tag: sealed.tag,
            },
        )
    }

    /// Allocates the block for a new version of sector `lba` and draws its nonce.
    fn allocate_sector(&self, state: &mut State, lba: u64) -> Result<(u64, [u8; 24])> {
        let medium = &self.medium.inner;
        self.leaf_mut(state, lba / ENTRIES_PER_LEAF)?;
        // Keep room for two rewrites of the whole map (leaves and index blocks): a full medium
        // still flushes, and after a reopen a trim can still be flushed to free space.
        let reserve = 2 * (state.leaf_ptrs.len() + state.index_ptrs.len()) as u64 + 2;
        let block = match medium.allocate_keeping(reserve) {
            Err(Error::NoSpace) if state.has_pending() => {
                // Overwritten sectors hold their old blocks until two roots after the overwrite
                // are durable. Writing the whole volume over without a flush would run out of
                // space although most of it is waiting to be freed, so commit those two roots
                // now. A flush may always come early: it only makes acknowledged writes
                // durable sooner.
                self.flush_locked(state)?;
                self.flush_locked(state)?;
                medium.allocate_keeping(reserve)?
            }
            other => other?,
        };
        state.owned.set(block);
        state.fresh.set(block);
        let mut nonce = [0u8; 24];
        state.rng.fill_bytes(&mut nonce);
        Ok((block, nonce))
    }

    /// Encrypts `data` as sector `lba` stored in `block`.
    fn seal_sector(&self, lba: u64, block: u64, nonce: &[u8; 24], data: &[u8]) -> SealedSector {
        let mut bytes = data.to_vec();
        let tag = self
            .cipher
            .encrypt_in_place_detached(nonce, &self.aad(lba, block), &mut bytes);
        SealedSector { bytes, tag }
    }

    /// Points sector `lba` at its newly written block and releases the block it replaces. If
    /// the map refuses (a leaf that failed authentication), the new block is given back.
    fn commit_sector(&self, state: &mut State, lba: u64, entry: Entry) -> Result<()> {
        let medium = &self.medium.inner;
        let block = entry.block;
        let old = match self.set_entry(state, lba, entry) {
            Ok(old) => old,
            Err(e) => {
                state.release(medium, block);
                return Err(e);
            }
        };
        if old != 0 {
            state.release(medium, old);
        }
        state.changed = true;
        Ok(())
    }

    /// Writes `len` bytes at `offset` from `data`, or zeros when `data` is `None`.
    fn write_bytes(
        &self,
        state: &mut State,
        offset: u64,
        data: Option<&[u8]>,
        len: usize,
    ) -> Result<()> {
        let mut sector = vec![0u8; BLOCK_SIZE];
        let mut done = 0usize;
        while done < len {
            let pos = offset + done as u64;
            let (lba, within) = (pos / SECTOR, (pos % SECTOR) as usize);
            let n = (BLOCK_SIZE - within).min(len - done);
            if n < BLOCK_SIZE {
                self.read_sector(state, lba, &mut sector)?;
            }
            let target = sector
                .get_mut(within..within + n)
                .ok_or(Error::InvalidParameter("range"))?;
            match data {
                Some(d) => target.copy_from_slice(
                    d.get(done..done + n)
                        .ok_or(Error::InvalidParameter("range"))?,
                ),
                None => target.fill(0),
            }
            self.write_sector(state, lba, &sector)?;
            done += n;
        }
        sector.zeroize();
        Ok(())
    }

    fn trim_sectors(&self, state: &mut State, first: u64, end: u64) -> Result<()> {
        let medium = &self.medium.inner;
        let mut lba = first;
        while lba < end {
            let leaf = lba / ENTRIES_PER_LEAF;
            let leaf_end = ((leaf + 1) * ENTRIES_PER_LEAF).min(end);
            let has_leaf = state.cache.contains_key(&leaf)
                || state
                    .leaf_ptrs
                    .get(to_usize(leaf)?)
                    .is_some_and(|&p| p != 0);
            if has_leaf || state.bad_leaves.contains(&leaf) {
                for i in lba..leaf_end {
                    let old = self.set_entry(state, i, Entry::default())?;
                    if old != 0 {
                        state.release(medium, old);
                        state.changed = true;
                    }
                }
            }
            lba = leaf_end;
        }
        Ok(())
    }

    fn entry(&self, state: &mut State, lba: u64) -> Result<Entry> {
        let leaf = self.leaf_mut(state, lba / ENTRIES_PER_LEAF)?;
        leaf.entries
            .get(to_usize(lba % ENTRIES_PER_LEAF)?)
            .copied()
            .ok_or(Error::InvalidParameter("entry index"))
    }

    /// Replaces the entry of `lba`; returns the block it pointed at.
    fn set_entry(&self, state: &mut State, lba: u64, entry: Entry) -> Result<u64> {
        let leaf = self.leaf_mut(state, lba / ENTRIES_PER_LEAF)?;
        let slot = leaf
            .entries
            .get_mut(to_usize(lba % ENTRIES_PER_LEAF)?)
            .ok_or(Error::InvalidParameter("entry index"))?;
        let old = slot.block;
        if *slot != entry {
            *slot = entry;
            leaf.dirty = true;
        }
        Ok(old)
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
            let ptr = state.leaf_ptrs.get(to_usize(leaf)?).copied().unwrap_or(0);
            let loaded = if ptr == 0 {
                Leaf::empty()
            } else {
                read_leaf(&self.medium.inner, &self.map, ptr).ok_or(Error::Integrity)?
            };
            state.cache.insert(leaf, loaded);
        }
        state.cache.get_mut(&leaf).ok_or(Error::Integrity)
    }

    /// Writes out every dirty leaf and drops all clean ones from the cache.
    fn shrink_cache(&self, state: &mut State) -> Result<()> {
        let dirty: Vec<u64> = state
            .cache
            .iter()
            .filter(|(_, l)| l.dirty)
            .map(|(&i, _)| i)
            .collect();
        for leaf in dirty {
            self.write_leaf(state, leaf)?;
        }
        state.cache.clear();
        Ok(())
    }

    /// Seals leaf `leaf` into a fresh block (copy-on-write) and points the index at it.
    fn write_leaf(&self, state: &mut State, leaf: u64) -> Result<()> {
        let medium = &self.medium.inner;
        let Some(l) = state.cache.get(&leaf) else {
            return Ok(());
        };
        let plain = l.encode();
        let block = self.write_map_block(state, &plain)?;
        let index = to_usize(leaf)?;
        let slot = state
            .leaf_ptrs
            .get_mut(index)
            .ok_or(Error::InvalidParameter("leaf index"))?;
        let old = core::mem::replace(slot, block);
        if old != 0 {
            state.release(medium, old);
        }
        state.dirty_index.insert(index / LEAVES_PER_INDEX_LEN);
        if let Some(l) = state.cache.get_mut(&leaf) {
            l.dirty = false;
        }
        Ok(())
    }

    /// Seals `plain` (a leaf or an index block) into a freshly allocated block and returns it;
    /// on a write error the block is given back.
    fn write_map_block(&self, state: &mut State, plain: &[u8]) -> Result<u64> {
        let medium = &self.medium.inner;
        let block = medium.allocate()?;
        state.owned.set(block);
        state.fresh.set(block);
        if let Err(e) = self.map.write_block(&*medium.device, BlockId(block), plain) {
            state.release(medium, block);
            return Err(e.into());
        }
        Ok(block)
    }

    fn flush_locked(&self, state: &mut State) -> Result<()> {
        let medium = &self.medium.inner;
        let dirty: Vec<u64> = state
            .cache
            .iter()
            .filter(|(_, l)| l.dirty)
            .map(|(&i, _)| i)
            .collect();
        for leaf in dirty {
            self.write_leaf(state, leaf)?;
        }
        let dirty_index: Vec<usize> = state.dirty_index.iter().copied().collect();
        for i in dirty_index {
            let per = LEAVES_PER_INDEX_LEN;
            let start = i * per;
            let end = (start + per).min(state.leaf_ptrs.len());
            let plain =
                crate::map::encode_pointers(state.leaf_ptrs.get(start..end).unwrap_or_default());
            let block = self.write_map_block(state, &plain)?;
            let slot = state
                .index_ptrs
                .get_mut(i)
                .ok_or(Error::InvalidParameter("index block"))?;
            let old = core::mem::replace(slot, block);
            if old != 0 {
                state.release(medium, old);
            }
            state.dirty_index.remove(&i);
        }
        medium.device.flush()?;
        // Nothing to record and nothing waiting to be freed: the durable root stands.
        if !state.changed && !state.has_pending() {
            return Ok(());
        }
        let root = state.root(self);
        let generation = state.generation + 1;
        write_root(medium, &state.keyed, &root, generation)?;
        state.generation = generation;
        state.changed = false;
        // Generation g+1 is durable: blocks the root before it still referenced are free now.
        let prev = core::mem::replace(
            &mut state.pending_prev,
            core::mem::take(&mut state.pending_now),
        );
        for &b in &prev {
            state.owned.clear(b);
        }
        release_all(medium, &prev);
        state.fresh.clear_all();
        Ok(())
    }
}

impl Drop for VolumeInner {
    fn drop(&mut self) {
        let medium = &self.medium.inner;
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ms = medium.lock();
        for b in state.owned.iter_ones() {
            ms.used.clear(b);
        }
        ms.open.retain(|(_, weak)| weak.strong_count() > 0);
    }
}

impl State {
    fn root(&self, inner: &VolumeInner) -> Root {
        Root {
            volume_key: self.volume_key.clone_key(),
            volume_id: inner.volume_id,
            logical_size: inner.logical_size,
            lower: self.lower_keys.iter().map(SecretKey::clone_key).collect(),
            index: self.index_ptrs.clone(),
        }
    }

    /// Whether blocks are waiting for durable roots to be freed.
    fn has_pending(&self) -> bool {
        !(self.pending_now.is_empty() && self.pending_prev.is_empty())
    }

    /// The volume stops referencing `block`: free at once if no durable root references it,
    /// else after the next two roots are durable.
    fn release(&mut self, medium: &MediumInner, block: u64) {
        if self.fresh.clear(block) {
            self.owned.clear(block);
            release_all(medium, &[block]);
        } else {
            self.pending_now.push(block);
        }
        self.changed = true;
    }
}

fn to_usize(x: u64) -> Result<usize> {
    usize::try_from(x).map_err(|_| Error::InvalidParameter("index beyond the address space"))
}

fn leaf_count(logical_size: u64) -> u64 {
    (logical_size / SECTOR).div_ceil(ENTRIES_PER_LEAF)
}

fn fingerprint(mesh_key: &SecretKey, salt: &[u8]) -> [u8; 32] {
    *derive_subkey(mesh_key, salt, labels::VOLUME_HANDLE).as_bytes()
}

fn map_namespace(volume_key: &SecretKey, salt: &[u8]) -> Result<Namespace> {
    Ok(Namespace::new(
        derive_subkey(volume_key, salt, labels::VOLUME_MAP),
        salt,
    )?)
}

fn find_open(medium: &MediumInner, fingerprint: &[u8; 32]) -> Option<Arc<VolumeInner>> {
    let state = medium.lock();
    state
        .open
        .iter()
        .find(|(f, _)| f == fingerprint)
        .and_then(|(_, weak)| Weak::upgrade(weak))
}

/// Mesh positions are in `[0, block_count - 1)`; block 0 holds the salt, so position `p` is
/// physical block `p + 1`.
fn physical_mesh_blocks(keyed: &KeyedMesh) -> Vec<u64> {
    keyed.blocks_to_read().iter().map(|b| b.get() + 1).collect()
}

/// Marks `blocks` used, or fails without marking any if one is used already.
fn reserve(medium: &MediumInner, blocks: &[u64]) -> Result<()> {
    let mut state = medium.lock();
    if blocks.iter().any(|&b| state.used.get(b)) {
        return Err(Error::PassphraseCollision);
    }
    for &b in blocks {
        state.used.set(b);
    }
    Ok(())
}

fn release_all(medium: &MediumInner, blocks: &[u64]) {
    let mut state = medium.lock();
    for &b in blocks {
        state.used.clear(b);
    }
}

/// Reads the newest root generation: `Err(NoVolume)` if none reconstructs.
fn read_root(medium: &MediumInner, keyed: &KeyedMesh) -> Result<(u64, Root)> {
    let mut blocks = Vec::with_capacity(keyed.blocks_to_read().len());
    for &id in keyed.blocks_to_read() {
        let mut buf = vec![0u8; BLOCK_SIZE];
        medium.device.read_block(BlockId(id.get() + 1), &mut buf)?;
        blocks.push((id, buf));
    }
    let read = keyed.read_latest(&blocks).map_err(|_| Error::NoVolume)?;
    let root = Root::decode(&read.metadata).ok_or(Error::NoVolume)?;
    Ok((read.generation, root))
}

/// Writes root generation `generation` to its slot and syncs.
fn write_root(medium: &MediumInner, keyed: &KeyedMesh, root: &Root, generation: u64) -> Result<()> {
    let encoded = root.encode();
    for p in keyed.shard_metadata_generation(&encoded, generation)? {
        medium
            .device
            .write_block(BlockId(p.target_block.get() + 1), &p.share)?;
    }
    medium.device.flush()?;
    Ok(())
}

fn read_sealed(medium: &MediumInner, map: &Namespace, block: u64) -> Result<Vec<u8>> {
    map.read_block(&*medium.device, BlockId(block))?
        .ok_or(Error::Integrity)
}

fn read_leaf(medium: &MediumInner, map: &Namespace, block: u64) -> Option<Leaf> {
    read_sealed(medium, map, block)
        .ok()
        .and_then(|plain| Leaf::decode(&plain))
}
