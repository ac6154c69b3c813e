//! Sector I/O: reading and writing sectors through the map, each write to a fresh random block
//! with a fresh nonce, and trimming.

use qsmm_types::BlockId;
use qsmm_void::BlockDevice;
use rand_core::Rng;
use zeroize::Zeroize;

use super::state::{SECTOR, State, VolumeInner};
use crate::error::{Error, Result};
use crate::map::{ENTRIES_PER_LEAF, Entry};
use crate::medium::BLOCK_SIZE;

/// Domain tag at the start of a sector's associated data.
const SECTOR_AAD_DOMAIN: [u8; 16] = *b"qsmm/v1/vol/sect";

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

impl VolumeInner {
    fn aad(&self, lba: u64, block: u64) -> [u8; 48] {
        let mut aad = [0u8; 48];
        aad[..16].copy_from_slice(&SECTOR_AAD_DOMAIN);
        aad[16..32].copy_from_slice(&self.volume_id);
        aad[32..40].copy_from_slice(&lba.to_le_bytes());
        aad[40..48].copy_from_slice(&block.to_le_bytes());
        aad
    }

    /// Reads sector `lba` while the lock is held (the map cannot change meanwhile).
    pub(super) fn read_sector(&self, state: &mut State, lba: u64, out: &mut [u8]) -> Result<()> {
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
    pub(super) fn read_sector_shared(&self, lba: u64, out: &mut [u8]) -> Result<()> {
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
        self.dev().read_block(BlockId(entry.block), out)?;
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
    pub(super) fn write_sector(&self, state: &mut State, lba: u64, data: &[u8]) -> Result<()> {
        let (block, nonce) = self.allocate_sector(state, lba)?;
        let sealed = self.seal_sector(lba, block, &nonce, data);
        if let Err(e) = self.dev().write_block(BlockId(block), &sealed) {
            state.release(&self.medium, block);
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
    pub(super) fn write_sector_shared(&self, lba: u64, data: &[u8]) -> Result<()> {
        let (block, nonce) = {
            let mut state = self.lock();
            self.allocate_sector(&mut state, lba)?
        };
        let sealed = self.seal_sector(lba, block, &nonce, data);
        let written = self.dev().write_block(BlockId(block), &sealed);
        let mut state = self.lock();
        if let Err(e) = written {
            state.release(&self.medium, block);
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
        let medium = &self.medium;
        if state.read_only {
            return Err(Error::ReadOnly);
        }
        // Loads the leaf first: a leaf that failed authentication refuses before allocating.
        self.entry(state, lba)?;
        // The medium keeps room for every open volume's commits (`commit_reserve`): a full
        // medium still flushes, and after a reopen a trim can still be flushed to free space.
        let block = match medium.allocate_data() {
            Err(Error::NoSpace) if state.has_pending() => {
                // Overwritten sectors hold their old blocks until two roots after the overwrite
                // are durable. Writing the whole volume over without a flush would run out of
                // space although most of it is waiting to be freed, so commit those two roots
                // now. A flush may always come early: it only makes acknowledged writes
                // durable sooner.
                self.flush_locked(state)?;
                self.flush_locked(state)?;
                medium.allocate_data()?
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
        let block = entry.block;
        let old = match self.set_entry(state, lba, entry) {
            Ok(old) => old,
            Err(e) => {
                state.release(&self.medium, block);
                return Err(e);
            }
        };
        if old != 0 {
            state.release(&self.medium, old);
        }
        state.changed = true;
        Ok(())
    }

    /// Reads whole sectors from `lba` into `buf`, holding the lock only per map lookup.
    pub(super) fn read_sectors(&self, lba: u64, buf: &mut [u8]) -> Result<()> {
        for (i, sector) in (lba..).zip(buf.chunks_exact_mut(BLOCK_SIZE)) {
            self.read_sector_shared(i, sector)?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at byte `offset` (checked by the caller).
    pub(super) fn read_bytes(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut sector = vec![0u8; BLOCK_SIZE];
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let (lba, within) = (pos / SECTOR, (pos % SECTOR) as usize);
            let n = (BLOCK_SIZE - within).min(buf.len() - done);
            let out = buf
                .get_mut(done..done + n)
                .ok_or(Error::Internal("byte range past the buffer"))?;
            if n == BLOCK_SIZE {
                self.read_sector_shared(lba, out)?;
            } else {
                self.read_sector_shared(lba, &mut sector)?;
                out.copy_from_slice(
                    sector
                        .get(within..within + n)
                        .ok_or(Error::Internal("byte range past the sector"))?,
                );
            }
            done += n;
        }
        sector.zeroize();
        Ok(())
    }

    /// Writes `len` bytes at `offset` from `data`, or zeros when `data` is `None`.
    pub(super) fn write_bytes(
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
                .ok_or(Error::Internal("byte range past the sector"))?;
            match data {
                Some(d) => target.copy_from_slice(
                    d.get(done..done + n)
                        .ok_or(Error::Internal("byte range past the buffer"))?,
                ),
                None => target.fill(0),
            }
            self.write_sector(state, lba, &sector)?;
            done += n;
        }
        sector.zeroize();
        Ok(())
    }

    /// Unmaps sectors `[first, end)`.
    pub(super) fn trim_sectors(&self, state: &mut State, first: u64, end: u64) -> Result<()> {
        if state.read_only {
            return Err(Error::ReadOnly);
        }
        let mut lba = first;
        while lba < end {
            let leaf = lba / ENTRIES_PER_LEAF;
            let leaf_end = ((leaf + 1) * ENTRIES_PER_LEAF).min(end);
            if Self::has_leaf(state, leaf)? {
                for i in lba..leaf_end {
                    let old = self.set_entry(state, i, Entry::default())?;
                    if old != 0 {
                        state.release(&self.medium, old);
                        state.changed = true;
                    }
                }
            }
            lba = leaf_end;
        }
        Ok(())
    }
}
