//! Namespaces: one key's view of a medium, sealing blocks and deciding where its data goes.

use core::fmt;

use qsmm_types::{BlockId, Error, Result, SecretKey, derive_subkey, labels};
use zeroize::ZeroizeOnDrop;

use crate::device::BlockDevice;
use crate::seal::{BlockSealer, BlockSize};

/// One key's view of a medium: it seals and opens blocks, and decides where its data blocks go.
///
/// A namespace holds two subkeys derived from the caller's [`SecretKey`] and the medium's
/// public `hw_entropy` with [`derive_subkey`]: the sealing key ([`labels::VOID_SEAL`]), inside
/// its [`BlockSealer`], and the allocation key ([`labels::VOID_ALLOC`]). Both are zeroized when
/// the namespace is dropped; the caller's key is consumed and zeroized at once. `Debug` prints
/// only the block size.
///
/// Namespaces do not know about each other: a block sealed by one namespace is, to every other
/// key, indistinguishable from noise, and [`Namespace::open_block`] returns `Ok(None)` for it.
///
/// Sealing is that of a [`BlockSealer`] (see there for the byte layout of a sealed block); a
/// namespace and a [`BlockSealer::new`] of the same key, medium and block size open each other's
/// blocks.
///
/// # Examples
///
/// ```
/// use qsmm_types::{BlockId, SecretKey};
/// use qsmm_void::Namespace;
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
    /// Seals and opens blocks under the sealing subkey; zeroizes it on drop.
    sealer: BlockSealer,
    /// The allocation subkey, input of the keyed permutation of data blocks.
    alloc_key: SecretKey,
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
        Self::with_block_size(key, hw_entropy, BlockSize::DEFAULT)
    }

    /// A namespace with blocks of `block_size` bytes.
    ///
    /// # Errors
    ///
    /// None in practice: the block size is valid by its type. The `Result` is kept so that
    /// future parameters can be checked here.
    pub fn with_block_size(
        key: SecretKey,
        hw_entropy: impl AsRef<[u8]>,
        block_size: BlockSize,
    ) -> Result<Self> {
        let hw_entropy = hw_entropy.as_ref();
        let sealer = BlockSealer::new(&key, hw_entropy, block_size);
        let alloc_key = derive_subkey(&key, hw_entropy, labels::VOID_ALLOC);
        drop(key);
        Ok(Self { sealer, alloc_key })
    }

    /// The sealing half of this namespace.
    #[must_use]
    pub const fn sealer(&self) -> &BlockSealer {
        &self.sealer
    }

    /// Bytes per sealed block.
    #[must_use]
    pub const fn block_size(&self) -> BlockSize {
        self.sealer.block_size()
    }

    /// The most data bytes one sealed block holds: `block_size - SEAL_OVERHEAD`.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.sealer.capacity()
    }

    /// Seals `data` for position `id` into a new buffer of exactly [`Self::block_size`] bytes:
    /// [`BlockSealer::seal_block`].
    ///
    /// # Errors
    ///
    /// - [`Error::DataTooLarge`] if `data` is longer than [`Self::capacity`];
    /// - [`Error::Rng`] if the operating system's random number generator fails.
    pub fn seal_block(&self, data: &[u8], id: BlockId) -> Result<Vec<u8>> {
        self.sealer.seal_block(data, id)
    }

    /// Seals `data` for position `id` into `out`, which must be exactly [`Self::block_size`]
    /// bytes long: [`BlockSealer::seal_block_into`].
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidLength`] if `out` is not [`Self::block_size`] bytes long;
    /// - [`Error::DataTooLarge`] if `data` is longer than [`Self::capacity`];
    /// - [`Error::Rng`] if the operating system's random number generator fails.
    ///
    /// After an error `out` holds no plaintext.
    pub fn seal_block_into(&self, data: &[u8], id: BlockId, out: &mut [u8]) -> Result<()> {
        self.sealer.seal_block_into(data, id, out)
    }

    /// Opens a block sealed by this namespace for position `id`: `Ok(None)` for anything else
    /// (noise, another key or position, any modified bit), with the same work either way. See
    /// [`BlockSealer::open_block`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] only if `sealed` is not [`Self::block_size`] bytes long.
    pub fn open_block(&self, sealed: &[u8], id: BlockId) -> Result<Option<Vec<u8>>> {
        self.sealer.open_block(sealed, id)
    }

    /// The key that orders this namespace's data blocks (see [`Self::data_allocator`]).
    pub(crate) fn alloc_key(&self) -> &SecretKey {
        &self.alloc_key
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
        let mut sealed = vec![0u8; self.block_size().get()];
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
        let mut sealed = vec![0u8; self.block_size().get()];
        device.read_block(id, &mut sealed)?;
        self.open_block(&sealed, id)
    }

    fn check_device(&self, device: &dyn BlockDevice) -> Result<()> {
        if device.block_size() == self.block_size().get() {
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
            .field("block_size", &self.block_size().get())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};

    use super::*;

    fn namespace(byte: u8) -> Namespace {
        Namespace::new(SecretKey::from_bytes([byte; 32]), b"hw").unwrap()
    }

    #[test]
    fn every_block_size_gives_its_capacity() {
        for size in [512, 1024, 4096, 65536, 1 << 20] {
            let block_size = BlockSize::new(size).unwrap();
            let ns = Namespace::with_block_size(SecretKey::from_bytes([1; 32]), b"", block_size)
                .unwrap();
            assert_eq!(ns.block_size(), block_size);
            assert_eq!(ns.capacity(), size - 44);
            assert_eq!(ns.sealer().block_size(), block_size);
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let ns = namespace(1);
        let data = b"layout";
        let sealed = ns.seal_block(data, BlockId(3)).unwrap();
        // Decrypt by hand with the documented key, nonce, AAD and tag position, using the
        // RustCrypto implementation as an independent oracle.
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
        let mut aad = b"qsmm/v1/void/blk".to_vec();
        aad.extend_from_slice(&0u64.to_le_bytes());
        for claimed in [ns.capacity() + 1, u32::MAX as usize] {
            let mut block = vec![0u8; 4096];
            block[..24].fill(9);
            let (_, rest) = block.split_at_mut(24);
            let (body, tag_out) = rest.split_at_mut(4096 - 24 - 16);
            body[..4].copy_from_slice(&u32::try_from(claimed).unwrap().to_le_bytes());
            let tag = cipher
                .encrypt_inout_detached(&XNonce::from([9u8; 24]), &aad, body.into())
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
