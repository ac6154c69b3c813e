//! Formatting: filling a medium with CSPRNG noise, so sealed blocks have nothing to stand out
//! from.

use qsmm_types::{BlockId, Error, Result};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use zeroize::Zeroize;

use crate::device::BlockDevice;
use crate::seal::BlockSize;

/// Bytes of noise generated and written per device call.
const CHUNK_BYTES: usize = 1 << 20;

/// Fills every block of `device` with CSPRNG noise and flushes it. See
/// [`format_with_progress`].
///
/// # Errors
///
/// As [`format_with_progress`].
pub fn format(device: &dyn BlockDevice) -> Result<()> {
    format_with_progress(device, |_, _| {})
}

/// Fills every block of `device` with CSPRNG noise, calling `progress(blocks_done, total)`
/// after each chunk of about 1 MiB (and once with `(0, total)` before the first), then flushes.
///
/// The noise is a ChaCha20 keystream ([`rand_chacha::ChaCha20Rng`]) seeded with 32 bytes from the
/// operating system's random number generator; the seed is zeroized once the generator holds
/// it. The generator's internal state is not zeroized when it is dropped (`rand_chacha` does not
/// support that); it only predicts noise, never key material, but whoever could read it could
/// tell formatted blocks from written ones, so format in a process that does not leak memory.
///
/// When this returns `Ok`, the noise is durable. After an error the medium is partly formatted:
/// blocks not yet reached keep their old content.
///
/// # Examples
///
/// ```
/// use qsmm_void::{BlockDevice, MemoryDevice, format_with_progress};
///
/// let device = MemoryDevice::new(4096, 600)?;
/// let mut calls = Vec::new();
/// format_with_progress(&device, |done, total| calls.push((done, total)))?;
/// assert_eq!(calls.first(), Some(&(0, 600)));
/// assert_eq!(calls.last(), Some(&(600, 600)));
/// assert!(device.to_bytes().iter().any(|&b| b != 0));
/// # Ok::<(), qsmm_void::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidParameter`] if the device reports a block size that [`BlockSize::new`]
/// rejects; [`Error::Rng`] if the operating system cannot provide the seed; [`Error::Io`] and
/// the other errors of [`BlockDevice::write_blocks`] and [`BlockDevice::flush`].
pub fn format_with_progress(
    device: &dyn BlockDevice,
    mut progress: impl FnMut(u64, u64),
) -> Result<()> {
    let block_size = BlockSize::new(device.block_size())?.get();
    let total = device.block_count();
    let blocks_per_chunk = (CHUNK_BYTES / block_size).max(1);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|_| Error::Rng)?;
    let mut rng = ChaCha20Rng::from_seed(seed);
    seed.zeroize();

    let chunk_len = blocks_per_chunk
        .checked_mul(block_size)
        .ok_or(Error::InvalidParameter("block size too large"))?;
    let mut chunk = vec![0u8; chunk_len];
    let mut done = 0u64;
    progress(0, total);
    while done < total {
        let blocks = usize::try_from(total - done)
            .map_or(blocks_per_chunk, |left| left.min(blocks_per_chunk));
        let bytes = chunk
            .get_mut(..blocks * block_size)
            .ok_or(Error::InvalidParameter("chunk size"))?;
        rng.fill_bytes(bytes);
        device.write_blocks(BlockId(done), bytes)?;
        done += blocks as u64;
        progress(done, total);
    }
    chunk.zeroize();
    device.flush()
}
