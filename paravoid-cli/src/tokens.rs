//! The claim tokens of the end-to-end API, as the page computes them (`claimTokens` in
//! `note.js`):
//!
//! ```text
//! claim            = HKDF-SHA256(ikm = link keys, info = "paravoid/v1/e2e/claim")
//! passphrase token = HKDF-SHA256(ikm = link keys ‖ Argon2id output, info = "paravoid/v1/e2e/passphrase")
//! ```
//!
//! where the link keys are the raw bytes of the compact form and the HKDF salt is empty. The
//! server keeps their SHA-256 hashes; a reader shows it the tokens to claim the note.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use qsmm_shield::note::{PassphraseParams, RecipientKeys};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{CliError, Result};

/// Length of a token and of its hash.
pub const TOKEN_LEN: usize = 32;

/// Smallest Argon2id memory cost the end-to-end API stores, in KiB (`8 × MAX_P_COST`).
pub const MIN_M_COST_KIB: u32 = 8 * PassphraseParams::MAX_P_COST;

const INFO_CLAIM: &[u8] = b"paravoid/v1/e2e/claim";
const INFO_PASSPHRASE: &[u8] = b"paravoid/v1/e2e/passphrase";

/// The tokens of one note: the claim token and, for a passphrase note, the passphrase token.
pub struct Tokens {
    /// Proves the link keys.
    pub claim: Zeroizing<[u8; TOKEN_LEN]>,
    /// Proves the link keys and the passphrase.
    pub passphrase: Option<Zeroizing<[u8; TOKEN_LEN]>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

impl Tokens {
    /// The tokens of `keys`, with the Argon2id output `pw` of a passphrase note.
    #[must_use]
    pub fn new(keys: &RecipientKeys, pw: Option<&[u8; 32]>) -> Self {
        let raw = raw_keys(keys);
        let claim = hkdf32(&raw, INFO_CLAIM);
        let passphrase = pw.map(|pw| {
            let mut ikm = Zeroizing::new(raw.to_vec());
            ikm.extend_from_slice(pw);
            hkdf32(&ikm, INFO_PASSPHRASE)
        });
        Self { claim, passphrase }
    }

    /// The SHA-256 hash of a token, base64url: what the server stores.
    #[must_use]
    pub fn hash(token: &[u8; TOKEN_LEN]) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(token))
    }

    /// A token, base64url: what a claim sends.
    #[must_use]
    pub fn encode(token: &[u8; TOKEN_LEN]) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(token))
    }
}

/// The raw bytes of the compact keys.
fn raw_keys(keys: &RecipientKeys) -> Zeroizing<Vec<u8>> {
    let compact = keys.to_compact();
    // `to_compact` is canonical base64url, so decoding it cannot fail.
    Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(compact.as_bytes())
            .unwrap_or_default(),
    )
}

fn hkdf32(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; TOKEN_LEN]> {
    let mut out = Zeroizing::new([0u8; TOKEN_LEN]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    let _expanded = Hkdf::<Sha256>::new(None, ikm).expand(info, out.as_mut());
    out
}

/// Argon2id(passphrase, salt) with a note's public parameters, as the note scheme derives it.
/// Refuses costs the end-to-end API would not store, so a server cannot make this process
/// spin or allocate without bound.
///
/// # Errors
///
/// [`CliError::UnexpectedAnswer`] for costs out of bounds.
pub fn derive_passphrase(
    params: &PassphraseParams,
    passphrase: &[u8],
) -> Result<Zeroizing<[u8; 32]>> {
    let bad = CliError::UnexpectedAnswer("the Argon2id costs are out of bounds");
    if params.validate().is_err() || params.m_cost_kib < MIN_M_COST_KIB {
        return Err(bad);
    }
    let costs = argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| bad)?;
    let mut out = Zeroizing::new([0u8; 32]);
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, costs)
        .hash_password_into(passphrase, &params.salt, out.as_mut())
        .map_err(|_| CliError::InvalidArgument("the passphrase is too long".to_owned()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_the_documented_hkdf_values() {
        let keys = RecipientKeys::from_seed([1; 64], [2; 32]);
        let raw = [[1u8; 64].as_slice(), &[2u8; 32]].concat();
        let mut claim = [0u8; 32];
        Hkdf::<Sha256>::new(None, &raw)
            .expand(b"paravoid/v1/e2e/claim", &mut claim)
            .unwrap();
        let pw = [3u8; 32];
        let mut token = [0u8; 32];
        Hkdf::<Sha256>::new(None, &[raw.as_slice(), &pw].concat())
            .expand(b"paravoid/v1/e2e/passphrase", &mut token)
            .unwrap();
        let tokens = Tokens::new(&keys, Some(&pw));
        assert_eq!(*tokens.claim, claim);
        assert_eq!(*tokens.passphrase.unwrap(), token);
        assert!(Tokens::new(&keys, None).passphrase.is_none());
        assert_eq!(
            Tokens::hash(&[0; 32]),
            "Zmh6rfhivXdsj8GLjp-OIAiXFIVu4jOzkCpZHQ1fKSU"
        );
    }

    #[test]
    fn hostile_argon2id_costs_are_refused() {
        let mut params = PassphraseParams::with_costs(MIN_M_COST_KIB, 1, 1).unwrap();
        assert!(derive_passphrase(&params, b"pw").is_ok());
        for (m, t, p) in [
            (64, 1, 1),
            (1 << 20, 1, 1),
            (1024, 0, 1),
            (1024, 17, 1),
            (1024, 1, 17),
        ] {
            params.m_cost_kib = m;
            params.t_cost = t;
            params.p_cost = p;
            assert!(derive_passphrase(&params, b"pw").is_err(), "{m} {t} {p}");
        }
    }
}
