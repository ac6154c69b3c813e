//! The passphrase key derivation: Argon2id with a cost the caller chooses.

use argon2::{Algorithm, Argon2, Params, Version};
use qsmm_types::SecretKey;
use zeroize::Zeroize;

use crate::error::{Error, Result};

/// Argon2id costs of the passphrase → mesh-key derivation.
///
/// Nothing on the medium records the cost: a volume created with one cost opens only with the
/// same cost. Use [`KdfCost::DEFAULT`] for real passphrases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfCost {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl KdfCost {
    /// The cost for disk passphrases: Argon2id with 256 MiB of memory, 3 passes, 1 lane (about
    /// half a second on a current server core; RFC 9106's second recommended option uses 64 MiB,
    /// LUKS2 uses up to 1 GiB). An attacker pays the same for every guess.
    pub const DEFAULT: Self = Self {
        memory_kib: 256 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// <div class="warning">Insecure: for tests only.</div>
    ///
    /// Argon2id with 64 KiB and 1 pass, so that test suites can open many volumes quickly. A
    /// passphrase protected with it falls to guessing orders of magnitude faster.
    pub const DANGER_INSECURE_FOR_TESTS: Self = Self {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// A custom cost: memory in KiB, passes, lanes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for costs Argon2 rejects (memory below 8 KiB per lane, no
    /// pass, no lane).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let cost = Self {
            memory_kib,
            iterations,
            parallelism,
        };
        cost.params()?;
        Ok(cost)
    }

    fn params(self) -> Result<Params> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|_| Error::InvalidParameter("Argon2id cost"))
    }

    /// `Argon2id(passphrase, salt)` → 32-byte mesh key.
    pub(crate) fn derive(self, passphrase: &[u8], salt: &[u8]) -> Result<SecretKey> {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params()?);
        let mut out = [0u8; 32];
        let result = argon.hash_password_into(passphrase, salt, &mut out);
        let key = SecretKey::from_bytes(out);
        out.zeroize();
        result.map_err(|_| Error::InvalidParameter("Argon2id input"))?;
        Ok(key)
    }
}

impl Default for KdfCost {
    fn default() -> Self {
        Self::DEFAULT
    }
}
