//! Public parameters and proving keys, built once per circuit (membership: per `(depth,
//! disclosure)`; held block: per depth) and cached.
//!
//! Halo2 with the inner-product argument needs no trusted setup: the parameters of size `2^k`
//! are derived by hashing to the Vesta curve, so every party rebuilds the same ones. Building
//! them and the keys takes about a second at depth 20 (release build); the cache keeps them for
//! the life of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use halo2_proofs::{
    plonk::{ProvingKey, VerifyingKey, keygen_pk, keygen_vk},
    poly::commitment::Params,
};
use pasta_curves::EqAffine;

use crate::circuit::{Disclosure, MAX_DEPTH, MIN_DEPTH, MembershipCircuit, k_for_depth};
use crate::held::{HeldBlockCircuit, k_for_held_block};
use crate::{Error, Result};

/// The parameters and proving key (which holds the verifying key) of one circuit.
#[derive(Debug)]
pub struct Keys {
    params: Arc<Params<EqAffine>>,
    pk: ProvingKey<EqAffine>,
}

impl Keys {
    /// The public parameters (`2^k` generators).
    #[must_use]
    pub fn params(&self) -> &Params<EqAffine> {
        &self.params
    }

    /// The proving key.
    #[must_use]
    pub const fn proving_key(&self) -> &ProvingKey<EqAffine> {
        &self.pk
    }

    /// The verifying key.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey<EqAffine> {
        self.pk.get_vk()
    }
}

/// The keys of the membership circuit of depth `depth` and disclosure `disclosure`, built on
/// first use and cached.
///
/// # Errors
///
/// [`Error::InvalidParameter`] if `depth` is not in `1 ..= 32`; [`Error::Crypto`] if key
/// generation fails (it does not for supported depths).
pub fn keys(depth: u32, disclosure: Disclosure) -> Result<Arc<Keys>> {
    check_depth(depth)?;
    cached(KeyId::Membership(depth, disclosure), |_| {
        let params = params(k_for_depth(depth));
        let circuit = MembershipCircuit::shape(depth, disclosure);
        let vk = keygen_vk(&params, &circuit).map_err(|_| Error::Crypto)?;
        let pk = keygen_pk(&params, vk, &circuit).map_err(|_| Error::Crypto)?;
        Ok(Keys { params, pk })
    })
}

/// The keys of the held-block circuit of depth `depth` (a retrievability challenge's
/// statement, see [`challenge`](crate::challenge)), built on first use and cached.
///
/// # Errors
///
/// [`Error::InvalidParameter`] if `depth` is not in `1 ..= 32`; [`Error::Crypto`] if key
/// generation fails (it does not for supported depths).
pub fn held_block_keys(depth: u32) -> Result<Arc<Keys>> {
    check_depth(depth)?;
    cached(KeyId::HeldBlock(depth), |_| {
        let params = params(k_for_held_block(depth));
        let circuit = HeldBlockCircuit::shape(depth);
        let vk = keygen_vk(&params, &circuit).map_err(|_| Error::Crypto)?;
        let pk = keygen_pk(&params, vk, &circuit).map_err(|_| Error::Crypto)?;
        Ok(Keys { params, pk })
    })
}

fn check_depth(depth: u32) -> Result<()> {
    if (MIN_DEPTH..=MAX_DEPTH).contains(&depth) {
        Ok(())
    } else {
        Err(Error::InvalidParameter("proof depth must be in 1..=32"))
    }
}

/// Which circuit a set of keys belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum KeyId {
    Membership(u32, Disclosure),
    HeldBlock(u32),
}

/// Returns the cached keys of `id`, building them with `build` on first use.
fn cached(id: KeyId, build: impl FnOnce(KeyId) -> Result<Keys>) -> Result<Arc<Keys>> {
    static KEYS: OnceLock<Mutex<HashMap<KeyId, Arc<Keys>>>> = OnceLock::new();
    let mut cache = KEYS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(keys) = cache.get(&id) {
        return Ok(Arc::clone(keys));
    }
    let keys = Arc::new(build(id)?);
    cache.insert(id, Arc::clone(&keys));
    Ok(keys)
}

/// The IPA parameters of size `2^k`, cached.
fn params(k: u32) -> Arc<Params<EqAffine>> {
    static PARAMS: OnceLock<Mutex<HashMap<u32, Arc<Params<EqAffine>>>>> = OnceLock::new();
    let mut cache = PARAMS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(cache.entry(k).or_insert_with(|| Arc::new(Params::new(k))))
}
