//! Argon2id passphrase parameters of a note.

use qsmm_types::{Error, Result};
use zeroize::Zeroizing;

use super::{PASSPHRASE_KEY_LEN, PASSPHRASE_SALT_LEN};

/// Argon2id parameters and salt of a passphrase-protected note. Public.
///
/// ```
/// use qsmm_shield::note::PassphraseParams;
///
/// let params = PassphraseParams::generate()?;
/// assert_eq!(params.m_cost_kib, PassphraseParams::DEFAULT_M_COST_KIB);
/// assert!(params.validate().is_ok());
/// # Ok::<(), qsmm_shield::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a plain record of public parameters"
)]
pub struct PassphraseParams {
    /// The random 16-byte salt.
    pub salt: [u8; PASSPHRASE_SALT_LEN],
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism.
    pub p_cost: u32,
}

impl PassphraseParams {
    /// Default memory cost: 19 MiB (the OWASP recommendation for Argon2id).
    pub const DEFAULT_M_COST_KIB: u32 = 19_456;
    /// Default number of passes.
    pub const DEFAULT_T_COST: u32 = 2;
    /// Default parallelism.
    pub const DEFAULT_P_COST: u32 = 1;
    /// Largest memory cost accepted: 256 MiB, so a stored note cannot make its opener allocate
    /// without bound.
    pub const MAX_M_COST_KIB: u32 = 262_144;
    /// Largest number of passes accepted.
    pub const MAX_T_COST: u32 = 16;
    /// Largest parallelism accepted.
    pub const MAX_P_COST: u32 = 16;

    /// The default costs with a fresh random salt.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot provide randomness.
    pub fn generate() -> Result<Self> {
        Self::with_costs(
            Self::DEFAULT_M_COST_KIB,
            Self::DEFAULT_T_COST,
            Self::DEFAULT_P_COST,
        )
    }

    /// Chosen costs with a fresh random salt.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if the costs are out of bounds (see
    /// [`PassphraseParams::validate`]); [`Error::Rng`] if the operating system cannot provide
    /// randomness.
    pub fn with_costs(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let mut salt = [0u8; PASSPHRASE_SALT_LEN];
        getrandom::fill(&mut salt).map_err(|_| Error::Rng)?;
        let params = Self {
            salt,
            m_cost_kib,
            t_cost,
            p_cost,
        };
        params.validate()?;
        Ok(params)
    }

    /// Checks the costs: `1 ≤ p ≤ 16`, `1 ≤ t ≤ 16`, `8·p ≤ m ≤ 262144` KiB.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] otherwise.
    pub fn validate(&self) -> Result<()> {
        let p_ok = (1..=Self::MAX_P_COST).contains(&self.p_cost);
        let t_ok = (1..=Self::MAX_T_COST).contains(&self.t_cost);
        let m_ok = self.m_cost_kib <= Self::MAX_M_COST_KIB
            && u64::from(self.m_cost_kib) >= 8 * u64::from(self.p_cost);
        if p_ok && t_ok && m_ok {
            Ok(())
        } else {
            Err(Error::InvalidParameter("Argon2id costs out of bounds"))
        }
    }

    pub(super) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.m_cost_kib.to_le_bytes());
        out.extend_from_slice(&self.t_cost.to_le_bytes());
        out.extend_from_slice(&self.p_cost.to_le_bytes());
    }

    /// Argon2id(passphrase, salt) → 32 bytes.
    pub(super) fn derive(&self, passphrase: &[u8]) -> Result<Zeroizing<[u8; PASSPHRASE_KEY_LEN]>> {
        self.validate()?;
        let params = argon2::Params::new(
            self.m_cost_kib,
            self.t_cost,
            self.p_cost,
            Some(PASSPHRASE_KEY_LEN),
        )
        .map_err(|_| Error::InvalidParameter("Argon2id costs out of bounds"))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; PASSPHRASE_KEY_LEN]);
        argon
            .hash_password_into(passphrase, &self.salt, out.as_mut())
            .map_err(|_| Error::InvalidParameter("passphrase too long"))?;
        Ok(out)
    }
}
