//! Media: formatting, opening with an exclusive lock, the passphrase KDF and the shared block
//! allocator.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use argon2::{Algorithm, Argon2, Params, Version};
use qsmm_shatter::{MeshConfig, MetadataMesh};
use qsmm_types::{BlockId, SecretKey, Threshold};
use qsmm_void::{BlockDevice, FileDevice};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::volume::VolumeInner;

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
/// multiple of 4096 of at least [`MIN_MEDIUM_SIZE`], and one whose first, middle or last block
/// reads as zeros (a fresh sparse file, a zeroed device).
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

/// Argon2id costs of the passphrase → mesh-key derivation.
///
/// Nothing on the medium records the cost: a volume created with one cost opens only with the
/// same cost. Use [`KdfCost::DEFAULT`] for real passphrases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfCost {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl KdfCost {
    /// The cost for disk passphrases: Argon2id with 256 MiB of memory, 3 passes, 1 lane (about
    /// half a second on a current server core; RFC 9106's second recommended option uses 64 MiB,
    /// LUKS2 uses up to 1 GiB). An attacker pays the same for every guess.
    pub const DEFAULT: Self = Self {
        memory_kib: 256 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// <div class="warning">Insecure: for tests only.</div>
    ///
    /// Argon2id with 64 KiB and 1 pass, so that test suites can open many volumes quickly. A
    /// passphrase protected with it falls to guessing orders of magnitude faster.
    pub const DANGER_INSECURE_FOR_TESTS: Self = Self {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// A custom cost: memory in KiB, passes, lanes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for costs Argon2 rejects (memory below 8 KiB per lane, no
    /// pass, no lane).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let cost = Self {
            memory_kib,
            iterations,
            parallelism,
        };
        cost.params()?;
        Ok(cost)
    }

    fn params(self) -> Result<Params> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|_| Error::InvalidParameter("Argon2id cost"))
    }

    /// `Argon2id(passphrase, salt)` → 32-byte mesh key.
    pub(crate) fn derive(self, passphrase: &[u8], salt: &[u8]) -> Result<SecretKey> {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params()?);
        let mut out = [0u8; 32];
        let result = argon.hash_password_into(passphrase, salt, &mut out);
        let key = SecretKey::from_bytes(out);
        out.zeroize();
        result.map_err(|_| Error::InvalidParameter("Argon2id input"))?;
        Ok(key)
    }
}

impl Default for KdfCost {
    fn default() -> Self {
        Self::DEFAULT
    }
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
    pub(crate) inner: Arc<MediumInner>,
}

pub(crate) struct MediumInner {
    pub(crate) device: Arc<dyn BlockDevice + Send + Sync>,
    /// Held for its lock; released when the file is closed.
    _lock: Option<File>,
    pub(crate) salt: [u8; SALT_LEN],
    pub(crate) block_count: u64,
    pub(crate) kdf: KdfCost,
    pub(crate) mesh: MetadataMesh,
    state: Mutex<MediumState>,
}

pub(crate) struct MediumState {
    /// Blocks in use by an open volume (data, map, both mesh slots), plus block 0.
    pub(crate) used: Bitmap,
    rng: ChaCha20Rng,
    /// Open volumes by in-memory fingerprint, so that one volume is never opened twice.
    pub(crate) open: Vec<([u8; 32], Weak<VolumeInner>)>,
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
        let mut block = vec![0u8; BLOCK_SIZE];
        for id in [block_count - 1, block_count / 2, 0] {
            device.read_block(BlockId(id), &mut block)?;
            if block.iter().all(|&b| b == 0) {
                return Err(Error::NotFormatted);
            }
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(block.get(..SALT_LEN).ok_or(Error::NotFormatted)?);
        // Mesh positions cover blocks 1..block_count: block 0 holds the salt.
        let mesh = MetadataMesh::new(MeshConfig::new(
            Threshold::try_new(MESH_K, MESH_N)?,
            block_count - 1,
        ));
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
                }),
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
}

impl core::fmt::Debug for Medium {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Medium")
            .field("block_count", &self.inner.block_count)
            .finish_non_exhaustive()
    }
}

impl MediumInner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, MediumState> {
        // A panic while holding the lock cannot leave the bitmap inconsistent in a way that
        // matters more than refusing all further I/O would; keep going with the data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Picks a block uniformly at random among the free ones and marks it used.
    pub(crate) fn allocate(&self) -> Result<u64> {
        self.allocate_keeping(0)
    }

    /// As [`Self::allocate`], but fails with [`Error::NoSpace`] unless more than `reserve`
    /// blocks are free (data writes keep room for the map blocks of the next flush).
    pub(crate) fn allocate_keeping(&self, reserve: u64) -> Result<u64> {
        let mut state = self.lock();
        let state = &mut *state;
        let len = state.used.len();
        let free = len - state.used.ones();
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

fn check_medium_size(size: u64) -> Result<()> {
    if size < MIN_MEDIUM_SIZE || !size.is_multiple_of(BLOCK_SIZE as u64) {
        return Err(Error::InvalidMediumSize {
            size,
            min: MIN_MEDIUM_SIZE,
        });
    }
    Ok(())
}

/// A fixed-size set of block numbers.
#[derive(Clone)]
pub(crate) struct Bitmap {
    words: Vec<u64>,
    len: u64,
    ones: u64,
}

impl Bitmap {
    pub(crate) fn new(len: u64) -> Self {
        let words = usize::try_from(len.div_ceil(64)).unwrap_or(0);
        Self {
            words: vec![0; words],
            len,
            ones: 0,
        }
    }

    pub(crate) const fn len(&self) -> u64 {
        self.len
    }

    pub(crate) const fn ones(&self) -> u64 {
        self.ones
    }

    fn word(&self, i: u64) -> Option<(usize, u64)> {
        if i >= self.len {
            return None;
        }
        Some((usize::try_from(i / 64).ok()?, 1u64 << (i % 64)))
    }

    pub(crate) fn get(&self, i: u64) -> bool {
        self.word(i)
            .and_then(|(w, bit)| self.words.get(w).map(|word| word & bit != 0))
            .unwrap_or(false)
    }

    /// Sets bit `i`; true if it was clear.
    pub(crate) fn set(&mut self, i: u64) -> bool {
        let Some((w, bit)) = self.word(i) else {
            return false;
        };
        match self.words.get_mut(w) {
            Some(word) if *word & bit == 0 => {
                *word |= bit;
                self.ones += 1;
                true
            }
            _ => false,
        }
    }

    /// Clears bit `i`; true if it was set.
    pub(crate) fn clear(&mut self, i: u64) -> bool {
        let Some((w, bit)) = self.word(i) else {
            return false;
        };
        match self.words.get_mut(w) {
            Some(word) if *word & bit != 0 => {
                *word &= !bit;
                self.ones -= 1;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn clear_all(&mut self) {
        self.words.fill(0);
        self.ones = 0;
    }

    /// The set bits, ascending.
    pub(crate) fn iter_ones(&self) -> impl Iterator<Item = u64> + '_ {
        (0u64..).zip(&self.words).flat_map(|(w, &word)| {
            let mut rest = word;
            core::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = u64::from(rest.trailing_zeros());
                rest &= rest - 1;
                Some(w * 64 + bit)
            })
        })
    }

    /// The `rank`-th clear bit (from 0), ascending.
    fn nth_zero(&self, mut rank: u64) -> Option<u64> {
        for (w, &word) in (0u64..).zip(&self.words) {
            let base = w * 64;
            let valid = (self.len - base).min(64);
            let mask = if valid == 64 {
                u64::MAX
            } else {
                (1u64 << valid) - 1
            };
            let zeros = u64::from((!word & mask).count_ones());
            if rank < zeros {
                let mut rest = !word & mask;
                for _ in 0..rank {
                    rest &= rest - 1;
                }
                return Some(base + u64::from(rest.trailing_zeros()));
            }
            rank -= zeros;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_counts_and_ranks() {
        let mut b = Bitmap::new(130);
        assert!(b.set(0) && b.set(64) && b.set(129));
        assert!(!b.set(64));
        assert_eq!(b.ones(), 3);
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), [0, 64, 129]);
        assert_eq!(b.nth_zero(0), Some(1));
        assert_eq!(b.nth_zero(62), Some(63));
        assert_eq!(b.nth_zero(63), Some(65));
        assert_eq!(b.nth_zero(126), Some(128));
        assert_eq!(b.nth_zero(127), None);
        assert!(b.clear(64) && !b.clear(64));
        assert!(!b.set(130));
        assert!(!b.get(130));
    }
}
