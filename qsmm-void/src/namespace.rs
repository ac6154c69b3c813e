//! Sealing: fixed-size XChaCha20-Poly1305 blocks that look like noise to anyone without the key.

use core::{fmt, ops::Range};

use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use qsmm_types::{BlockId, Error, Result, SecretKey, derive_subkey, labels};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::allocation::{DataAllocator, Permutation};
use crate::device::BlockDevice;

/// The block size of [`Namespace::new`]: 4 KiB, the page and sector size of most media.
pub const DEFAULT_BLOCK_SIZE: usize = 4096;

/// The smallest block size a namespace accepts: 512 bytes, the classic disk sector.
///
/// Block sizes must be multiples of this, so sealed blocks always cover whole sectors.
pub const MIN_BLOCK_SIZE: usize = 512;

/// The largest block size a namespace accepts: 1 MiB.
///
/// The bound keeps every per-block buffer small and the length field far from overflow.
pub const MAX_BLOCK_SIZE: usize = 1 << 20;

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

/// One key's view of a medium: it seals and opens blocks, and decides where its data blocks go.
///
/// A namespace holds two subkeys derived from the caller's [`SecretKey`] and the medium's
/// public `hw_entropy` with [`derive_subkey`]: the sealing key ([`labels::VOID_SEAL`]) and the
/// allocation key ([`labels::VOID_ALLOC`]). Both are zeroized when the namespace is dropped; the
/// caller's key is consumed and zeroized at once. `Debug` prints only the block size.
///
/// Namespaces do not know about each other: a block sealed by one namespace is, to every other
/// key, indistinguishable from noise, and [`Namespace::open_block`] returns `Ok(None)` for it.
///
/// # Byte layout of a sealed block
///
/// A sealed block is always exactly `block_size` bytes (default [`DEFAULT_BLOCK_SIZE`]),
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
/// The associated data (authenticated, not stored) is the 16-byte domain and version tag
/// `"qsmm/v1/void/blk"` followed by the [`BlockId`] as a little-endian `u64`. A block copied to
/// another position, or sealed under another key, or with any bit changed, does not open.
///
/// Everything stored is either a uniformly random nonce, XChaCha20 ciphertext or a Poly1305 tag,
/// so without the key a sealed block cannot be told apart from the CSPRNG noise that
/// [`format()`](crate::format()) writes into unused blocks.
///
/// # Examples
///
/// ```
/// use qsmm_void::{BlockId, Namespace, SecretKey};
///
/// let ns = Namespace::new(SecretKey::generate(), b"medium serial 1234")?;
/// let sealed = ns.seal_block(b"hello", BlockId(7))?;
/// assert_eq!(sealed.len(), 4096);
/// assert_eq!(ns.open_block(&sealed, BlockId(7))?, Some(b"hello".to_vec()));
///
/// // Another block position or another key: not ours.
/// assert_eq!(ns.open_block(&sealed, BlockId(8))?, None);
/// let other = Namespace::new(SecretKey::generate(), b"medium serial 1234")?;
/// assert_eq!(other.open_block(&sealed, BlockId(7))?, None);
/// # Ok::<(), qsmm_void::Error>(())
/// ```
pub struct Namespace {
    /// XChaCha20-Poly1305 keyed with the sealing subkey; zeroizes its key on drop.
    cipher: XChaCha20Poly1305,
    /// The allocation subkey, input of the keyed permutation of data blocks.
    alloc_key: SecretKey,
    /// Bytes per sealed block.
    block_size: usize,
}

impl Namespace {
    /// A namespace of `key` on the medium identified by `hw_entropy`, with 4 KiB blocks.
    ///
    /// `hw_entropy` is public per-medium salt (a serial number, a random value stored beside the
    /// medium); the same key on two media gives unrelated namespaces.
    ///
    /// # Errors
    ///
    /// None in practice; the signature matches [`Namespace::with_block_size`].
    pub fn new(key: SecretKey, hw_entropy: impl AsRef<[u8]>) -> Result<Self> {
        Self::with_block_size(key, hw_entropy, DEFAULT_BLOCK_SIZE)
    }

    /// A namespace with blocks of `block_size` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `block_size` is a multiple of [`MIN_BLOCK_SIZE`] (512)
    /// between [`MIN_BLOCK_SIZE`] and [`MAX_BLOCK_SIZE`] (1 MiB).
    pub fn with_block_size(
        key: SecretKey,
        hw_entropy: impl AsRef<[u8]>,
        block_size: usize,
    ) -> Result<Self> {
        check_block_size(block_size)?;
        let hw_entropy = hw_entropy.as_ref();
        let seal_key = derive_subkey(&key, hw_entropy, labels::VOID_SEAL);
        let alloc_key = derive_subkey(&key, hw_entropy, labels::VOID_ALLOC);
        drop(key);
        let cipher =
            XChaCha20Poly1305::new_from_slice(seal_key.as_bytes()).map_err(|_| Error::Crypto)?;
        Ok(Self {
            cipher,
            alloc_key,
            block_size,
        })
    }

    /// Bytes per sealed block.
    #[must_use]
    pub const fn block_size(&self) -> usize {
        self.block_size
    }

    /// The most data bytes one sealed block holds: `block_size - SEAL_OVERHEAD`.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.block_size - SEAL_OVERHEAD
    }

    /// Seals `data` for position `id` into a new buffer of exactly [`Self::block_size`] bytes.
    ///
    /// Each call draws a fresh random nonce, so sealing the same data at the same position twice
    /// gives unrelated bytes. See [`Namespace`] for the byte layout.
    ///
    /// # Errors
    ///
    /// - [`Error::DataTooLarge`] if `data` is longer than [`Self::capacity`];
    /// - [`Error::Rng`] if the operating system's random number generator fails.
    pub fn seal_block(&self, data: &[u8], id: BlockId) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.block_size];
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
        if out.len() != self.block_size {
            return Err(Error::InvalidLength {
                what: "sealed block buffer",
                expected: self.block_size,
                got: out.len(),
            });
        }
        let capacity = self.capacity();
        if data.len() > capacity {
            return Err(Error::DataTooLarge {
                max: capacity,
                got: data.len(),
            });
        }
        let length = u32::try_from(data.len()).map_err(|_| Error::DataTooLarge {
            max: capacity,
            got: data.len(),
        })?;

        // out.len() == block_size >= MIN_BLOCK_SIZE > SEAL_OVERHEAD, so the splits are in range.
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

        let aad = associated_data(id);
        match self
            .cipher
            .encrypt_inout_detached(&XNonce::from(nonce), &aad, body.into())
        {
            Ok(tag) => {
                tag_out.copy_from_slice(&tag);
                Ok(())
            }
            Err(_) => {
                out.zeroize();
                Err(Error::Crypto)
            }
        }
    }

    /// Opens a block sealed by this namespace for position `id`.
    ///
    /// Returns `Ok(Some(data))` for a block this namespace sealed at `id`, and `Ok(None)` for
    /// anything else: noise, a block of another key or another position, any modified bit.
    /// `Ok(None)` carries no hint of why.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] only if `sealed` is not [`Self::block_size`] bytes long.
    ///
    /// # Security
    ///
    /// The full Poly1305 verification always runs over the whole block; nothing is checked
    /// before the tag. When verification fails, a ChaCha20 keystream of the same length is
    /// generated in place of the skipped decryption, so a block that is not ours costs about the
    /// same work as one that is (this evens out the work; it is not a constant-time guarantee).
    /// A verified block whose length field exceeds the capacity is also `Ok(None)`. Decrypted
    /// bytes that are not returned are zeroized.
    pub fn open_block(&self, sealed: &[u8], id: BlockId) -> Result<Option<Vec<u8>>> {
        if sealed.len() != self.block_size {
            return Err(Error::InvalidLength {
                what: "sealed block",
                expected: self.block_size,
                got: sealed.len(),
            });
        }
        // sealed.len() == block_size > SEAL_OVERHEAD, so the splits are in range.
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| Error::Crypto)?;
        let tag = Tag::try_from(tag).map_err(|_| Error::Crypto)?;

        let mut buf = body.to_vec();
        let aad = associated_data(id);
        let verified = self
            .cipher
            .decrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into(), &tag)
            .is_ok();
        if !verified {
            balance_skipped_decryption(&mut buf);
            buf.zeroize();
            return Ok(None);
        }

        let Some(length) = buf
            .first_chunk::<LENGTH_FIELD_LEN>()
            .and_then(|field| usize::try_from(u32::from_le_bytes(*field)).ok())
            .filter(|&length| length <= self.capacity())
        else {
            buf.zeroize();
            return Ok(None);
        };
        buf.copy_within(LENGTH_FIELD_LEN..LENGTH_FIELD_LEN + length, 0);
        if let Some(tail) = buf.get_mut(length..) {
            tail.zeroize();
        }
        buf.truncate(length);
        Ok(Some(buf))
    }

    /// The physical block of logical data block `logical` on a medium of `total_blocks` blocks,
    /// with nothing reserved: a keyed pseudo-random permutation of `[0, total_blocks)`.
    ///
    /// Distinct logical indices always give distinct blocks. Use [`Self::data_allocator`] to
    /// skip blocks reserved for the metadata mesh. See [`DataAllocator`] for the rule and the
    /// collision risk between namespaces.
    ///
    /// # Errors
    ///
    /// - [`Error::TooFewBlocks`] if `total_blocks` is 0;
    /// - [`Error::BlockOutOfRange`] if `logical >= total_blocks`.
    pub fn data_block(&self, logical: u64, total_blocks: u64) -> Result<BlockId> {
        Permutation::new(&self.alloc_key, total_blocks)?
            .forward(logical)
            .map(BlockId)
    }

    /// The data blocks of this namespace on a medium of `total_blocks` blocks, in keyed
    /// pseudo-random order, never any block in `reserved` (for instance the blocks of this
    /// namespace's metadata mesh).
    ///
    /// `reserved` must be the same set every time the namespace is opened, since it shifts the
    /// order. Reserved blocks outside the medium are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::TooFewBlocks`] if `total_blocks` is 0.
    pub fn data_allocator<'r>(
        &self,
        total_blocks: u64,
        reserved: impl IntoIterator<Item = &'r BlockId>,
    ) -> Result<DataAllocator<'_>> {
        self.data_allocator_in(0..total_blocks, reserved)
    }

    /// Like [`Self::data_allocator`], within the blocks `region` only: namespaces given
    /// disjoint regions can never overwrite each other's data.
    ///
    /// # Errors
    ///
    /// [`Error::TooFewBlocks`] if `region` is empty.
    pub fn data_allocator_in<'r>(
        &self,
        region: Range<u64>,
        reserved: impl IntoIterator<Item = &'r BlockId>,
    ) -> Result<DataAllocator<'_>> {
        DataAllocator::new(self, &self.alloc_key, region, reserved)
    }

    /// Seals `data` for block `id` and writes it there. The write is durable once
    /// [`BlockDevice::flush`] returns.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidParameter`] if the device's block size differs from the namespace's;
    /// - [`Error::DataTooLarge`] if `data` is longer than [`Self::capacity`];
    /// - [`Error::BlockOutOfRange`] if `id` is not on the device;
    /// - [`Error::Rng`] or [`Error::Io`] if randomness or the device fail (the block may then
    ///   hold its old or new content, or a mix, which no longer opens).
    pub fn write_block(&self, device: &dyn BlockDevice, id: BlockId, data: &[u8]) -> Result<()> {
        self.check_device(device)?;
        let mut sealed = vec![0u8; self.block_size];
        self.seal_block_into(data, id, &mut sealed)?;
        device.write_block(id, &sealed)
    }

    /// Reads block `id` and opens it: `Ok(None)` if it is not this namespace's block.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidParameter`] if the device's block size differs from the namespace's;
    /// - [`Error::BlockOutOfRange`] if `id` is not on the device;
    /// - [`Error::Io`] if the device fails.
    pub fn read_block(&self, device: &dyn BlockDevice, id: BlockId) -> Result<Option<Vec<u8>>> {
        self.check_device(device)?;
        let mut sealed = vec![0u8; self.block_size];
        device.read_block(id, &mut sealed)?;
        self.open_block(&sealed, id)
    }

    fn check_device(&self, device: &dyn BlockDevice) -> Result<()> {
        if device.block_size() == self.block_size {
            Ok(())
        } else {
            Err(Error::InvalidParameter(
                "the device's block size differs from the namespace's",
            ))
        }
    }
}

impl ZeroizeOnDrop for Namespace {}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("block_size", &self.block_size)
            .finish_non_exhaustive()
    }
}

/// Checks that `block_size` is a multiple of 512 in `[MIN_BLOCK_SIZE, MAX_BLOCK_SIZE]`.
pub(crate) fn check_block_size(block_size: usize) -> Result<()> {
    if (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size)
        && block_size.is_multiple_of(MIN_BLOCK_SIZE)
    {
        Ok(())
    } else {
        Err(Error::InvalidParameter(
            "block size must be a multiple of 512 between 512 and 1048576 bytes",
        ))
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

/// Generates a ChaCha20 keystream over `buf`, standing in for the decryption that a failed tag
/// check skips, so both outcomes of [`Namespace::open_block`] cost about the same.
fn balance_skipped_decryption(buf: &mut [u8]) {
    let mut rng = ChaCha20Rng::from_seed([0u8; 32]);
    rng.fill_bytes(buf);
    core::hint::black_box(&mut *buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace(byte: u8) -> Namespace {
        Namespace::new(SecretKey::from_bytes([byte; 32]), b"hw").unwrap()
    }

    #[test]
    fn block_sizes_are_validated() {
        for size in [0, 1, 511, 513, 1000, 4095, 4097, MAX_BLOCK_SIZE + 512] {
            let err = Namespace::with_block_size(SecretKey::from_bytes([1; 32]), b"", size);
            assert!(
                matches!(err, Err(Error::InvalidParameter(_))),
                "{size}: {err:?}"
            );
        }
        for size in [MIN_BLOCK_SIZE, 1024, 4096, 65536, MAX_BLOCK_SIZE] {
            let ns = Namespace::with_block_size(SecretKey::from_bytes([1; 32]), b"", size).unwrap();
            assert_eq!(ns.block_size(), size);
            assert_eq!(ns.capacity(), size - 44);
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let ns = namespace(1);
        let data = b"layout";
        let sealed = ns.seal_block(data, BlockId(3)).unwrap();
        // Decrypt by hand with the documented key, nonce, AAD and tag position.
        let key = derive_subkey(&SecretKey::from_bytes([1; 32]), b"hw", labels::VOID_SEAL);
        let cipher = XChaCha20Poly1305::new_from_slice(key.as_bytes()).unwrap();
        let mut body = sealed[24..4096 - 16].to_vec();
        let mut aad = b"qsmm/v1/void/blk".to_vec();
        aad.extend_from_slice(&3u64.to_le_bytes());
        cipher
            .decrypt_inout_detached(
                &XNonce::try_from(&sealed[..24]).unwrap(),
                &aad,
                body.as_mut_slice().into(),
                &Tag::try_from(&sealed[4096 - 16..]).unwrap(),
            )
            .unwrap();
        assert_eq!(&body[..4], &6u32.to_le_bytes());
        assert_eq!(&body[4..10], data);
        assert!(body[10..].iter().all(|&b| b == 0));
        assert_eq!(body.len(), 4 + ns.capacity());
    }

    #[test]
    fn debug_shows_no_secrets() {
        let printed = format!("{:?}", namespace(0xab));
        assert_eq!(printed, "Namespace { block_size: 4096, .. }");
    }

    #[test]
    fn oversized_length_field_is_not_ours() {
        // A block that verifies but claims more data than fits must not open.
        let ns = namespace(2);
        let key = derive_subkey(&SecretKey::from_bytes([2; 32]), b"hw", labels::VOID_SEAL);
        let cipher = XChaCha20Poly1305::new_from_slice(key.as_bytes()).unwrap();
        for claimed in [ns.capacity() + 1, u32::MAX as usize] {
            let mut block = vec![0u8; 4096];
            block[..24].fill(9);
            let (_, rest) = block.split_at_mut(24);
            let (body, tag_out) = rest.split_at_mut(4096 - 24 - 16);
            body[..4].copy_from_slice(&u32::try_from(claimed).unwrap().to_le_bytes());
            let tag = cipher
                .encrypt_inout_detached(
                    &XNonce::from([9u8; 24]),
                    &associated_data(BlockId(0)),
                    body.into(),
                )
                .unwrap();
            tag_out.copy_from_slice(&tag);
            assert_eq!(ns.open_block(&block, BlockId(0)).unwrap(), None);
        }
    }

    #[test]
    fn full_capacity_and_empty_round_trip() {
        let ns = namespace(3);
        for len in [0, 1, ns.capacity() - 1, ns.capacity()] {
            let data: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let sealed = ns.seal_block(&data, BlockId(u64::MAX)).unwrap();
            assert_eq!(
                ns.open_block(&sealed, BlockId(u64::MAX)).unwrap(),
                Some(data)
            );
        }
        let err = ns.seal_block(&vec![0; ns.capacity() + 1], BlockId(0));
        assert!(matches!(
            err,
            Err(Error::DataTooLarge {
                max: 4052,
                got: 4053
            })
        ));
    }

    #[test]
    fn seal_into_checks_the_buffer() {
        let ns = namespace(4);
        for len in [0, 4095, 4097] {
            let mut out = vec![0; len];
            let err = ns.seal_block_into(b"x", BlockId(0), &mut out);
            assert!(
                matches!(err, Err(Error::InvalidLength { expected: 4096, got, .. }) if got == len)
            );
        }
        for len in [0, 44, 4095, 4097, 8192] {
            let err = ns.open_block(&vec![0; len], BlockId(0));
            assert!(
                matches!(err, Err(Error::InvalidLength { expected: 4096, got, .. }) if got == len)
            );
        }
    }
}
