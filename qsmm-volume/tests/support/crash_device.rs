//! A crash-model device for tests: writes reach the durable image only at `flush`, power can
//! fail after a chosen number of writes, and a chosen write or sync can fail once.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::unwrap_in_result,
    clippy::cast_possible_truncation,
    reason = "each test file uses what it needs; tests panic on failure; images are small"
)]

use std::sync::Mutex;

use qsmm_types::{BlockId, Error as CoreError, Result as CoreResult};
use qsmm_void::BlockDevice;

const BLOCK: usize = 4096;

/// A device whose writes reach the durable image only at `flush`; after `fail_after` more
/// writes every write and flush fails (the machine "lost power"). `fail_write_once` and
/// `fail_sync_once` fail one chosen write or sync and then work again (a transient error).
pub(crate) struct CrashDevice {
    state: Mutex<CrashState>,
    blocks: u64,
}

struct CrashState {
    live: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<(u64, Vec<u8>)>,
    writes_left: Option<u32>,
    /// Writes to let through before one fails.
    fail_write: Option<u32>,
    /// Syncs to let through before one fails (dropping the unsynced writes, as Linux may).
    fail_sync: Option<u32>,
}

impl CrashDevice {
    /// A device over `image` (a whole number of 4096-byte blocks), live and durable alike.
    pub(crate) fn new(image: Vec<u8>) -> Self {
        Self {
            blocks: (image.len() / BLOCK) as u64,
            state: Mutex::new(CrashState {
                live: image.clone(),
                durable: image,
                unsynced: Vec::new(),
                writes_left: None,
                fail_write: None,
                fail_sync: None,
            }),
        }
    }

    /// Power fails after `writes` more writes: every later write and sync fails.
    pub(crate) fn fail_after(&self, writes: u32) {
        self.state.lock().unwrap().writes_left = Some(writes);
    }

    /// Write number `after` from now fails once; later writes work.
    pub(crate) fn fail_write_once(&self, after: u32) {
        self.state.lock().unwrap().fail_write = Some(after);
    }

    /// Sync number `after` from now fails once (dropping the unsynced writes); later syncs
    /// work.
    pub(crate) fn fail_sync_once(&self, after: u32) {
        self.state.lock().unwrap().fail_sync = Some(after);
    }

    /// Whether the power is on (no failure after a number of writes armed).
    pub(crate) fn powered(&self) -> bool {
        self.state.lock().unwrap().writes_left.is_none()
    }

    /// Whether the armed one-time failure has not fired yet.
    pub(crate) fn armed(&self) -> bool {
        let state = self.state.lock().unwrap();
        state.fail_write.is_some() || state.fail_sync.is_some()
    }

    /// The image after a crash: the durable image plus each unsynced write kept, dropped or
    /// torn (its first half only) as `choices` says.
    pub(crate) fn crash_image(&self, choices: &[u8]) -> Vec<u8> {
        let state = self.state.lock().unwrap();
        let mut image = state.durable.clone();
        for (i, (block, data)) in state.unsynced.iter().enumerate() {
            let at = *block as usize * BLOCK;
            match choices.get(i).copied().unwrap_or(0) % 3 {
                0 => {}
                1 => image[at..at + BLOCK].copy_from_slice(data),
                _ => image[at..at + BLOCK / 2].copy_from_slice(&data[..BLOCK / 2]),
            }
        }
        image
    }
}

impl BlockDevice for CrashDevice {
    fn block_size(&self) -> usize {
        BLOCK
    }

    fn block_count(&self) -> u64 {
        self.blocks
    }

    fn read_block(&self, id: BlockId, buf: &mut [u8]) -> CoreResult<()> {
        let state = self.state.lock().unwrap();
        let at = id.get() as usize * BLOCK;
        buf.copy_from_slice(
            state
                .live
                .get(at..at + BLOCK)
                .ok_or(CoreError::BlockOutOfRange {
                    block: id.get(),
                    count: self.blocks,
                })?,
        );
        Ok(())
    }

    fn write_block(&self, id: BlockId, data: &[u8]) -> CoreResult<()> {
        let mut state = self.state.lock().unwrap();
        match &mut state.writes_left {
            Some(0) => return Err(std::io::Error::other("power lost").into()),
            Some(n) => *n -= 1,
            None => {}
        }
        match &mut state.fail_write {
            Some(0) => {
                state.fail_write = None;
                return Err(std::io::Error::other("transient write error").into());
            }
            Some(n) => *n -= 1,
            None => {}
        }
        let at = id.get() as usize * BLOCK;
        state.live[at..at + BLOCK].copy_from_slice(data);
        state.unsynced.push((id.get(), data.to_vec()));
        Ok(())
    }

    fn flush(&self) -> CoreResult<()> {
        let mut state = self.state.lock().unwrap();
        if state.writes_left == Some(0) {
            return Err(std::io::Error::other("power lost").into());
        }
        match &mut state.fail_sync {
            Some(0) => {
                // The kernel reported the error and dropped the dirty pages: those writes are
                // gone from the durable image, and a later sync will not bring them back.
                state.fail_sync = None;
                state.unsynced.clear();
                return Err(std::io::Error::other("transient sync error").into());
            }
            Some(n) => *n -= 1,
            None => {}
        }
        let unsynced = std::mem::take(&mut state.unsynced);
        for (block, data) in unsynced {
            let at = block as usize * BLOCK;
            state.durable[at..at + BLOCK].copy_from_slice(&data);
        }
        Ok(())
    }
}
