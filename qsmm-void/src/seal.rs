//! Sealing: fixed-size XChaCha20-Poly1305 blocks that look like noise to anyone without the key,
//! and the validated block size they come in.

use core::fmt;

use qsmm_types::{BlockId, Error, Result, SecretKey, derive_subkey, labels};
use zeroize::ZeroizeOnDrop;

use crate::cipher::SectorCipher;

/// Length of the random XChaCha20 nonce at the start of every sealed block.
pub const NONCE_LEN: usize = 24;

/// Length of the encrypted data-length field (u32 little-endian) inside every sealed block.
pub const LENGTH_FIELD_LEN: usize = 4;

/// Length of the Poly1305 tag at the end of every sealed block.
pub const TAG_LEN: usize = 16;

/// Bytes of a sealed block that do not carry data: nonce (24) + length field (4) + tag (16).
pub const SEAL_OVERHEAD: usize = NONCE_LEN + LENGTH_FIELD_LEN + TAG_LEN;

/// Domain and version tag at the start of the associated data of every sealed block.
const AAD_DOMAIN: [u8; 16] = *b"qsmm/v1/void/blk";

/// Length of the associated data: domain tag and little-endian block id.
const AAD_LEN: usize = AAD_DOMAIN.len() + 8;

/// The size of a block: a multiple of 512 bytes from 512 bytes to 1 MiB.
///
/// Every sealed block, namespace, device and formatted medium uses sizes of this type, so the
/// rule is checked once, in [`BlockSize::new`].
///
/// # Examples
///
/// ```
/// use qsmm_void::BlockSize;
///
/// assert_eq!(BlockSize::DEFAULT.get(), 4096);
/// assert_eq!(BlockSize::new(512)?.get(), 512);
/// assert!(BlockSize::new(1000).is_err());
/// # Ok::<(), qsmm_void::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockSize(usize);

impl BlockSize {
    /// 4 KiB, the page and sector size of most media.
    pub const DEFAULT: Self = Self(4096);

    /// The smallest block size: 512 bytes, the classic disk sector. Every block size is a
    /// multiple of it, so blocks always cover whole sectors.
    pub const MIN: Self = Self(512);

    /// The largest block size: 1 MiB, which keeps every per-block buffer small and the length
    /// field of a sealed block far from overflow.
    pub const MAX: Self = Self(1 << 20);

    /// Validates `bytes` as a block size.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `bytes` is a multiple of 512 between 512 and
    /// 1 048 576.
    pub const fn new(bytes: usize) -> Result<Self> {
        if bytes >= Self::MIN.0 && bytes <= Self::MAX.0 && bytes.is_multiple_of(Self::MIN.0) {
            Ok(Self(bytes))
        } else {
            Err(Error::InvalidParameter(
                "block size must be a multiple of 512 between 512 and 1048576 bytes",
            ))
        }
    }

    /// The size in bytes.
    #[must_use]
    pub const fn get(self) -> usize {
        self.0
    }

    /// The most data bytes one sealed block of this size holds: `self - SEAL_OVERHEAD`.
    #[must_use]
    pub const fn capacity(self) -> usize {
        // get() >= 512 > SEAL_OVERHEAD.
        self.get() - SEAL_OVERHEAD
    }
}

impl Default for BlockSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<usize> for BlockSize {
    type Error = Error;

    fn try_from(bytes: usize) -> Result<Self> {
        Self::new(bytes)
    }
}

impl From<BlockSize> for usize {
    fn from(size: BlockSize) -> Self {
        size.get()
    }
}

impl fmt::Display for BlockSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.get())
    }
}

/// Seals and opens fixed-size blocks under one key: the sealing half of a
/// [`Namespace`](crate::namespace::Namespace), without block placement.
///
/// Use it where blocks are sealed at positions chosen elsewhere (the shares of the metadata
/// mesh). [`BlockSealer::new`] derives the same sealing subkey as a namespace of the same key,
/// medium and block size, so each opens what the other sealed.
///
/// # Byte layout of a sealed block
///
/// A sealed block is always exactly `block_size` bytes (default [`BlockSize::DEFAULT`]),
/// whatever the length of the data it holds:
///
/// ```text
/// offset              length           content
/// 0                   24               nonce: fresh random bytes from the OS RNG, per seal
/// 24                  block_size - 40  ciphertext of the padded plaintext (below)
/// block_size - 16     16               Poly1305 tag
/// ```
///
/// The padded plaintext that is encrypted is `block_size - 40` bytes long:
///
/// ```text
/// offset  length                  content
/// 0       4                       data length `len`, u32 little-endian (len <= capacity)
/// 4       len                     data
/// 4+len   capacity - len          zero bytes
/// ```
///
/// where `capacity = block_size - SEAL_OVERHEAD` and `SEAL_OVERHEAD = 24 + 4 + 16 = 44`.
///
/// The cipher is XChaCha20-Poly1305 ([`SectorCipher`]) under the subkey
/// `derive_subkey(key, hw_entropy, labels::VOID_SEAL)`. The associated data (authenticated, not
/// stored) is the 16-byte domain and version tag `"qsmm/v1/void/blk"` followed by the
/// [`BlockId`] as a little-endian `u64`. A block copied to another position, or sealed under
/// another key, or with any bit changed, does not open.
///
/// Everything stored is either a uniformly random nonce, XChaCha20 ciphertext or a Poly1305 tag,
/// so without the key a sealed block cannot be told apart from the CSPRNG noise that
/// [`format()`](crate::format::format()) writes into unused blocks.
///
/// # Examples
///
/// ```
/// use qsmm_types::{BlockId, SecretKey};
/// use qsmm_void::BlockSize;
/// use qsmm_void::BlockSealer;
///
/// let key = SecretKey::generate();
/// let sealer = BlockSealer::new(&key, b"medium serial 1234", BlockSize::new(512)?);
/// let sealed = sealer.seal_block(b"share", BlockId(3))?;
/// assert_eq!(sealed.len(), 512);
/// assert_eq!(sealer.open_block(&sealed, BlockId(3))?, Some(b"share".to_vec()));
/// assert_eq!(sealer.open_block(&sealed, BlockId(4))?, None);
/// # Ok::<(), qsmm_void::Error>(())
/// ```
pub struct BlockSealer {
    /// XChaCha20-Poly1305 keyed with the sealing subkey; zeroizes its key on drop.
    cipher: SectorCipher,
    /// Bytes per sealed block.
    block_size: BlockSize,
}

impl BlockSealer {
    /// The sealer of `key` on the medium identified by `hw_entropy`, for blocks of
    /// `block_size` bytes.
    ///
    /// `hw_entropy` is public per-medium salt; the same key on two media gives unrelated
    /// sealers. The derived subkey is zeroized when the sealer is dropped.
    #[must_use]
    pub fn new(key: &SecretKey, hw_entropy: impl AsRef<[u8]>, block_size: BlockSize) -> Self {
        let seal_key = derive_subkey(key, hw_entropy.as_ref(), labels::VOID_SEAL);
        Self {
            cipher: SectorCipher::new(seal_key.as_bytes()),
            block_size,
        }
    }

    /// Bytes per sealed block.
    #[must_use]
    pub const fn block_size(&self) -> BlockSize {
        self.block_size
    }

    /// The most data bytes one sealed block holds: `block_size - SEAL_OVERHEAD`.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.block_size.capacity()
    }

    /// Seals `data` for position `id` into a new buffer of exactly [`Self::block_size`] bytes.
    ///
    /// Each call draws a fresh random nonce, so sealing the same data at the same position twice
    /// gives unrelated bytes. See [`BlockSealer`] for the byte layout.
    ///
    /// # Errors
    ///
    /// - [`Error::DataTooLarge`] if `data` is longer than [`Self::capacity`];
    /// - [`Error::Rng`] if the operating system's random number generator fails.
    pub fn seal_block(&self, data: &[u8], id: BlockId) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.block_size.get()];
        self.seal_block_into(data, id, &mut out)?;
        Ok(out)
    }

    /// Seals `data` for position `id` into `out`, which must be exactly [`Self::block_size`]
    /// bytes long. Allocates nothing: the padded plaintext is assembled in `out` and encrypted
    /// in place.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidLength`] if `out` is not [`Self::block_size`] bytes long;
    /// - [`Error::DataTooLarge`] if `data` is longer than [`Self::capacity`];
    /// - [`Error::Rng`] if the operating system's random number generator fails.
    ///
    /// After an error `out` holds no plaintext.
    pub fn seal_block_into(&self, data: &[u8], id: BlockId, out: &mut [u8]) -> Result<()> {
        if out.len() != self.block_size.get() {
            return Err(Error::InvalidLength {
                what: "sealed block buffer",
                expected: self.block_size.get(),
                got: out.len(),
            });
        }
        let capacity = self.capacity();
        let too_large = Error::DataTooLarge {
            max: capacity,
            got: data.len(),
        };
        if data.len() > capacity {
            return Err(too_large);
        }
        let length = u32::try_from(data.len()).map_err(|_| too_large)?;

        // out.len() == block_size >= 512 > SEAL_OVERHEAD, so the splits are in range.
        let (nonce_out, rest) = out.split_at_mut(NONCE_LEN);
        let (body, tag_out) = rest.split_at_mut(rest.len() - TAG_LEN);

        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
        nonce_out.copy_from_slice(&nonce);

        let (length_out, payload) = body.split_at_mut(LENGTH_FIELD_LEN);
        length_out.copy_from_slice(&length.to_le_bytes());
        let (data_out, padding) = payload.split_at_mut(data.len());
        data_out.copy_from_slice(data);
        padding.fill(0);

        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, &associated_data(id), body);
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Opens a block sealed by this key for position `id`.
    ///
    /// Returns `Ok(Some(data))` for a block this key sealed at `id`, and `Ok(None)` for
    /// anything else: noise, a block of another key or another position, any modified bit.
    /// `Ok(None)` carries no hint of why.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] only if `sealed` is not [`Self::block_size`] bytes long.
    ///
    /// # Security
    ///
    /// Both outcomes do the same work: the AEAD decrypts and authenticates the whole block in
    /// one pass and then compares the tags in constant time; the decrypted buffer is then wiped
    /// with zeros either way (by the AEAD when the tag fails, here when it verifies), and the
    /// data is copied out with a constant-time mask over the whole capacity. A verified block
    /// whose length field exceeds the capacity is also `Ok(None)`. Decrypted bytes that are
    /// not returned are overwritten with zeros.
    pub fn open_block(&self, sealed: &[u8], id: BlockId) -> Result<Option<Vec<u8>>> {
        if sealed.len() != self.block_size.get() {
            return Err(Error::InvalidLength {
                what: "sealed block",
                expected: self.block_size.get(),
                got: sealed.len(),
            });
        }
        // sealed.len() == block_size > SEAL_OVERHEAD, so the splits are in range.
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let (Ok(nonce), Ok(tag)) = (
            <[u8; NONCE_LEN]>::try_from(nonce),
            <[u8; TAG_LEN]>::try_from(tag),
        ) else {
            return Err(Error::Crypto);
        };

        let mut buf = body.to_vec();
        let verified = self
            .cipher
            .decrypt_in_place_detached(&nonce, &associated_data(id), &mut buf, &tag)
            .is_ok();

        // From here on both outcomes run the same instructions on the same amounts of data.
        // After a failed tag `buf` is all zeros, so the length field reads 0.
        let capacity = self.capacity();
        let (length_field, payload) = buf.split_at(LENGTH_FIELD_LEN);
        let mut field = [0u8; LENGTH_FIELD_LEN];
        field.copy_from_slice(length_field);
        let length = u64::from(u32::from_le_bytes(field));
        let capacity_u64 = capacity as u64;
        // All ones if the block verified and its length fits, else zero (no branch).
        let fits = u64::from(length <= capacity_u64);
        let keep_mask = (fits & u64::from(verified)).wrapping_neg();
        let keep = length & keep_mask;

        let mut out = payload.to_vec();
        keep_prefix_masked(&mut out, keep);
        wipe(&mut buf, verified);
        drop(buf);

        // keep <= capacity, which is a usize.
        out.truncate(usize::try_from(keep).unwrap_or(0));
        Ok(if keep_mask == 0 { None } else { Some(out) })
    }
}

impl ZeroizeOnDrop for BlockSealer {}

impl fmt::Debug for BlockSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockSealer")
            .field("block_size", &self.block_size.get())
            .finish_non_exhaustive()
    }
}

/// The associated data of a sealed block: domain tag, then the block id (little-endian).
fn associated_data(id: BlockId) -> [u8; AAD_LEN] {
    let mut aad = [0u8; AAD_LEN];
    let (domain, block) = aad.split_at_mut(AAD_DOMAIN.len());
    domain.copy_from_slice(&AAD_DOMAIN);
    block.copy_from_slice(&id.to_le_bytes());
    aad
}

/// Bytes per step of [`keep_prefix_masked`]: one mask comparison covers this many lanes.
const MASK_CHUNK: usize = 64;

/// `[0, 1, …, 63]`: the byte lanes of one [`MASK_CHUNK`].
const LANES: [u8; MASK_CHUNK] = {
    let mut lanes = [0u8; MASK_CHUNK];
    let mut i = 0;
    while i < MASK_CHUNK {
        #[expect(clippy::cast_possible_truncation, reason = "i < 64")]
        {
            lanes[i] = i as u8;
        }
        i += 1;
    }
    lanes
};

/// Keeps the first `keep` bytes of `buf` and zeros the rest, touching every byte whatever `keep`
/// is (a mask per byte, no data-dependent branch or length).
///
/// Works on chunks of [`MASK_CHUNK`] bytes: the number of bytes to keep in a chunk is computed
/// with masks, and the comparison against it runs on one-byte lanes of a fixed-size array, which
/// the compiler turns into a few vector instructions per chunk. (A comparison of 64-bit indices
/// per byte, the obvious loop, measured 12× slower: 2.4 µs for 4 KiB.)
fn keep_prefix_masked(buf: &mut [u8], keep: u64) {
    let (chunks, rest) = buf.as_chunks_mut::<MASK_CHUNK>();
    let mut start = 0u64;
    for chunk in chunks {
        // left = max(keep - start, 0), then n = min(left, MASK_CHUNK), both without a branch.
        let before = u64::from(keep < start).wrapping_neg();
        let left = keep.wrapping_sub(start) & !before;
        let full = u64::from(left > MASK_CHUNK as u64).wrapping_neg();
        // n <= MASK_CHUNK = 64, so its low byte is all of it.
        let n = ((left & !full) | (MASK_CHUNK as u64 & full)).to_le_bytes()[0];
        for (byte, &lane) in chunk.iter_mut().zip(&LANES) {
            // 0xff while lane < n, else 0 (a flag turned into a mask, no branch).
            *byte &= 0u8.wrapping_sub(u8::from(lane < n));
        }
        start += MASK_CHUNK as u64;
    }
    for (i, byte) in (start..).zip(rest) {
        *byte &= 0u8.wrapping_sub(u8::from(i < keep));
    }
}

/// Overwrites `buf` with zeros when `verified` (when the tag failed, the AEAD has already done
/// the same), so both outcomes of [`BlockSealer::open_block`] write the buffer once.
fn wipe(buf: &mut [u8], verified: bool) {
    if verified {
        buf.fill(0);
    }
    core::hint::black_box(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_exactly_the_prefix() {
        let src: Vec<u8> = (0..300u16)
            .map(|i| u8::try_from(i % 251 + 1).unwrap())
            .collect();
        let keeps = [
            0u64,
            1,
            5,
            63,
            64,
            65,
            127,
            128,
            129,
            199,
            200,
            299,
            300,
            301,
            1 << 40,
        ];
        for len in [0, 1, 63, 64, 65, 200, 300] {
            for keep in keeps {
                let mut buf = src[..len].to_vec();
                keep_prefix_masked(&mut buf, keep);
                let kept = usize::try_from(keep).unwrap().min(len);
                assert_eq!(buf[..kept], src[..kept], "{len} {keep}");
                assert!(buf[kept..].iter().all(|&b| b == 0), "{len} {keep}");
            }
        }
    }

    #[test]
    fn block_sizes_are_validated() {
        for size in [
            0,
            1,
            44,
            511,
            513,
            1000,
            4095,
            4097,
            (1 << 20) + 512,
            usize::MAX,
        ] {
            assert!(
                matches!(BlockSize::new(size), Err(Error::InvalidParameter(_))),
                "{size}"
            );
        }
        for size in [512, 1024, 1536, 4096, 65536, 1 << 20] {
            let block_size = BlockSize::new(size).unwrap();
            assert_eq!(block_size.get(), size);
            assert_eq!(block_size.capacity(), size - 44);
            assert_eq!(BlockSize::try_from(size).unwrap(), block_size);
        }
        assert_eq!(BlockSize::DEFAULT.get(), 4096);
        assert_eq!(BlockSize::default(), BlockSize::DEFAULT);
        assert_eq!((BlockSize::MIN.get(), BlockSize::MAX.get()), (512, 1 << 20));
        assert_eq!(BlockSize::DEFAULT.to_string(), "4096 bytes");
    }
}
