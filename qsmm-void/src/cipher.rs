//! The AEAD: XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03) with detached tags, behind every
//! sealed block and every volume sector.
//!
//! The construction is the draft's: the subkey is `HChaCha20(key, nonce[0..16])`, and
//! ChaCha20-Poly1305 (RFC 8439) runs under that subkey with the 12-byte nonce
//! `0x00000000 ‖ nonce[16..24]`. `HChaCha20` comes from the `RustCrypto` `chacha20` crate; the
//! ChaCha20-Poly1305 pass runs in `ring` (`BoringSSL`'s assembly, with run-time CPU feature
//! detection), which encrypts and authenticates — or decrypts and authenticates — in one pass
//! over the data. The output is byte for byte that of the `RustCrypto` `chacha20poly1305`
//! crate's `XChaCha20Poly1305`, which the tests use as the oracle.

use core::fmt;

use chacha20::{R20, hchacha};
use qsmm_types::{Error, Result};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of an XChaCha20-Poly1305 key.
const KEY_LEN: usize = 32;

/// Length of an XChaCha20 nonce.
const XNONCE_LEN: usize = 24;

/// Length of a Poly1305 tag.
const TAG_LEN: usize = 16;

/// Bytes of the nonce that `HChaCha20` consumes to derive the subkey.
const HCHACHA_INPUT_LEN: usize = 16;

/// XChaCha20-Poly1305 with a detached tag; zeroizes its key on drop.
///
/// Byte-identical to the `RustCrypto` `chacha20poly1305` crate's `XChaCha20Poly1305` with its
/// `*_detached` methods: the ciphertext has the length of the plaintext and the 16-byte Poly1305
/// tag is returned (or passed in) separately, so callers can store it elsewhere (a volume keeps
/// nonce and tag in its map and writes a 4096-byte sector as pure ciphertext).
///
/// # Examples
///
/// ```
/// use qsmm_void::SectorCipher;
///
/// let cipher = SectorCipher::new(&[7; 32]);
/// let nonce = [1; 24]; // never reuse a nonce under one key: draw it at random
/// let mut sector = vec![0x5a; 4096];
/// let tag = cipher.encrypt_in_place_detached(&nonce, b"sector 12", &mut sector);
/// assert_ne!(sector, vec![0x5a; 4096]);
///
/// cipher.decrypt_in_place_detached(&nonce, b"sector 12", &mut sector, &tag)?;
/// assert_eq!(sector, vec![0x5a; 4096]);
///
/// // Any other associated data, nonce, tag or ciphertext: an error, and no plaintext.
/// let mut sealed = sector.clone();
/// let tag = cipher.encrypt_in_place_detached(&nonce, b"sector 12", &mut sealed);
/// assert!(cipher.decrypt_in_place_detached(&nonce, b"sector 13", &mut sealed, &tag).is_err());
/// assert!(sealed.iter().all(|&b| b == 0));
/// # Ok::<(), qsmm_void::Error>(())
/// ```
///
/// # Security
///
/// - A nonce must never be used twice under one key: draw it from the OS RNG (24 random bytes
///   make a collision negligible) or use a counter that never repeats.
/// - The key is zeroized on drop. The per-call `HChaCha20` subkey is zeroized after use on our
///   side; `ring` keeps its copy in a stack value that it does not wipe.
/// - Verification compares the tag in constant time; a failed decryption overwrites the buffer
///   with zeros, so no unauthenticated plaintext is left behind.
pub struct SectorCipher {
    /// The XChaCha20-Poly1305 key.
    key: [u8; KEY_LEN],
}

impl SectorCipher {
    /// A cipher under the 32-byte `key`.
    #[must_use]
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self { key: *key }
    }

    /// Encrypts `buf` in place under `nonce`, authenticating `aad` too, and returns the tag.
    ///
    /// # Panics
    ///
    /// If `buf` is longer than 256 GiB (2³² ChaCha20 blocks), the limit of RFC 8439; no
    /// smaller buffer can fail.
    #[must_use = "without its tag the ciphertext cannot be decrypted"]
    pub fn encrypt_in_place_detached(
        &self,
        nonce: &[u8; XNONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        let (key, nonce) = self.inner(nonce);
        #[expect(
            clippy::expect_used,
            reason = "ring fails only beyond 256 GiB, documented under # Panics"
        )]
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), buf)
            .expect("buffer within the ChaCha20 limit of 256 GiB");
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Decrypts `buf` in place under `nonce` if `tag` authenticates it together with `aad`.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the tag does not verify (wrong key, nonce, associated data, tag or
    /// any changed ciphertext bit). `buf` is then all zeros: it holds no plaintext.
    ///
    /// # Security
    ///
    /// Decryption and authentication run in one pass over `buf`, then the tags are compared in
    /// constant time, so a block that does not verify costs the same work as one that does
    /// (plus the overwrite with zeros).
    pub fn decrypt_in_place_detached(
        &self,
        nonce: &[u8; XNONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<()> {
        let (key, nonce) = self.inner(nonce);
        match key.open_in_place_separate_tag(nonce, Aad::from(aad), Tag::from(*tag), buf, 0..) {
            Ok(_) => Ok(()),
            // ring has overwritten the buffer with zeros (the tests check it); wiping it again
            // here would make a failure cost more than a success.
            Err(_) => Err(Error::Crypto),
        }
    }

    /// The ChaCha20-Poly1305 key and 12-byte nonce of XChaCha20-Poly1305 under `nonce`.
    fn inner(&self, nonce: &[u8; XNONCE_LEN]) -> (LessSafeKey, Nonce) {
        let (prefix, suffix) = nonce.split_at(HCHACHA_INPUT_LEN);
        let mut input = [0u8; HCHACHA_INPUT_LEN];
        input.copy_from_slice(prefix);
        let mut subkey: [u8; KEY_LEN] = hchacha::<R20>(&self.key.into(), &input.into()).into();
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &subkey);
        subkey.zeroize();
        #[expect(
            clippy::expect_used,
            reason = "ring rejects only keys that are not 32 bytes long"
        )]
        let key = LessSafeKey::new(unbound.expect("a 32-byte ChaCha20-Poly1305 key"));
        let mut short = [0u8; 12];
        short[4..].copy_from_slice(suffix);
        (key, Nonce::assume_unique_for_key(short))
    }
}

impl Drop for SectorCipher {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl ZeroizeOnDrop for SectorCipher {}

impl fmt::Debug for SectorCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SectorCipher { .. }")
    }
}
