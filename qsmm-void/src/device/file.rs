//! A block device over a file or a block special file, with positional I/O.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use qsmm_types::{BlockId, Error, Result};

use crate::BlockSize;
use crate::device::{BlockDevice, check_access, check_geometry, check_run};

/// A [`BlockDevice`] over a file, read and written with positional I/O (`pread`/`pwrite`), so
/// it can be shared between threads without a seek position.
///
/// [`BlockDevice::flush`] calls `fdatasync` ([`File::sync_data`]): writes completed before it
/// returns survive a crash or power loss, as far as the operating system and the hardware keep
/// that promise. Writes not yet flushed may be lost, or reach the medium in any order.
///
/// # Examples
///
/// ```
/// use qsmm_types::BlockId;
/// use qsmm_void::{BlockDevice, FileDevice};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("medium.img");
/// let device = FileDevice::create(&path, 4096, 16)?;
/// device.write_block(BlockId(5), &[9; 4096])?;
/// device.flush()?;
/// drop(device);
///
/// let device = FileDevice::open(&path, 4096)?;
/// assert_eq!(device.block_count(), 16);
/// let mut buf = vec![0; 4096];
/// device.read_block(BlockId(5), &mut buf)?;
/// assert_eq!(buf, vec![9; 4096]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    block_size: usize,
    block_count: u64,
}

impl FileDevice {
    /// Creates (or truncates) the file at `path` and sizes it to `block_count` blocks of
    /// `block_size` bytes. The new file is sparse and reads as zeros: format it before use
    /// (see [`format()`](crate::format())).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a block size that [`BlockSize::new`] rejects or a size
    /// beyond `u64`;
    /// [`Error::Io`] if the file cannot be created or sized.
    pub fn create(path: impl AsRef<Path>, block_size: usize, block_count: u64) -> Result<Self> {
        let size = check_geometry(block_size, block_count)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(size)?;
        Ok(Self {
            file,
            block_size,
            block_count,
        })
    }

    /// Opens an existing file (or block special file) for reading and writing; its size must be
    /// a multiple of `block_size`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a block size that [`BlockSize::new`] rejects; [`Error::InvalidLength`] if the size
    /// is not a multiple of `block_size`; [`Error::Io`] if the file cannot be opened.
    pub fn open(path: impl AsRef<Path>, block_size: usize) -> Result<Self> {
        BlockSize::new(block_size)?;
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        // Block special files report a zero length in their metadata; seeking to the end gives
        // the real size for both kinds.
        let size = std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
        let block = block_size as u64;
        if size % block != 0 {
            return Err(Error::InvalidLength {
                what: "device size (a multiple of the block size)",
                expected: usize::try_from(size - size % block).unwrap_or(usize::MAX),
                got: usize::try_from(size).unwrap_or(usize::MAX),
            });
        }
        Ok(Self {
            file,
            block_size,
            block_count: size / block,
        })
    }
}

impl BlockDevice for FileDevice {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn block_count(&self) -> u64 {
        self.block_count
    }

    fn read_block(&self, id: BlockId, buf: &mut [u8]) -> Result<()> {
        let offset = check_access(self.block_size, self.block_count, id, buf.len())?;
        self.file.read_exact_at(buf, offset)?;
        Ok(())
    }

    fn write_block(&self, id: BlockId, data: &[u8]) -> Result<()> {
        let offset = check_access(self.block_size, self.block_count, id, data.len())?;
        self.file.write_all_at(data, offset)?;
        Ok(())
    }

    fn write_blocks(&self, first: BlockId, data: &[u8]) -> Result<()> {
        let offset = check_run(self.block_size, self.block_count, first, data.len())?;
        self.file.write_all_at(data, offset)?;
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.file.sync_data()?;
        Ok(())
    }
}
