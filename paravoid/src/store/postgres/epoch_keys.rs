//! Crypto-shredding on PostgreSQL: notes sealed under per-hour *expiry-epoch* keys derived from a
//! one-way ratchet that every instance keeps in a local file, outside the database.
//!
//! PostgreSQL keeps what a `DELETE` removed: the dead tuple until `VACUUM` (and its bytes in the
//! page until they are overwritten), the WAL record (until the segment is recycled, forever if it
//! is archived), base backups, `pg_dump` files and replicas. So a key kept in the database is not
//! shredded by deleting it, and a per-note key in a row shares its row's fate. The keys here
//! never enter PostgreSQL.
//!
//! # The ratchet
//!
//! Time is cut into epochs of [`EPOCH_SECS`] counted from [`ORIGIN`]. The key file holds the
//! chain key `c_e` of one epoch `e`; the next one is `c_{e+1} = SHA-256(NEXT_LABEL ‖ c_e)`, so
//! the file opens every epoch from `e` on and none before it. A note expiring at `t` is sealed
//! (AES-256-GCM, the shared envelope `store::envelope`) under `k_h = SHA-256(SEAL_LABEL ‖ c_h)` with
//! `h = epoch_of(t)`. Once the database's clock passes `(h + 1) × EPOCH_SECS + GRACE_SECS`, every instance
//! advances its file past `h` (overwritten in place and synced, as the redb key slots are):
//! from then on no copy of the database — dead tuples, WAL, archives, dumps, backups, replicas —
//! opens a note of epoch `h`, with or without its link.
//!
//! All instances start from the same secret (a 32-byte file, the chain key of epoch 0) and derive
//! the same keys; a fingerprint of a future chain key in `paravoid_store_key_check` refuses an
//! instance whose file does not match.
//!
//! What this does not give: a revealed (or destroyed) note is shredded at the end of its expiry
//! epoch, not at the reveal. Until then a copy of the database taken before the reveal, together
//! with any instance's key file (or a backup of it) and the link, still opens it.
//!
//! # File layout
//!
//! | offset | length | content |
//! |---|---|---|
//! | 0 | 8 | epoch `e`, little-endian `u64` |
//! | 8 | 32 | chain key `c_e` |
//!
//! A file of exactly 32 bytes is a fresh secret: the chain key of epoch 0 (`head -c 32
//! /dev/urandom`); it is rewritten in the layout above at the first start.
//!
//! # Rotation
//!
//! One leaked copy of the file derives the key of every later epoch. [`EpochKeys::rotate`]
//! (run by `paravoid store-key rotate`, `store_key`) starts a new, random chain `n_E` at the next
//! epoch `E`: from `E` on every key comes from `n_E`, which nothing in the old file derives;
//! epochs before `E` keep the old chain. The file then holds both:
//!
//! | offset | length | content |
//! |---|---|---|
//! | 0 | 8 | epoch `e`, little-endian `u64` |
//! | 8 | 32 | chain key `c_e` (epochs `e` to `E - 1`) |
//! | 40 | 8 | epoch `E`, little-endian `u64` |
//! | 48 | 32 | chain key `n_E` (epochs from `E` on) |
//!
//! Once the clock passes `E` (and the grace period), advancing drops the old chain and the file
//! is back to 40 bytes: nothing of the old secret is left in it.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::ConfigError;
use crate::store::envelope::{KEY_LEN as SLOT_LEN, RecordKey};
use crate::{Error, Result};

/// Length of an epoch, in seconds.
pub(crate) const EPOCH_SECS: u64 = 3600;

/// How long after an epoch ends its key is kept, so that instances whose clocks differ a little
/// still open notes that have not expired by theirs.
pub(crate) const GRACE_SECS: u64 = 300;

/// Unix time at which epoch 0 starts: 2026-01-01T00:00:00Z.
pub(crate) const ORIGIN: u64 = 1_767_225_600;

/// Domain label of the chain step.
const NEXT_LABEL: &[u8] = b"paravoid/v1/store-key/next";

/// Domain label of an epoch's sealing key.
const SEAL_LABEL: &[u8] = b"paravoid/v1/store-key/seal";

/// Domain label of the fingerprint that checks instances share one secret.
const CHECK_LABEL: &[u8] = b"paravoid/v1/store-key/check";

/// Epochs between two fingerprint epochs (a year of hours).
const CHECK_PERIOD: u64 = 24 * 365;

/// Length of the file once written: epoch and chain key.
const FILE_LEN: usize = 8 + SLOT_LEN;

/// Length of the file while a rotation is pending: the old chain, then the new one.
const ROTATING_LEN: usize = 2 * FILE_LEN;

/// The epoch that Unix time `unix` falls in (0 before [`ORIGIN`]).
pub(crate) const fn epoch_of(unix: u64) -> u64 {
    unix.saturating_sub(ORIGIN) / EPOCH_SECS
}

/// The oldest epoch whose key is still needed at Unix time `now`.
const fn oldest_needed(now: u64) -> u64 {
    epoch_of(now.saturating_sub(GRACE_SECS))
}

/// The ratchet of one instance: its key file and the chain key it holds. Never printed.
pub(crate) struct EpochKeys {
    file: File,
    path: PathBuf,
    epoch: u64,
    chain: Zeroizing<[u8; SLOT_LEN]>,
    /// A rotation not yet reached: its first epoch and the new chain's key there.
    next: Option<(u64, Zeroizing<[u8; SLOT_LEN]>)>,
}

impl std::fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKeys")
            .field("epoch", &self.epoch)
            .field("rotation", &self.next.as_ref().map(|(from, _)| *from))
            .finish_non_exhaustive()
    }
}

/// Reads a little-endian epoch.
fn epoch_at(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Reads a chain key.
fn chain_at(bytes: &[u8]) -> Option<Zeroizing<[u8; SLOT_LEN]>> {
    Some(Zeroizing::new(bytes.get(..SLOT_LEN)?.try_into().ok()?))
}

impl EpochKeys {
    /// Opens the key file at `path` and advances it to the oldest epoch still needed at `now`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the file is missing or is not 32, 40 or 80 bytes long, or a
    /// storage error if it cannot be rewritten.
    pub(crate) fn open(path: &Path, now: u64) -> Result<Self> {
        let unreadable = || {
            Error::Config(ConfigError::StoreKeyFile {
                path: path.to_owned(),
            })
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|_| unreadable())?;
        let mut bytes = Zeroizing::new(Vec::new());
        file.read_to_end(&mut bytes).map_err(|_| unreadable())?;
        let (epoch, chain, next) = match bytes.len() {
            SLOT_LEN => (Some(0), chain_at(&bytes), None),
            FILE_LEN => (epoch_at(&bytes), chain_at(&bytes[8..]), None),
            ROTATING_LEN => {
                let from = epoch_at(&bytes[FILE_LEN..]).ok_or_else(unreadable)?;
                let next = chain_at(&bytes[FILE_LEN + 8..]).ok_or_else(unreadable)?;
                (epoch_at(&bytes), chain_at(&bytes[8..]), Some((from, next)))
            }
            _ => return Err(unreadable()),
        };
        let mut keys = Self {
            file,
            path: path.to_owned(),
            epoch: epoch.ok_or_else(unreadable)?,
            chain: chain.ok_or_else(unreadable)?,
            next,
        };
        if keys
            .next
            .as_ref()
            .is_some_and(|(from, _)| *from <= keys.epoch)
        {
            return Err(unreadable());
        }
        if bytes.len() == SLOT_LEN {
            keys.write()?;
        }
        keys.advance(now)?;
        Ok(keys)
    }

    /// The epoch of the chain key held: keys of older epochs are gone.
    #[cfg(test)]
    pub(crate) const fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Moves the file to the oldest epoch still needed at `now`, overwriting the old chain key
    /// in place and syncing; returns whether it moved.
    ///
    /// # Errors
    ///
    /// A storage error if the file cannot be written.
    pub(crate) fn advance(&mut self, now: u64) -> Result<bool> {
        let target = oldest_needed(now);
        if target <= self.epoch {
            return Ok(false);
        }
        self.chain = match self.next.take() {
            Some((from, next)) if target >= from => chain_after(&next, target - from),
            pending => {
                self.next = pending;
                chain_after(&self.chain, target - self.epoch)
            }
        };
        self.epoch = target;
        self.write()?;
        tracing::info!(epoch = target, "advanced the store key");
        Ok(true)
    }

    /// The chain key of `epoch` (from the new chain from a pending rotation's first epoch on),
    /// or `None` if it has been shredded.
    fn chain_of(&self, epoch: u64) -> Option<Zeroizing<[u8; SLOT_LEN]>> {
        match &self.next {
            Some((from, next)) if epoch >= *from => Some(chain_after(next, epoch - from)),
            _ => Some(chain_after(&self.chain, epoch.checked_sub(self.epoch)?)),
        }
    }

    /// The sealing key of `epoch`, or `None` if it has been shredded.
    pub(crate) fn key(&self, epoch: u64) -> Option<RecordKey> {
        Some(seal_key(&*self.chain_of(epoch)?))
    }

    /// The fingerprint epoch at or after the ones held (after a pending rotation's first
    /// epoch), and its fingerprint.
    pub(crate) fn fingerprint(&self) -> (u64, [u8; 32]) {
        let newest = self.next.as_ref().map_or(self.epoch, |(from, _)| *from);
        let check = newest.div_ceil(CHECK_PERIOD).saturating_mul(CHECK_PERIOD);
        (check, self.fingerprint_at(check).unwrap_or([0; 32]))
    }

    /// The fingerprint of the chain key of `epoch` (one-way: it opens nothing), or `None` if
    /// that key has been shredded.
    pub(crate) fn fingerprint_at(&self, epoch: u64) -> Option<[u8; 32]> {
        let chain = self.chain_of(epoch)?;
        let digest = Sha256::new()
            .chain_update(CHECK_LABEL)
            .chain_update(chain.as_slice())
            .finalize();
        Some(digest.into())
    }

    /// Starts a new random chain at epoch `from`: every key from `from` on comes from it,
    /// earlier ones from the chain held. Writes the file at `out` (which must not exist; the
    /// file this was opened from is left as it was) and returns the keys it holds.
    ///
    /// # Errors
    ///
    /// [`ConfigError::RotationPending`] if a rotation is already pending,
    /// [`ConfigError::RotationTarget`] if `out` exists or `from` is not after the epoch held,
    /// a storage error if `out` cannot be written.
    pub(crate) fn rotate(&self, from: u64, out: &Path) -> Result<Self> {
        if self.next.is_some() {
            return Err(ConfigError::RotationPending.into());
        }
        let target = || {
            Error::Config(ConfigError::RotationTarget {
                path: out.to_owned(),
            })
        };
        if from <= self.epoch {
            return Err(target());
        }
        let mut next = Zeroizing::new([0u8; SLOT_LEN]);
        getrandom::fill(next.as_mut_slice()).map_err(|_| Error::Internal("no randomness"))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(out)
            .map_err(|_| target())?;
        let mut rotated = Self {
            file,
            path: out.to_owned(),
            epoch: self.epoch,
            chain: self.chain.clone(),
            next: Some((from, next)),
        };
        rotated.write()?;
        Ok(rotated)
    }

    /// Overwrites the file with the epoch and chain key held (and a pending rotation's), and
    /// syncs it.
    fn write(&mut self) -> Result<()> {
        let mut bytes = Zeroizing::new([0u8; ROTATING_LEN]);
        bytes[..8].copy_from_slice(&self.epoch.to_le_bytes());
        bytes[8..FILE_LEN].copy_from_slice(self.chain.as_slice());
        let len = match &self.next {
            Some((from, next)) => {
                bytes[FILE_LEN..FILE_LEN + 8].copy_from_slice(&from.to_le_bytes());
                bytes[FILE_LEN + 8..].copy_from_slice(next.as_slice());
                ROTATING_LEN
            }
            None => FILE_LEN,
        };
        let written = self
            .file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(&bytes[..len]))
            .and_then(|()| self.file.set_len(len as u64))
            .and_then(|()| self.file.sync_data());
        written.map_err(|err| {
            tracing::error!(path = %self.path.display(), error = %err, "store key file error");
            Error::KeyFile(err)
        })
    }
}

/// The chain key `steps` epochs after `chain`.
fn chain_after(chain: &[u8; SLOT_LEN], steps: u64) -> Zeroizing<[u8; SLOT_LEN]> {
    let mut out = Zeroizing::new(*chain);
    for _ in 0..steps {
        let next = Sha256::new()
            .chain_update(NEXT_LABEL)
            .chain_update(out.as_slice())
            .finalize();
        out.copy_from_slice(&next);
    }
    out
}

/// The sealing key of the epoch whose chain key is `chain`.
fn seal_key(chain: &[u8; SLOT_LEN]) -> RecordKey {
    let mut digest = Sha256::new()
        .chain_update(SEAL_LABEL)
        .chain_update(chain.as_slice())
        .finalize();
    let key = RecordKey::from_bytes(digest.into());
    zeroize::Zeroize::zeroize(digest.as_mut_slice());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::envelope::{self, Binding};

    fn secret_file(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, [7u8; 32]).unwrap();
        path
    }

    #[test]
    fn epochs_start_at_the_origin() {
        assert_eq!(epoch_of(0), 0);
        assert_eq!(epoch_of(ORIGIN + EPOCH_SECS - 1), 0);
        assert_eq!(epoch_of(ORIGIN + EPOCH_SECS), 1);
        assert_eq!(oldest_needed(ORIGIN + EPOCH_SECS + GRACE_SECS - 1), 0);
        assert_eq!(oldest_needed(ORIGIN + EPOCH_SECS + GRACE_SECS), 1);
    }

    #[test]
    fn instances_with_one_secret_agree_and_old_keys_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let now = ORIGIN + 10 * EPOCH_SECS + GRACE_SECS;
        let a = EpochKeys::open(&secret_file(dir.path(), "a"), now).unwrap();
        let mut b = EpochKeys::open(&secret_file(dir.path(), "b"), ORIGIN).unwrap();
        assert_eq!((a.epoch(), b.epoch()), (10, 0));
        let binding = Binding::new(b"t", 1, 12);
        let sealed = envelope::seal(&a.key(12).unwrap(), &binding, b"x").unwrap();
        let opens = |keys: &EpochKeys| {
            keys.key(12)
                .is_some_and(|key| envelope::open(&key, &binding, &sealed).is_ok())
        };
        assert!(opens(&a) && opens(&b));
        // The file holds the epoch and the chain key; the 32-byte secret itself is gone.
        let file = std::fs::read(dir.path().join("a")).unwrap();
        assert_eq!(file.len(), FILE_LEN);
        assert_eq!(&file[..8], &10u64.to_le_bytes());
        assert!(!file.windows(32).any(|window| window == [7u8; 32]));
        // Past epoch 12 and the grace period, the key is gone from memory and from the file.
        assert!(b.advance(ORIGIN + 13 * EPOCH_SECS).unwrap());
        assert_eq!(b.epoch(), 12, "kept through the grace period");
        assert!(opens(&b));
        assert!(!b.advance(ORIGIN + 13 * EPOCH_SECS + 1).unwrap());
        assert!(b.advance(ORIGIN + 13 * EPOCH_SECS + GRACE_SECS).unwrap());
        assert_eq!(b.epoch(), 13);
        assert!(b.key(12).is_none() && !opens(&b));
        // Instances at different epochs of one fingerprint period agree on it.
        assert_eq!(a.fingerprint(), b.fingerprint());
        let reopened = EpochKeys::open(&dir.path().join("b"), ORIGIN).unwrap();
        assert_eq!(reopened.epoch(), 13);
        assert!(!opens(&reopened));
    }

    #[test]
    fn different_secrets_differ_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = EpochKeys::open(&secret_file(dir.path(), "a"), ORIGIN).unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, [8u8; 32]).unwrap();
        let other = EpochKeys::open(&other, ORIGIN).unwrap();
        assert_ne!(a.fingerprint(), other.fingerprint());
        for len in [0usize, 31, 33, 41] {
            let path = dir.path().join(format!("bad{len}"));
            std::fs::write(&path, vec![1u8; len]).unwrap();
            assert!(matches!(
                EpochKeys::open(&path, ORIGIN),
                Err(Error::Config(_))
            ));
        }
        assert!(matches!(
            EpochKeys::open(&dir.path().join("missing"), ORIGIN),
            Err(Error::Config(_))
        ));
        assert!(!format!("{a:?}").contains("chain"));
    }

    #[test]
    fn a_rotation_starts_an_independent_chain_and_leaves_the_file_after_its_hour() {
        let dir = tempfile::tempdir().unwrap();
        let now = ORIGIN + 10 * EPOCH_SECS + GRACE_SECS;
        let old = EpochKeys::open(&secret_file(dir.path(), "old"), now).unwrap();
        let out = dir.path().join("new");
        let mut new = old.rotate(11, &out).unwrap();
        let file = std::fs::read(&out).unwrap();
        assert_eq!(file.len(), ROTATING_LEN);
        assert_eq!(&file[..8], &10u64.to_le_bytes());
        assert_eq!(&file[FILE_LEN..FILE_LEN + 8], &11u64.to_le_bytes());
        let binding = Binding::new(b"t", 1, 10);
        let sealed = |keys: &EpochKeys, epoch| {
            envelope::seal(&keys.key(epoch).unwrap(), &binding, b"x").unwrap()
        };
        let opens = |keys: &EpochKeys, epoch, sealed: &[u8]| {
            keys.key(epoch)
                .is_some_and(|key| envelope::open(&key, &binding, sealed).is_ok())
        };
        // The hour before the rotation keeps the old chain; later hours the old file cannot
        // derive, and the new file's fingerprint is not the old one's.
        assert!(opens(&new, 10, &sealed(&old, 10)));
        for epoch in [11, 12, 500] {
            assert!(!opens(&old, epoch, &sealed(&new, epoch)), "epoch {epoch}");
            assert!(opens(&new, epoch, &sealed(&new, epoch)));
        }
        assert_ne!(old.fingerprint().1, new.fingerprint().1);
        assert_eq!(new.fingerprint_at(10), old.fingerprint_at(10));
        assert_ne!(new.fingerprint_at(11), old.fingerprint_at(11));
        // Rotating twice before the first takes effect, onto an existing file, or from an epoch
        // already held, is refused.
        assert!(matches!(
            new.rotate(12, &dir.path().join("twice")),
            Err(Error::Config(ConfigError::RotationPending))
        ));
        assert!(matches!(
            old.rotate(11, &out),
            Err(Error::Config(ConfigError::RotationTarget { .. }))
        ));
        assert!(matches!(
            old.rotate(10, &dir.path().join("past")),
            Err(Error::Config(ConfigError::RotationTarget { .. }))
        ));
        // Reopened, the rotation is still there; once its first hour has passed the old chain
        // is gone from the file.
        let sealed_12 = sealed(&new, 12);
        let reopened = EpochKeys::open(&out, now).unwrap();
        assert!(opens(&reopened, 12, &sealed_12));
        assert!(new.advance(ORIGIN + 11 * EPOCH_SECS + GRACE_SECS).unwrap());
        let file = std::fs::read(&out).unwrap();
        assert_eq!(file.len(), FILE_LEN);
        assert_eq!(&file[..8], &11u64.to_le_bytes());
        assert!(
            !file
                .windows(32)
                .any(|window| window == old.chain.as_slice())
        );
        assert!(opens(&new, 12, &sealed_12));
        // A rotation that does not start after the file's epoch, or a cut file, is refused.
        let mut bad = file.clone();
        bad.extend_from_slice(&11u64.to_le_bytes());
        bad.extend_from_slice(&[9; 32]);
        for bytes in [&bad[..], &bad[..ROTATING_LEN - 1], &file[..FILE_LEN - 1]] {
            let path = dir.path().join("bad");
            std::fs::write(&path, bytes).unwrap();
            assert!(matches!(EpochKeys::open(&path, now), Err(Error::Config(_))));
        }
    }
}
