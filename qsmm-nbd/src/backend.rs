//! Stand-in for the volume layer with its API shape, until `qsmm-volume` is in the workspace.
//! Plain files, no cryptography: used only to develop and test the plugin's NBD side.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The volume layer's error.
pub type VolumeError = io::Error;

/// The errno of a volume error class, where the layer has one.
pub(crate) fn classify(_error: &VolumeError) -> Option<i32> {
    None
}

/// Creates a medium of `size` bytes.
///
/// # Errors
///
/// I/O errors.
pub fn format(
    path: impl AsRef<Path>,
    size: u64,
    mut progress: impl FnMut(u64, u64),
) -> io::Result<()> {
    let file = File::create(path)?;
    file.set_len(size)?;
    progress(size, size);
    Ok(())
}

/// A medium.
#[derive(Clone, Debug)]
pub struct Medium(PathBuf);

impl Medium {
    /// Opens a medium.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        File::open(path.as_ref())?;
        Ok(Self(path.as_ref().to_owned()))
    }
}

/// A volume.
#[derive(Debug)]
pub struct Volume {
    file: File,
    size: u64,
}

impl Volume {
    fn path(medium: &Medium, passphrase: &[u8]) -> PathBuf {
        let digest = Sha256::digest(passphrase);
        let mut name = medium.0.as_os_str().to_owned();
        name.push(format!(
            ".{:02x}{:02x}{:02x}{:02x}",
            digest[0], digest[1], digest[2], digest[3]
        ));
        PathBuf::from(name)
    }

    /// Creates a volume.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn create(
        medium: &Medium,
        passphrase: &[u8],
        logical_size: u64,
        _protect: &[&Self],
    ) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(Self::path(medium, passphrase))?;
        file.set_len(logical_size)?;
        Ok(Self {
            file,
            size: logical_size,
        })
    }

    /// Opens a volume.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn open(medium: &Medium, passphrase: &[u8]) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(Self::path(medium, passphrase))?;
        let size = file.metadata()?.len();
        Ok(Self { file, size })
    }

    /// Size.
    #[must_use]
    pub fn logical_size(&self) -> u64 {
        self.size
    }

    /// Reads.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    /// Writes.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }

    /// Trims.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn trim_at(&self, offset: u64, len: u64) -> io::Result<()> {
        let zeros = vec![0; usize::try_from(len).map_err(io::Error::other)?];
        self.file.write_all_at(&zeros, offset)
    }

    /// Flushes.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn flush(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Closes.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn close(self) -> io::Result<()> {
        self.file.sync_all()
    }
}
