//! The client's and the server's keys, and the parameter set they use.
//!
//! The client key decrypts; it never leaves the client. The server key lets a host compute on
//! ciphertexts (compare an encrypted query key with each entry's key, select the matching value)
//! without learning anything about them. Both come from one generation and share a random
//! [`KeyId`], which every query, entry, update, answer and index carries, so that objects of two
//! key pairs are refused with [`Error::KeyMismatch`] instead of computing garbage.
//!
//! # Sizes
//!
//! With the one parameter set (TFHE-rs's default, `PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`,
//! failure probability 2<sup>-128</sup>, with list compression) the client key is small, while
//! the server key is large: it travels in its compressed (seeded) form ([`ServerKey::to_bytes`])
//! and is expanded on arrival to the bootstrapping and keyswitching keys, which take far more
//! memory. The crate's README has the measured sizes.

use core::fmt;

use tfhe::shortint::AtomicPatternParameters;
use tfhe::shortint::parameters::{
    COMP_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128, ClassicPBSParameters,
    PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};
use tfhe::{CompressedServerKey, Config, ConfigBuilder};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::key_id::KeyId;
use crate::wire::{self, Kind};

/// The client's secret key: encrypts query keys and values, decrypts answers.
///
/// <div class="warning">This is key material: anyone holding it reads every value of the index.
/// TFHE-rs keeps the key in ordinary memory and does not wipe it on drop; the bytes of
/// <code>to_bytes</code> are wiped when dropped.</div>
pub struct ClientKey {
    pub(crate) id: KeyId,
    pub(crate) key: tfhe::ClientKey,
}

impl ClientKey {
    /// Generates a fresh client key (fast; the server key is made from it with
    /// [`ClientKey::server_key`]).
    ///
    /// # Errors
    ///
    /// [`Error::Random`] if the operating system's random number generator fails.
    pub fn generate() -> Result<Self> {
        Ok(Self {
            id: KeyId::random()?,
            key: tfhe::ClientKey::generate(config()),
        })
    }

    /// The key pair's id.
    #[must_use]
    pub const fn id(&self) -> KeyId {
        self.id
    }

    /// Generates the server key that goes with this client key: the evaluation keys a host needs
    /// to answer queries. This takes seconds and the key is large (see the module docs); send it
    /// with [`ServerKey::to_bytes`].
    #[must_use]
    pub fn server_key(&self) -> ServerKey {
        let compressed = self.key.generate_compressed_server_key();
        let key = compressed.decompress();
        ServerKey {
            id: self.id,
            compressed,
            key,
        }
    }

    /// Serialises the key (format in the `wire` module docs of the crate: a frame whose one
    /// part is the TFHE-rs client key).
    ///
    /// <div class="warning">The bytes are the secret key; they are wiped when dropped.</div>
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] if TFHE-rs cannot serialise the key.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let inner = Zeroizing::new(wire::to_tfhe_bytes(
            Kind::ClientKey.name(),
            &self.key,
            CLIENT_KEY_LIMIT,
        )?);
        Ok(Zeroizing::new(wire::encode(
            Kind::ClientKey,
            &self.id,
            &[inner.as_slice()],
        )?))
    }

    /// Reads a key written by [`ClientKey::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] or [`Error::UnsupportedVersion`] for bytes that are not such a key,
    /// or a key of another parameter set.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = Kind::ClientKey.name();
        let (id, [inner]) = wire::decode::<1>(Kind::ClientKey, bytes)?;
        let key: tfhe::ClientKey = wire::from_tfhe_bytes(what, inner, CLIENT_KEY_LIMIT)?;
        if key.computation_parameters() != AtomicPatternParameters::from(PARAMS) {
            return Err(Error::Malformed {
                what,
                reason: "another parameter set".into(),
            });
        }
        Ok(Self { id, key })
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The evaluation keys a host uses to answer queries on an [`EncryptedIndex`]: they compute on
/// ciphertexts and decrypt nothing.
///
/// [`EncryptedIndex`]: crate::EncryptedIndex
#[derive(Clone)]
pub struct ServerKey {
    pub(crate) id: KeyId,
    compressed: CompressedServerKey,
    pub(crate) key: tfhe::ServerKey,
}

impl ServerKey {
    /// The key pair's id.
    #[must_use]
    pub const fn id(&self) -> KeyId {
        self.id
    }

    /// Serialises the key in its compressed (seeded) form, much smaller than the expanded key.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] if TFHE-rs cannot serialise the key.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let inner =
            wire::to_tfhe_bytes(Kind::ServerKey.name(), &self.compressed, SERVER_KEY_LIMIT)?;
        wire::encode(Kind::ServerKey, &self.id, &[&inner])
    }

    /// Reads a key written by [`ServerKey::to_bytes`] and expands it (seconds).
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] or [`Error::UnsupportedVersion`] for bytes that are not such a key,
    /// or a key that does not conform to the parameter set.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (id, [inner]) = wire::decode::<1>(Kind::ServerKey, bytes)?;
        let compressed: CompressedServerKey = wire::from_tfhe_bytes_conformant(
            Kind::ServerKey.name(),
            inner,
            SERVER_KEY_LIMIT,
            &config().into(),
        )?;
        let key = compressed.decompress();
        Ok(Self {
            id,
            compressed,
            key,
        })
    }

    /// Runs `f` with this key as TFHE-rs's server key on the current thread (TFHE-rs keeps it in
    /// a thread-local), restoring the previous one afterwards.
    pub(crate) fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        tfhe::with_server_key_as_context(self.key.clone(), f)
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The TFHE-rs configuration: the default parameter set, with list compression (the index is
/// stored compressed), without the dedicated random-generation key (unused here).
pub(crate) fn config() -> Config {
    ConfigBuilder::with_custom_parameters(PARAMS)
        .enable_compression(COMP_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128)
        .use_dedicated_oprf_key(false)
        .build()
}

/// The block parameters: 2-bit message, 2-bit carry, keyswitch then bootstrap, tweaked uniform
/// noise, failure probability 2^-128.
pub(crate) const PARAMS: ClassicPBSParameters = PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;

/// The largest serialised client key read back.
const CLIENT_KEY_LIMIT: u64 = 16 << 20;
/// The largest serialised compressed server key read back.
const SERVER_KEY_LIMIT: u64 = 1 << 30;
