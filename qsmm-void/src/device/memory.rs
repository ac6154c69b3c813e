//! An in-memory block device, for tests and for media images built in memory.

use std::sync::{Mutex, MutexGuard, PoisonError};

use qsmm_types::{BlockId, Error, Result};

use crate::BlockSize;
use crate::device::{BlockDevice, check_access, check_geometry};

/// A [`BlockDevice`] held in memory. `flush` does nothing; the bytes can be taken out with
/// [`MemoryDevice::to_bytes`] or [`MemoryDevice::into_bytes`].
///
/// # Examples
///
/// ```
/// use qsmm_types::BlockId;
/// use qsmm_void::{BlockDevice, MemoryDevice};
///
/// let device = MemoryDevice::from_bytes(512, vec![1; 1024])?;
/// assert_eq!(device.block_count(), 2);
/// device.write_block(BlockId(0), &[2; 512])?;
/// assert_eq!(&device.to_bytes()[510..514], &[2, 2, 1, 1]);
/// # Ok::<(), qsmm_void::Error>(())
/// ```
#[derive(Debug)]
pub struct MemoryDevice {
    block_size: usize,
    block_count: u64,
    bytes: Mutex<Vec<u8>>,
}

impl MemoryDevice {
    /// A zero-filled device of `block_count` blocks of `block_size` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a block size that [`BlockSize::new`] rejects or a size
    /// that does not fit in memory.
    pub fn new(block_size: usize, block_count: u64) -> Result<Self> {
        let size = usize::try_from(check_geometry(block_size, block_count)?)
            .map_err(|_| Error::InvalidParameter("device size does not fit in memory"))?;
        Ok(Self {
            block_size,
            block_count,
            bytes: Mutex::new(vec![0; size]),
        })
    }

    /// A device over existing bytes, whose length must be a multiple of `block_size`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a block size that [`BlockSize::new`] rejects; [`Error::InvalidLength`] if the
    /// length is not a multiple of `block_size`.
    pub fn from_bytes(block_size: usize, bytes: Vec<u8>) -> Result<Self> {
        BlockSize::new(block_size)?;
        if !bytes.len().is_multiple_of(block_size) {
            return Err(Error::InvalidLength {
                what: "device image (a multiple of the block size)",
                expected: bytes.len() - bytes.len() % block_size,
                got: bytes.len(),
            });
        }
        Ok(Self {
            block_size,
            block_count: (bytes.len() / block_size) as u64,
            bytes: Mutex::new(bytes),
        })
    }

    /// A copy of the whole medium.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// The whole medium.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock cannot leave the bytes inconsistent beyond one block
        // write, so a poisoned lock is still usable.
        self.bytes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn range(&self, id: BlockId, len: usize) -> Result<core::ops::Range<usize>> {
        let offset = check_access(self.block_size, self.block_count, id, len)?;
        let start = usize::try_from(offset)
            .map_err(|_| Error::InvalidParameter("block offset does not fit in memory"))?;
        Ok(start..start + self.block_size)
    }
}

impl BlockDevice for MemoryDevice {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn block_count(&self) -> u64 {
        self.block_count
    }

    fn read_block(&self, id: BlockId, buf: &mut [u8]) -> Result<()> {
        let range = self.range(id, buf.len())?;
        let bytes = self.lock();
        let block = bytes.get(range).ok_or(Error::BlockOutOfRange {
            block: id.get(),
            count: self.block_count,
        })?;
        buf.copy_from_slice(block);
        Ok(())
    }

    fn write_block(&self, id: BlockId, data: &[u8]) -> Result<()> {
        let range = self.range(id, data.len())?;
        let mut bytes = self.lock();
        let block = bytes.get_mut(range).ok_or(Error::BlockOutOfRange {
            block: id.get(),
            count: self.block_count,
        })?;
        block.copy_from_slice(data);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
