//! Public parameters and proving keys, built once per `(depth, disclosure)` and cached.
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
    if !(MIN_DEPTH..=MAX_DEPTH).contains(&depth) {
        return Err(Error::InvalidParameter("proof depth must be in 1..=32"));
    }
    static KEYS: OnceLock<Mutex<KeyCache>> = OnceLock::new();
    let mut cache = KEYS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(keys) = cache.get(&(depth, disclosure)) {
        return Ok(Arc::clone(keys));
    }
    let params = params(k_for_depth(depth));
    let circuit = MembershipCircuit::shape(depth, disclosure);
    let vk = keygen_vk(&params, &circuit).map_err(|_| Error::Crypto)?;
    let pk = keygen_pk(&params, vk, &circuit).map_err(|_| Error::Crypto)?;
    let keys = Arc::new(Keys { params, pk });
    cache.insert((depth, disclosure), Arc::clone(&keys));
    Ok(keys)
}

/// Keys by `(depth, disclosure)`.
type KeyCache = HashMap<(u32, Disclosure), Arc<Keys>>;

/// The IPA parameters of size `2^k`, cached.
fn params(k: u32) -> Arc<Params<EqAffine>> {
    static PARAMS: OnceLock<Mutex<HashMap<u32, Arc<Params<EqAffine>>>>> = OnceLock::new();
    let mut cache = PARAMS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(cache.entry(k).or_insert_with(|| Arc::new(Params::new(k))))
}
