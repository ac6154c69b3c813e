//! Secure deletion by crypto-shredding: the per-record keys, kept in a side file of fixed-size
//! slots that are overwritten in place.
//!
//! redb is copy-on-write: a deleted record's bytes stay in freed pages until they are reused,
//! and a copy of the database file taken later still holds them. So every stored record is
//! encrypted (AES-256-GCM, see [`seal`]) with its own random 32-byte key, and that key lives only
//! in this file. Deleting a record overwrites its slot with zeros and `fdatasync`s the file
//! before the deletion is answered; from then on no copy of the database opens the record, link
//! keys or not.
//!
//! # File layout (`<database>.keys`)
//!
//! | offset | length | content |
//! |---|---|---|
//! | `32 × i` | 32 | slot `i`: the key of the record that names slot `i`, or 32 zero bytes |
//!
//! Nothing else: no header, no index. Which slots are in use is known from the records (each
//! stores its slot index); at start-up every slot no record names is overwritten with zeros, so
//! keys left by a crash between a key write and its commit, or between a commit and the erase,
//! are erased before anything is served. The free list lives in memory only.
//!
//! Records are sealed with these keys by the shared envelope (`store::envelope`), the key id
//! being the slot index.

use std::collections::{BTreeSet, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::store::envelope::{KEY_LEN as SLOT_LEN, RecordKey};
use crate::{Error, Result};

/// The index of a key slot: the key sits at byte `32 × index` of the key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SlotIndex(pub(crate) u64);

impl SlotIndex {
    /// The slot's byte offset in the key file.
    fn offset(self) -> io::Result<u64> {
        self.0
            .checked_mul(SLOT_LEN as u64)
            .ok_or_else(|| io::Error::other("slot index out of range"))
    }
}

/// Read-only access to the key file for readers outside the writer thread (peeks), so that a
/// peek never waits for, or occupies, the writer. A key read here may be erased or reused by the
/// time it is used: a reader treats an erased slot as a deleted record, and the record envelope
/// (which binds the slot and the note id) refuses a reused slot's key.
#[derive(Debug)]
pub(crate) struct SlotReader {
    file: std::sync::Mutex<File>,
    path: PathBuf,
}

impl SlotReader {
    /// Opens the key file at `path` for reading.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|err| io_error(path, err))?;
        Ok(Self {
            file: std::sync::Mutex::new(file),
            path: path.to_owned(),
        })
    }

    /// The key in `slot`, or `None` if the slot is erased or past the end of the file.
    pub(crate) fn read(&self, slot: SlotIndex) -> Result<Option<RecordKey>> {
        let mut key = Zeroizing::new([0u8; SLOT_LEN]);
        let mut file = self
            .file
            .lock()
            .map_err(|_| Error::Internal("the key file reader is poisoned"))?;
        let read = slot.offset().and_then(|offset| {
            file.seek(SeekFrom::Start(offset))?;
            file.read_exact(key.as_mut_slice())
        });
        match read {
            Ok(()) if *key == [0; SLOT_LEN] => Ok(None),
            Ok(()) => Ok(Some(RecordKey::from_bytes(*key))),
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(err) => Err(io_error(&self.path, err)),
        }
    }
}

/// The key file and its free list. Owned by the writer thread.
#[derive(Debug)]
pub(crate) struct KeySlots {
    file: File,
    path: PathBuf,
    /// Slots the file has room for (some may be past its end until written).
    len: u64,
    /// Free slots, lowest reused first so the file stays compact.
    free: BTreeSet<u64>,
}

impl KeySlots {
    /// Opens (or creates, mode 0600) the key file at `path`. Every slot not in `in_use` is
    /// overwritten with zeros and synced before this returns.
    pub(crate) fn open(path: &Path, in_use: &HashSet<u64>) -> Result<Self> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(|err| io_error(path, err))?;
        let mut slots = Self {
            file,
            path: path.to_owned(),
            len: 0,
            free: BTreeSet::new(),
        };
        slots.recover(in_use).map_err(|err| io_error(path, err))?;
        Ok(slots)
    }

    /// Takes a free slot (or a new one at the end of the file).
    pub(crate) fn allocate(&mut self) -> SlotIndex {
        if let Some(slot) = self.free.pop_first() {
            return SlotIndex(slot);
        }
        let slot = self.len;
        self.len = self.len.saturating_add(1);
        SlotIndex(slot)
    }

    /// Gives back a slot whose key was never written (or has been erased).
    pub(crate) fn release(&mut self, slot: SlotIndex) {
        if slot.0 < self.len {
            self.free.insert(slot.0);
        }
    }

    /// Writes `keys` into their slots and syncs the file.
    pub(crate) fn write(&mut self, keys: &[(SlotIndex, RecordKey)]) -> io::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        for (slot, key) in keys {
            self.file.seek(SeekFrom::Start(slot.offset()?))?;
            self.file.write_all(key.as_bytes())?;
        }
        self.file.sync_data()
    }

    /// Reads the key in `slot`.
    pub(crate) fn read(&mut self, slot: SlotIndex) -> Result<RecordKey> {
        let mut key = Zeroizing::new([0u8; SLOT_LEN]);
        let read = slot.offset().and_then(|offset| {
            self.file.seek(SeekFrom::Start(offset))?;
            self.file.read_exact(key.as_mut_slice())
        });
        if let Err(err) = read {
            return Err(io_error(&self.path, err));
        }
        if *key == [0; SLOT_LEN] {
            return Err(Error::CorruptRecord);
        }
        Ok(RecordKey::from_bytes(*key))
    }

    /// Overwrites `slots` with zeros, syncs the file, then frees them.
    pub(crate) fn erase(&mut self, slots: &[SlotIndex]) -> io::Result<()> {
        if slots.is_empty() {
            return Ok(());
        }
        for slot in slots {
            self.file.seek(SeekFrom::Start(slot.offset()?))?;
            self.file.write_all(&[0; SLOT_LEN])?;
        }
        self.file.sync_data()?;
        for slot in slots {
            self.release(*slot);
        }
        Ok(())
    }

    /// Rebuilds the free list and erases every slot no record names.
    fn recover(&mut self, in_use: &HashSet<u64>) -> io::Result<()> {
        let bytes = self.file.metadata()?.len();
        let whole = bytes / SLOT_LEN as u64;
        // Slots named by records but beyond the end of the file are not there (a torn write
        // before a crash cannot commit, so this is only corruption); keep their indices taken.
        let highest = in_use.iter().map(|slot| slot.saturating_add(1)).max();
        self.len = whole.max(highest.unwrap_or(0));
        let mut contents = Vec::new();
        self.file.seek(SeekFrom::Start(0))?;
        (&self.file)
            .take(whole.saturating_mul(SLOT_LEN as u64))
            .read_to_end(&mut contents)?;
        let mut contents = Zeroizing::new(contents);
        let mut dirty = false;
        for (index, chunk) in contents.chunks_exact_mut(SLOT_LEN).enumerate() {
            let index = index as u64;
            if in_use.contains(&index) {
                continue;
            }
            self.free.insert(index);
            if chunk.iter().any(|&byte| byte != 0) {
                chunk.fill(0);
                dirty = true;
            }
        }
        for index in whole..self.len {
            if !in_use.contains(&index) {
                self.free.insert(index);
            }
        }
        if dirty {
            self.file.seek(SeekFrom::Start(0))?;
            self.file.write_all(&contents)?;
        }
        if bytes != whole.saturating_mul(SLOT_LEN as u64) {
            // A torn slot at the end: no record can name it.
            self.file.set_len(whole.saturating_mul(SLOT_LEN as u64))?;
            dirty = true;
        }
        if dirty {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// An I/O error on the key file, as a storage error.
fn io_error(path: &Path, err: io::Error) -> Error {
    tracing::error!(path = %path.display(), error = %err, "key file error");
    Error::KeyFile(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erased_slots_read_as_gone_and_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let mut slots = KeySlots::open(&path, &HashSet::new()).unwrap();
        let (a, b) = (slots.allocate(), slots.allocate());
        assert_eq!((a, b), (SlotIndex(0), SlotIndex(1)));
        let key = RecordKey::random().unwrap();
        slots
            .write(&[(a, key.clone_key()), (b, RecordKey::random().unwrap())])
            .unwrap();
        assert_eq!(slots.read(a).unwrap().as_bytes(), key.as_bytes());
        slots.erase(&[a]).unwrap();
        assert!(slots.read(a).is_err());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 2 * SLOT_LEN);
        assert!(bytes[..SLOT_LEN].iter().all(|&byte| byte == 0));
        assert_eq!(slots.allocate(), a);
        assert_eq!(slots.allocate(), SlotIndex(2));
    }

    #[test]
    fn opening_erases_unreferenced_slots() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let mut slots = KeySlots::open(&path, &HashSet::new()).unwrap();
        let taken: Vec<_> = (0..3).map(|_| slots.allocate()).collect();
        let keys: Vec<_> = taken
            .iter()
            .map(|slot| (*slot, RecordKey::random().unwrap()))
            .collect();
        slots.write(&keys).unwrap();
        drop(slots);
        // A torn partial slot at the end, as a crash mid-write could leave.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[9; 5])
            .unwrap();
        let mut slots = KeySlots::open(&path, &HashSet::from([1])).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 3 * SLOT_LEN);
        assert!(bytes[..SLOT_LEN].iter().all(|&byte| byte == 0));
        assert_eq!(&bytes[SLOT_LEN..2 * SLOT_LEN], keys[1].1.as_bytes());
        assert!(bytes[2 * SLOT_LEN..].iter().all(|&byte| byte == 0));
        assert_eq!(slots.allocate(), SlotIndex(0));
        assert_eq!(slots.allocate(), SlotIndex(2));
        assert_eq!(slots.allocate(), SlotIndex(3));
    }
}
