//! The detached sector AEAD: XChaCha20-Poly1305 whose nonce and tag live outside the sector.
//!
//! Same interface as `qsmm_void::SectorCipher`; this private copy stands in until that type is
//! available, so switching is a change of the `use` line in `volume.rs`.

use chacha20poly1305::{AeadInOut, KeyInit, Tag, XChaCha20Poly1305, XNonce};

/// XChaCha20-Poly1305 with detached nonce and tag.
pub(crate) struct SectorCipher(XChaCha20Poly1305);

impl SectorCipher {
    /// A cipher under `key`.
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self(XChaCha20Poly1305::new(&(*key).into()))
    }

    /// Encrypts `buf` in place and returns the tag. On the impossible length error (a buffer
    /// beyond 256 GiB) the buffer is zeroed and the tag is all zeros, which never verifies, so no
    /// plaintext can reach the medium.
    pub(crate) fn encrypt_in_place_detached(
        &self,
        nonce: &[u8; 24],
        aad: &[u8],
        buf: &mut [u8],
    ) -> [u8; 16] {
        match self
            .0
            .encrypt_inout_detached(&XNonce::from(*nonce), aad, buf.into())
        {
            Ok(tag) => tag.into(),
            Err(_) => {
                buf.fill(0);
                [0; 16]
            }
        }
    }

    /// Decrypts `buf` in place if `tag` verifies; otherwise `buf` is unchanged and the result is
    /// an error.
    pub(crate) fn decrypt_in_place_detached(
        &self,
        nonce: &[u8; 24],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), chacha20poly1305::Error> {
        self.0
            .decrypt_inout_detached(&XNonce::from(*nonce), aad, buf.into(), &Tag::from(*tag))
    }
}
