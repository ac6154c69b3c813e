//! Block media: the [`BlockDevice`] trait and its file and in-memory implementations.

mod file;
mod memory;

use qsmm_types::{BlockId, Error, Result};

use crate::seal::BlockSize;

pub use file::FileDevice;
pub use memory::MemoryDevice;

/// A medium of `block_count` blocks of `block_size` bytes each, addressed by [`BlockId`].
///
/// Methods take `&self` so that a device can be shared; implementations synchronise
/// internally. Writes become durable when [`BlockDevice::flush`] returns.
///
/// # Examples
///
/// ```
/// use qsmm_types::BlockId;
/// use qsmm_void::{BlockDevice, MemoryDevice};
///
/// let device = MemoryDevice::new(512, 4)?;
/// device.write_block(BlockId(3), &[7; 512])?;
/// let mut buf = [0; 512];
/// device.read_block(BlockId(3), &mut buf)?;
/// assert_eq!(buf, [7; 512]);
/// assert!(device.read_block(BlockId(4), &mut buf).is_err());
/// # Ok::<(), qsmm_void::Error>(())
/// ```
pub trait BlockDevice {
    /// Bytes per block.
    fn block_size(&self) -> usize;

    /// Number of blocks.
    fn block_count(&self) -> u64;

    /// Reads block `id` into `buf`, which must be exactly [`Self::block_size`] bytes long.
    ///
    /// # Errors
    ///
    /// [`Error::BlockOutOfRange`], [`Error::InvalidLength`] for a wrong buffer size,
    /// [`Error::Io`].
    fn read_block(&self, id: BlockId, buf: &mut [u8]) -> Result<()>;

    /// Writes `data`, exactly [`Self::block_size`] bytes, to block `id`.
    ///
    /// # Errors
    ///
    /// [`Error::BlockOutOfRange`], [`Error::InvalidLength`] for a wrong buffer size,
    /// [`Error::Io`]. After an I/O error the block may hold old, new or mixed bytes.
    fn write_block(&self, id: BlockId, data: &[u8]) -> Result<()>;

    /// Writes `data`, a whole number of blocks, to consecutive blocks starting at `first`.
    /// Implementations may do this in one I/O operation; the default writes block by block.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `data` is not a multiple of the block size,
    /// [`Error::BlockOutOfRange`] if the run does not fit on the device (nothing is written
    /// then), [`Error::Io`].
    fn write_blocks(&self, first: BlockId, data: &[u8]) -> Result<()> {
        check_run(self.block_size(), self.block_count(), first, data.len())?;
        for (id, block) in (first.get()..).zip(data.chunks_exact(self.block_size())) {
            self.write_block(BlockId(id), block)?;
        }
        Ok(())
    }

    /// Makes every completed write durable.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the medium could not confirm durability.
    fn flush(&self) -> Result<()>;
}

/// Checks a block access against the device geometry; returns the byte offset of the block.
pub(crate) fn check_access(
    block_size: usize,
    block_count: u64,
    id: BlockId,
    buf_len: usize,
) -> Result<u64> {
    if id.get() >= block_count {
        return Err(Error::BlockOutOfRange {
            block: id.get(),
            count: block_count,
        });
    }
    if buf_len != block_size {
        return Err(Error::InvalidLength {
            what: "block buffer",
            expected: block_size,
            got: buf_len,
        });
    }
    id.get()
        .checked_mul(block_size as u64)
        .ok_or(Error::InvalidParameter("block offset overflows u64"))
}

/// Checks a run of whole blocks starting at `first`; returns the byte offset of `first`.
pub(crate) fn check_run(
    block_size: usize,
    block_count: u64,
    first: BlockId,
    len: usize,
) -> Result<u64> {
    if block_size == 0 || !len.is_multiple_of(block_size) {
        return Err(Error::InvalidLength {
            what: "run of blocks (a multiple of the block size)",
            expected: len - len % block_size.max(1),
            got: len,
        });
    }
    let blocks = (len / block_size) as u64;
    match first.get().checked_add(blocks) {
        Some(end) if end <= block_count => {}
        _ => {
            return Err(Error::BlockOutOfRange {
                block: first.get().saturating_add(blocks.saturating_sub(1)),
                count: block_count,
            });
        }
    }
    first
        .get()
        .checked_mul(block_size as u64)
        .ok_or(Error::InvalidParameter("block offset overflows u64"))
}

/// Checks the geometry of a new device and returns its size in bytes.
pub(crate) fn check_geometry(block_size: usize, block_count: u64) -> Result<u64> {
    BlockSize::new(block_size)?;
    block_count
        .checked_mul(block_size as u64)
        .ok_or(Error::InvalidParameter("device size overflows u64"))
}
