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
//! `h = epoch_of(t)`. Once the clock passes `(h + 1) × EPOCH_SECS + GRACE_SECS`, every instance
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
}

impl std::fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKeys")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl EpochKeys {
    /// Opens the key file at `path` and advances it to the oldest epoch still needed at `now`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the file is missing or is neither 32 nor 40 bytes long, or a storage
    /// error if it cannot be rewritten.
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
        let (epoch, chain) = match bytes.len() {
            SLOT_LEN => (0, bytes.as_slice()),
            FILE_LEN => {
                let (epoch, chain) = bytes.split_at(8);
                let epoch: [u8; 8] = epoch.try_into().map_err(|_| unreadable())?;
                (u64::from_le_bytes(epoch), chain)
            }
            _ => return Err(unreadable()),
        };
        let mut keys = Self {
            file,
            path: path.to_owned(),
            epoch,
            chain: Zeroizing::new(chain.try_into().map_err(|_| unreadable())?),
        };
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
        self.chain = chain_after(&self.chain, target - self.epoch);
        self.epoch = target;
        self.write()?;
        tracing::info!(epoch = target, "advanced the store key");
        Ok(true)
    }

    /// The sealing key of `epoch`, or `None` if it has been shredded.
    pub(crate) fn key(&self, epoch: u64) -> Option<RecordKey> {
        let steps = epoch.checked_sub(self.epoch)?;
        Some(seal_key(&chain_after(&self.chain, steps)))
    }

    /// The fingerprint epoch at or after the one held, and its fingerprint (one-way: it opens
    /// nothing).
    pub(crate) fn fingerprint(&self) -> (u64, [u8; 32]) {
        let check = self
            .epoch
            .div_ceil(CHECK_PERIOD)
            .saturating_mul(CHECK_PERIOD);
        let chain = chain_after(&self.chain, check - self.epoch);
        let digest = Sha256::new()
            .chain_update(CHECK_LABEL)
            .chain_update(chain.as_slice())
            .finalize();
        (check, digest.into())
    }

    /// Overwrites the file with the epoch and chain key held, and syncs it.
    fn write(&mut self) -> Result<()> {
        let mut bytes = Zeroizing::new([0u8; FILE_LEN]);
        bytes[..8].copy_from_slice(&self.epoch.to_le_bytes());
        bytes[8..].copy_from_slice(self.chain.as_slice());
        let written = self
            .file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(bytes.as_slice()))
            .and_then(|()| self.file.set_len(FILE_LEN as u64))
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
}
