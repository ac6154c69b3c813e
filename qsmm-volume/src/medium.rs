//! Media: formatting, opening with an exclusive lock, the passphrase KDF and the shared block
//! allocator.

use std::any::Any;
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_types::{BlockId, Threshold};
use qsmm_void::{BlockDevice, FileDevice};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use zeroize::Zeroize;

use crate::bitmap::Bitmap;
use crate::error::{Error, Result};
use crate::kdf::KdfCost;
use crate::multi_snapshot::{MultiState, ROOT_AREA};

/// Blocks held for a new root while the open volumes move out of them.
mod reservation;

pub(crate) use reservation::Reservation;

/// Bytes per block of the medium and per logical sector of a volume.
pub const BLOCK_SIZE: usize = 4096;

/// The smallest medium [`format()`] makes and [`Medium::open`] accepts: 1 MiB (256 blocks).
pub const MIN_MEDIUM_SIZE: u64 = 1 << 20;

/// Bytes of per-medium salt, read from the start of block 0.
pub(crate) const SALT_LEN: usize = 32;

/// `k`-of-`n` of every volume's mesh root: any 2 of the 4 shares of a slot rebuild it.
const MESH_K: usize = 2;
const MESH_N: usize = 4;

/// Fills the medium at `path` with CSPRNG noise: a new (or truncated) image file of `size`
/// bytes, or a whole block device whose size must then be `size`.
///
/// `progress(done, total)` is called in bytes, about once per MiB. Nothing marks the medium:
/// it is noise from the first byte to the last, and the salt that volumes use is the first 32
/// bytes of that noise.
///
/// This is the only way to make a medium: [`Medium::open`] refuses a medium whose size is not a
/// multiple of 4096 of at least [`MIN_MEDIUM_SIZE`], and one whose first block reads as zeros
/// (a fresh sparse file, a zeroed device).
///
/// Block 0's first 32 bytes are the salt of every key on the medium: overwriting them loses
/// every volume. A medium copied onto a larger file or device keeps its volumes (root positions
/// depend on the size only through the largest power of two below the block count, and opening
/// tries the smaller ones); the tail past the copy should then be filled with noise by other
/// means, since zeros there stand out. Formatting a device over an old image writes new noise
/// and a new salt: every volume on it is gone.
///
/// When this returns `Ok` the noise is durable.
///
/// # Errors
///
/// [`Error::InvalidMediumSize`] for a bad size; [`Error::Io`] / [`Error::Core`] if the medium
/// cannot be created or written.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("medium.img");
/// qsmm_volume::format(&path, 1 << 20, |_, _| {})?;
/// assert_eq!(std::fs::metadata(&path)?.len(), 1 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn format(path: impl AsRef<Path>, size: u64, mut progress: impl FnMut(u64, u64)) -> Result<()> {
    let path = path.as_ref();
    check_medium_size(size)?;
    let blocks = size / BLOCK_SIZE as u64;
    let is_device = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device());
    let device = if is_device {
        let device = FileDevice::open(path, BLOCK_SIZE)?;
        if device.block_count() != blocks {
            return Err(Error::InvalidMediumSize {
                size,
                min: MIN_MEDIUM_SIZE,
            });
        }
        device
    } else {
        FileDevice::create(path, BLOCK_SIZE, blocks)?
    };
    let block = BLOCK_SIZE as u64;
    qsmm_void::format_with_progress(&device, |done, total| {
        progress(done * block, total * block);
    })?;
    if !is_device {
        drop_cached_pages(path);
    }
    Ok(())
}

/// Asks the kernel to drop the formatted file's pages from the page cache (they are synced).
///
/// Formatting writes the file sequentially in large chunks, which leaves it cached in large
/// folios; every later 4 KiB write at a random block would then walk the buffer heads of a
/// whole large folio (measured on ext4: two thirds of the serving CPU time in
/// `ext4_block_write_begin` right after a format). Dropped pages come back one block at a time.
/// Only advice: where it fails or is not available, nothing but speed changes.
fn drop_cached_pages(path: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(file) = File::open(path) {
        use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
        // Advice only: an error leaves the pages cached, which is slower, not wrong.
        posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED).ok();
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
}

/// An opened, formatted medium: an image file or a block device of 4096-byte blocks.
///
/// Clones share one state: volumes opened through any clone see each other's blocks as used,
/// so none allocates a block another open volume holds. A medium opened from a path holds an
/// exclusive lock on it ([`File::try_lock`]) until the last clone and the last volume on it are
/// dropped; a second [`Medium::open`] of the same file, from this process or another, fails
/// with [`Error::Locked`].
///
/// # Examples
///
/// ```
/// use qsmm_volume::{KdfCost, Medium};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("medium.img");
/// qsmm_volume::format(&path, 4 << 20, |_, _| {})?;
/// let medium = Medium::open_with_kdf_cost(&path, KdfCost::DANGER_INSECURE_FOR_TESTS)?;
/// assert_eq!(medium.block_count(), 1024);
/// assert!(matches!(Medium::open(&path), Err(qsmm_volume::Error::Locked)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Medium {
    inner: Arc<MediumInner>,
}

/// What an open volume's registration holds: the volume, type-erased so that the medium does
/// not depend on the volume layer above it.
pub(crate) type OpenVolume = Arc<dyn Any + Send + Sync>;

struct MediumInner {
    device: Arc<dyn BlockDevice + Send + Sync>,
    /// Held for its lock; released when the file is closed.
    _lock: Option<File>,
    salt: [u8; SALT_LEN],
    block_count: u64,
    kdf: KdfCost,
    mesh: MetadataMesh,
    state: Mutex<MediumState>,
    /// Multi-snapshot mode: set when the first volume in that mode opens (lock it before
    /// `state`).
    multi: Mutex<Option<MultiState>>,
}

struct MediumState {
    /// Blocks in use by an open volume (data, map, both mesh slots), plus block 0.
    used: Bitmap,
    rng: ChaCha20Rng,
    /// Open volumes by in-memory fingerprint, so that one volume is never opened twice, each
    /// with the blocks a commit of it may need (its share of the reserve).
    open: Vec<([u8; 32], Weak<dyn Any + Send + Sync>, u64)>,
    /// Blocks reserved for a new root ([`Reservation`]), each with whether it is vacated.
    reserved: std::collections::BTreeMap<u64, bool>,
}

impl MediumState {
    /// Returns block `b` to the pool, or to its reservation if one waits for it.
    fn free(&mut self, b: u64) {
        match self.reserved.get_mut(&b) {
            Some(vacated) => *vacated = true,
            None => {
                self.used.clear(b);
            }
        }
    }
}

impl Medium {
    /// Opens a formatted medium with the default passphrase cost ([`KdfCost::DEFAULT`]).
    ///
    /// # Errors
    ///
    /// As [`Self::open_with_kdf_cost`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_kdf_cost(path, KdfCost::DEFAULT)
    }

    /// Opens a formatted medium whose volumes use passphrase cost `kdf`, and locks it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if it cannot be opened; [`Error::InvalidMediumSize`] for a size that
    /// [`format()`] never makes; [`Error::NotFormatted`] if it reads as zeros where noise belongs;
    /// [`Error::Locked`] if another handle holds it.
    pub fn open_with_kdf_cost(path: impl AsRef<Path>, kdf: KdfCost) -> Result<Self> {
        let path = path.as_ref();
        let lock = OpenOptions::new().read(true).open(path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::Locked),
            Err(TryLockError::Error(e)) => return Err(Error::Io(e)),
        }
        let device = match FileDevice::open(path, BLOCK_SIZE) {
            Ok(device) => device,
            Err(qsmm_types::Error::InvalidLength { got, .. }) => {
                return Err(Error::InvalidMediumSize {
                    size: got as u64,
                    min: MIN_MEDIUM_SIZE,
                });
            }
            Err(e) => return Err(e.into()),
        };
        Self::build(Arc::new(device), kdf, Some(lock))
    }

    /// A medium over any [`BlockDevice`] of 4096-byte blocks that [`format()`] or
    /// [`qsmm_void::format()`] filled with noise (tests use in-memory and crash-simulating
    /// devices). No lock is taken: the caller owns the device.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for another block size; otherwise as
    /// [`Self::open_with_kdf_cost`].
    pub fn from_device(device: Arc<dyn BlockDevice + Send + Sync>, kdf: KdfCost) -> Result<Self> {
        Self::build(device, kdf, None)
    }

    fn build(
        device: Arc<dyn BlockDevice + Send + Sync>,
        kdf: KdfCost,
        lock: Option<File>,
    ) -> Result<Self> {
        if device.block_size() != BLOCK_SIZE {
            return Err(Error::InvalidParameter("block size must be 4096"));
        }
        let block_count = device.block_count();
        check_medium_size(block_count.saturating_mul(BLOCK_SIZE as u64))?;
        // Only block 0 is checked: a medium copied onto a larger file or device has whatever
        // the copy left after its end.
        let mut block = vec![0u8; BLOCK_SIZE];
        device.read_block(BlockId(0), &mut block)?;
        if block.iter().all(|&b| b == 0) {
            return Err(Error::NotFormatted);
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(block.get(..SALT_LEN).ok_or(Error::NotFormatted)?);
        let mesh = mesh_of_span(mesh_span(block_count))?;
        let mut used = Bitmap::new(block_count);
        used.set(0);
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| qsmm_types::Error::Rng)?;
        let rng = ChaCha20Rng::from_seed(seed);
        seed.zeroize();
        Ok(Self {
            inner: Arc::new(MediumInner {
                device,
                _lock: lock,
                salt,
                block_count,
                kdf,
                mesh,
                state: Mutex::new(MediumState {
                    used,
                    rng,
                    open: Vec::new(),
                    reserved: std::collections::BTreeMap::new(),
                }),
                multi: Mutex::new(None),
            }),
        })
    }

    /// Number of 4096-byte blocks.
    #[must_use]
    pub fn block_count(&self) -> u64 {
        self.inner.block_count
    }

    /// Size in bytes.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.inner.block_count * BLOCK_SIZE as u64
    }

    /// The passphrase cost this medium was opened with.
    #[must_use]
    pub fn kdf_cost(&self) -> KdfCost {
        self.inner.kdf
    }

    /// Blocks not used by any volume open on this medium (what the open volumes may still
    /// allocate; closed volumes are invisible and count as free).
    #[must_use]
    pub fn free_blocks(&self) -> u64 {
        let state = self.inner.lock();
        state.used.len() - state.used.ones()
    }

    pub(crate) fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The device under the medium.
    pub(crate) fn device(&self) -> &dyn BlockDevice {
        &*self.inner.device
    }

    /// The per-medium salt (the first bytes of block 0).
    pub(crate) fn salt(&self) -> &[u8; SALT_LEN] {
        &self.inner.salt
    }

    /// The mesh geometry new roots use on this medium.
    pub(crate) fn mesh(&self) -> &MetadataMesh {
        &self.inner.mesh
    }

    /// Every mesh geometry a root on this medium may use: this medium's, then those of the
    /// smaller media it may have been copied from (spans halving down to the smallest medium's).
    pub(crate) fn meshes(&self) -> impl Iterator<Item = MetadataMesh> + '_ {
        let first = mesh_span(self.inner.block_count);
        core::iter::successors(Some(first), |&span| {
            (span > mesh_span(MIN_MEDIUM_SIZE / BLOCK_SIZE as u64)).then_some(span / 2)
        })
        .map(move |span| {
            if span == first {
                Ok(self.inner.mesh.clone())
            } else {
                mesh_of_span(span)
            }
        })
        .filter_map(Result::ok)
    }

    /// Picks a block uniformly at random among the free ones and marks it used (map blocks:
    /// commits may take the reserve).
    pub(crate) fn allocate(&self) -> Result<u64> {
        self.allocate_or_unhold(false)
    }

    /// As [`Self::allocate`] for a data write: fails with [`Error::NoSpace`] unless more blocks
    /// are free than the reserve. The reserve is one for the medium, since the pool is shared:
    /// the sum of what a commit of each open volume may need (registered with it), so that no
    /// volume's writes can take the room another's flush needs.
    pub(crate) fn allocate_data(&self) -> Result<u64> {
        self.allocate_or_unhold(true)
    }

    /// Allocates; with no block free, gives back the blocks noise slots hold in
    /// multi-snapshot mode (if any) and tries once more.
    fn allocate_or_unhold(&self, keep_reserve: bool) -> Result<u64> {
        match self.inner.allocate_keeping(keep_reserve) {
            Err(Error::NoSpace) if self.release_noise_held() => {
                self.inner.allocate_keeping(keep_reserve)
            }
            other => other,
        }
    }

    /// Marks those of `blocks` that are free used, and returns them.
    pub(crate) fn claim_free(&self, blocks: &[u64]) -> Vec<u64> {
        let mut state = self.inner.lock();
        blocks
            .iter()
            .copied()
            .filter(|&b| state.used.set(b))
            .collect()
    }

    /// Marks `blocks` used (blocks an opening volume found its map referencing).
    pub(crate) fn mark_used(&self, blocks: impl IntoIterator<Item = u64>) {
        let mut state = self.inner.lock();
        for b in blocks {
            state.used.set(b);
        }
    }

    /// Returns `blocks` to the free pool; in multi-snapshot mode, those a slot wrote during
    /// this mount are held like noise blocks instead (see [`Self::hold_carried`]).
    pub(crate) fn release(&self, blocks: impl IntoIterator<Item = u64>) {
        let mut blocks: Vec<u64> = blocks.into_iter().collect();
        self.forget_queued(&blocks);
        self.hold_carried(&mut blocks);
        let mut state = self.inner.lock();
        for b in blocks {
            state.free(b);
        }
    }

    /// The open volume registered under `fingerprint`, if it is still alive.
    pub(crate) fn find_open(&self, fingerprint: &[u8; 32]) -> Option<OpenVolume> {
        let state = self.inner.lock();
        state
            .open
            .iter()
            .find(|(f, _, _)| f == fingerprint)
            .and_then(|(_, weak, _)| Weak::upgrade(weak))
    }

    /// Every open volume.
    pub(crate) fn open_volumes(&self) -> Vec<OpenVolume> {
        let state = self.inner.lock();
        state
            .open
            .iter()
            .filter_map(|(_, w, _)| w.upgrade())
            .collect()
    }

    /// Registers an open volume under `fingerprint`; a commit of it may need up to `reserve`
    /// blocks, which data writes of every volume leave free (see [`Self::allocate_data`]).
    pub(crate) fn register(&self, fingerprint: [u8; 32], volume: &OpenVolume, reserve: u64) {
        self.inner
            .lock()
            .open
            .push((fingerprint, Arc::downgrade(volume), reserve));
    }

    /// Moves the registration of `old` to `new` (the passphrase changed).
    pub(crate) fn rename(&self, old: &[u8; 32], new: [u8; 32]) {
        let mut state = self.inner.lock();
        for entry in &mut state.open {
            if &entry.0 == old {
                entry.0 = new;
            }
        }
    }

    /// A volume is gone: forgets registrations of dropped volumes and frees `blocks` once no
    /// volume of this medium is open any more.
    ///
    /// While another volume is open its next flush may allocate, so the blocks of a volume that
    /// closed first (a higher volume closed before the lower one it protects, as a server closing
    /// its exports in the order they were listed does) stay taken until the medium is dropped:
    /// freeing them would let that flush overwrite the closed volume's data.
    pub(crate) fn forget(&self, blocks: impl IntoIterator<Item = u64>) {
        let blocks: Vec<u64> = blocks.into_iter().collect();
        self.forget_queued(&blocks);
        let mut state = self.inner.lock();
        state.open.retain(|(_, weak, _)| weak.strong_count() > 0);
        if state.open.is_empty() {
            for b in blocks {
                state.free(b);
            }
        }
    }
}

/// Hooks of the multi-snapshot mode (`crate::multi_snapshot`).
impl Medium {
    /// The multi-snapshot state (`None` in single-snapshot mode).
    pub(crate) fn multi(&self) -> MutexGuard<'_, Option<MultiState>> {
        self.inner
            .multi
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a volume in multi-snapshot mode has been opened on this medium.
    pub(crate) fn is_multi(&self) -> bool {
        self.multi().is_some()
    }

    /// Puts the medium in multi-snapshot mode: the root area is never allocated from then on.
    /// Refused while a volume of the other mode is open.
    pub(crate) fn enable_multi(&self) -> Result<()> {
        let mut multi = self.multi();
        if multi.is_some() {
            return Ok(());
        }
        let mut state = self.inner.lock();
        state.open.retain(|(_, weak, _)| weak.strong_count() > 0);
        if !state.open.is_empty() || ROOT_AREA.clone().any(|b| state.used.get(b)) {
            return Err(Error::InvalidParameter(
                "volumes of both snapshot modes cannot be open on one medium",
            ));
        }
        for b in ROOT_AREA {
            state.used.set(b);
        }
        let mut seed = [0u8; 32];
        state.rng.fill_bytes(&mut seed);
        *multi = Some(MultiState::new(
            ChaCha20Rng::from_seed(seed),
            self.block_count(),
        ));
        seed.zeroize();
        Ok(())
    }

    /// Takes a uniformly random block no open volume holds, for noise; returns it and how
    /// many blocks were free (`None`: none left).
    pub(crate) fn hold_free(&self, rng: &mut ChaCha20Rng) -> Option<(u64, u64)> {
        let mut state = self.inner.lock();
        let len = state.used.len();
        let free = len - state.used.ones();
        if free == 0 {
            return None;
        }
        let mut block = None;
        for _ in 0..32 {
            let candidate = below(rng, len);
            if !state.used.get(candidate) {
                block = Some(candidate);
                break;
            }
        }
        let block = match block {
            Some(b) => b,
            None => state.used.nth_zero(below(rng, free))?,
        };
        state.used.set(block);
        Some((block, free))
    }

    /// Gives back blocks noise slots held (no queue entry can name them).
    pub(crate) fn release_held(&self, blocks: &[u64]) {
        let mut state = self.inner.lock();
        for &b in blocks {
            state.free(b);
        }
    }

    fn forget_queued(&self, blocks: &[u64]) {
        if let Some(m) = self.multi().as_mut() {
            m.forget_queued(blocks);
        }
    }
}

impl core::fmt::Debug for Medium {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Medium")
            .field("block_count", &self.inner.block_count)
            .finish_non_exhaustive()
    }
}

impl MediumInner {
    fn lock(&self) -> MutexGuard<'_, MediumState> {
        // A panic while holding the lock cannot leave the bitmap inconsistent in a way that
        // matters more than refusing all further I/O would; keep going with the data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn allocate_keeping(&self, keep_reserve: bool) -> Result<u64> {
        let mut state = self.lock();
        let state = &mut *state;
        let len = state.used.len();
        let free = len - state.used.ones();
        let reserve: u64 = if keep_reserve {
            state
                .open
                .iter()
                .filter(|(_, weak, _)| weak.strong_count() > 0)
                .map(|(_, _, r)| r)
                .sum()
        } else {
            0
        };
        if free <= reserve {
            return Err(Error::NoSpace);
        }
        // Rejection sampling is uniform; after a few misses pick the r-th free block directly,
        // also uniform, so a nearly full medium costs a bitmap scan, not a long loop.
        for _ in 0..32 {
            let candidate = below(&mut state.rng, len);
            if !state.used.get(candidate) {
                state.used.set(candidate);
                return Ok(candidate);
            }
        }
        let rank = below(&mut state.rng, free);
        let block = state.used.nth_zero(rank).ok_or(Error::NoSpace)?;
        state.used.set(block);
        Ok(block)
    }
}

/// A uniform value in `[0, n)` for `n > 0`, by rejection (fewer than 2 draws on average).
fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return x % n;
        }
    }
}

/// How many blocks, after block 0 (the salt), root positions are drawn from on a medium of
/// `block_count` blocks: the largest power of two not above `block_count - 1`. Positions thus
/// depend on the medium's size only through this power of two, and a medium copied onto a
/// larger one is found again by trying the smaller spans in turn ([`Medium::meshes`]).
fn mesh_span(block_count: u64) -> u64 {
    let n = block_count.saturating_sub(1).max(1);
    1 << (63 - n.leading_zeros())
}

/// The 2-of-4 mesh over positions `[0, span)`, i.e. physical blocks `1..=span`.
fn mesh_of_span(span: u64) -> Result<MetadataMesh> {
    Ok(MetadataMesh::new(MeshConfig::new(
        Threshold::try_new(MESH_K, MESH_N)?,
        span,
    )))
}

fn check_medium_size(size: u64) -> Result<()> {
    if size < MIN_MEDIUM_SIZE || !size.is_multiple_of(BLOCK_SIZE as u64) {
        return Err(Error::InvalidMediumSize {
            size,
            min: MIN_MEDIUM_SIZE,
        });
    }
    Ok(())
}
