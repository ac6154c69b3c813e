//! Volumes: a logical block device of 4096-byte sectors per passphrase, copy-on-write over
//! randomly allocated blocks, with a map tree under a Shamir mesh root.
//!
//! The public handle lives here; its parts each hold one concern: `state` (what an open volume
//! is), `open` (creating and opening), `io` (sectors), `cache` (the map), `lifecycle` (freeing
//! blocks and committing generations), `rekey` (changing the passphrase).

mod aging;
mod cache;
mod io;
mod lifecycle;
mod multi;
mod open;
mod rekey;
mod relocate;
mod state;

use std::sync::Arc;

use self::state::{SECTOR, VolumeInner};
use crate::error::{Error, Result};
use crate::medium::{BLOCK_SIZE, Medium};
use crate::multi_snapshot::SnapshotMode;

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
    /// - [`Error::PassphraseCollision`] if every place the root may take lies on another open
    ///   volume's root;
    /// - [`Error::RootBlocksHeld`] if every place lies on such roots or has blocks held by a
    ///   volume closed while others stay open, and at least one the latter;
    /// - [`Error::NoSpace`] if open volumes cannot move out of the root's blocks;
    /// - [`Error::Io`], [`Error::Core`] from the medium.
    ///
    /// A failed create holds no block and leaves every open volume intact.
    ///
    /// # Root placement
    ///
    /// A passphrase has 8 places (root variants) of 8 blocks each; the root takes one drawn
    /// uniformly among those that hold no open volume's root (an open tries all 8). Blocks of
    /// open volumes there are moved elsewhere first, copy-on-write: each such volume rewrites the sectors and map blocks
    /// stored there to fresh blocks and commits two generations (its data stays durable at
    /// every step, so a crash meanwhile loses nothing). Volumes that are not open cannot be
    /// moved, nor seen: the new root may overwrite their blocks, as any write may. Open every
    /// volume you know first.
    pub fn create(
        medium: &Medium,
        passphrase: &[u8],
        logical_size: u64,
        protect: &[&Self],
    ) -> Result<Self> {
        Self::create_with_mode(
            medium,
            passphrase,
            logical_size,
            protect,
            SnapshotMode::Single,
        )
    }

    /// As [`Self::create`], in snapshot mode `mode`. The mode is recorded by where the root
    /// lives (a multi-snapshot root sits in the root area, blocks 1–128): only a passphrase
    /// that opens the volume shows it, and [`Self::open`] finds either.
    ///
    /// All volumes open on a medium share one mode; a volume in multi-snapshot mode with
    /// `protect` empty is a *base* volume (it writes in place, each write paired with a
    /// slot), one above others a *higher* volume (its writes travel only in slots). See
    /// [`SnapshotMode::Multi`].
    ///
    /// # Errors
    ///
    /// As [`Self::create`]; [`Error::InvalidParameter`] if a volume of the other mode is open
    /// on `medium`.
    ///
    /// # Examples
    ///
    /// ```
    /// use qsmm_volume::{KdfCost, Medium, SnapshotMode, Volume};
    ///
    /// let device = std::sync::Arc::new(qsmm_void::MemoryDevice::new(4096, 1024)?);
    /// qsmm_void::format(&*device)?;
    /// let medium = Medium::from_device(device, KdfCost::DANGER_INSECURE_FOR_TESTS)?;
    /// let decoy = Volume::create_with_mode(&medium, b"decoy", 1 << 20, &[], SnapshotMode::Multi)?;
    /// let hidden =
    ///     Volume::create_with_mode(&medium, b"hidden", 1 << 20, &[&decoy], SnapshotMode::Multi)?;
    /// hidden.write(0, &[2u8; 4096])?;
    /// hidden.flush()?;
    /// decoy.close()?;
    /// hidden.close()?;
    ///
    /// let hidden = Volume::open(&medium, b"hidden")?;
    /// assert_eq!(hidden.snapshot_mode(), SnapshotMode::Multi);
    /// let mut sector = vec![0u8; 4096];
    /// hidden.read(0, &mut sector)?;
    /// assert_eq!(sector, vec![2u8; 4096]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_with_mode(
        medium: &Medium,
        passphrase: &[u8],
        logical_size: u64,
        protect: &[&Self],
        mode: SnapshotMode,
    ) -> Result<Self> {
        let protect: Vec<&Arc<VolumeInner>> = protect.iter().map(|v| &v.inner).collect();
        let inner = open::create(medium, passphrase, logical_size, &protect, mode)?;
        Ok(Self { inner })
    }

    /// The snapshot mode the volume was created in.
    #[must_use]
    pub fn snapshot_mode(&self) -> SnapshotMode {
        if self.inner.class.is_multi() {
            SnapshotMode::Multi
        } else {
            SnapshotMode::Single
        }
    }

    /// Whether this is a *higher* volume in multi-snapshot mode (one above others, whose writes
    /// travel only in slots). A server closes those first: closing a base volume ends the
    /// mount, and a higher volume's flush after that spends slots beyond the tick budget.
    #[must_use]
    pub fn is_higher(&self) -> bool {
        self.inner.class == crate::multi_snapshot::Class::Higher
    }

    /// Opens the volume behind `passphrase`. Opening a volume that is already open on this
    /// medium returns another handle to it.
    ///
    /// If a passphrase change was cut short after the new root was durable, the first open
    /// under the new passphrase overwrites what is left of the old root with noise and syncs,
    /// before anything else: from then on the old passphrase opens nothing. That open writes
    /// even when nothing else will (a read-only mount); if the medium refuses, it fails.
    ///
    /// # Errors
    ///
    /// [`Error::LowerVolume`] if a lower volume its root names does not open (it would be left
    /// unprotected); [`Error::LowerCycle`] for lower lists that lead back to this volume;
    /// [`Error::OpenUnderOtherPassphrase`] if the volume is open under its old passphrase (a
    /// passphrase change cut short);
    /// [`Error::Integrity`] for a root whose sizes do not fit the medium;
    /// [`Error::NoVolume`] if no volume opens with `passphrase` (a wrong passphrase or a
    /// medium without volumes, which take about the same time: Argon2id and reading the root's
    /// blocks dominate both); [`Error::Io`], [`Error::Core`] from the medium.
    pub fn open(medium: &Medium, passphrase: &[u8]) -> Result<Self> {
        let mesh_key = medium.kdf_cost().derive(passphrase, medium.salt())?;
        let inner = open::open_mesh_key(medium, mesh_key, &[])?;
        Ok(Self { inner })
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
        self.inner.read_sectors(lba, buf)
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
        self.inner.read_bytes(offset, buf)
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
    /// A base volume in multi-snapshot mode then ends the mount: it spends the rest of the
    /// tick budget ([`Medium::set_tick_slots`]) and rewrites the root area even when nothing
    /// changed. Close it after the higher volumes have flushed.
    ///
    /// # Errors
    ///
    /// As [`Self::flush`]; the handle is closed either way.
    pub fn close(self) -> Result<()> {
        self.flush()?;
        self.inner.end_mount()
    }

    /// Replaces the passphrase: writes the root under the new passphrase's mesh key (durable
    /// on return), then overwrites the old root's blocks with noise. Data is not re-encrypted:
    /// the volume key in the root stays the same.
    ///
    /// Volumes above this one (created with it in `protect`) that are open on this medium are
    /// re-linked first: their roots name the new key, and the old one as an alternative tried
    /// when the new one opens nothing (flushed before the new root is written; their next
    /// root drops it). A volume above that is not open keeps the old key and then fails to
    /// open with [`Error::LowerVolume`]: open the volumes above first.
    ///
    /// Crash-safe at every write: afterwards the old or the new passphrase opens the volume
    /// whole, and the volumes above open it. If both roots survived, the new root's record of
    /// the old one makes the first open under the new passphrase finish the change (see
    /// [`Self::open`]): after a crash, try the new passphrase first. A volume opened under the
    /// old one first works from the old root (the new one is then refused while it is open);
    /// once it has committed there, the new root no longer finishes the change and holds the
    /// volume as it was at the cut: change the passphrase again from the old one.
    ///
    /// # Errors
    ///
    /// [`Error::VolumeExists`] if the new passphrase already opens a volume;
    /// [`Error::PassphraseCollision`], [`Error::RootBlocksHeld`] as [`Self::create`] (the
    /// blocks of open volumes where the new root goes are moved the same way); as
    /// [`Self::flush`].
    pub fn change_passphrase(&self, new_passphrase: &[u8]) -> Result<()> {
        self.inner.change_passphrase(new_passphrase)
    }

    /// Every block of the medium this volume holds: both mesh slots, index and leaf blocks, data
    /// blocks (and blocks the last roots referenced that are not yet free), ascending.
    ///
    /// This is what the passphrase reveals about the medium's layout; audits and tests use it.
    #[must_use]
    pub fn physical_blocks(&self) -> Vec<u64> {
        self.inner.lock().owned.iter_ones().collect()
    }

    /// The generation of the last durable root. A volume's first generation is a random number
    /// in `[2^61, 2^62)`: only differences between two readings mean anything (tests use them),
    /// so tools should not show it.
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
