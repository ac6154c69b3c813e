//! MiMC-7 over the Pallas base field: a keyed permutation, a 2-to-1 compression function and a
//! PRF.
//!
//! # The field and the exponent
//!
//! `Fp` is the base field of the Pallas curve,
//! `p = 0x40000000000000000000000000000000224698fc094cf91b992d30ed00000001` (255 bits).
//! A MiMC round raises to a power `e`; `x ↦ x^e` is a permutation of `Fp` exactly when
//! `gcd(e, p − 1) = 1`. Pallas has `3 | p − 1` (`p − 1 = 2^32 · 3 · …`), so the classic `x³` is
//! not a permutation here. We use [`EXPONENT`] `= 7` (`gcd(7, p − 1) = 1`), with inverse
//! [`INVERSE_EXPONENT`] `d = 7⁻¹ mod (p − 1)`, so that `(x^7)^d = x` for every `x`.
//! (`x^5` would also be a permutation — Poseidon over Pasta uses it — at `⌈log_5 p⌉ = 110`
//! rounds of 3 multiplications against 91 rounds of 4 for `x^7`: about the same cost. The
//! exponent 7 is the project's fixed choice and is pinned by the known-answer tests.)
//!
//! # The permutation
//!
//! With key `k`, round constants `c_0 = 0, c_1, …, c_90` ([`round_constants`]) and
//! [`ROUNDS`] `= 91` rounds:
//!
//! ```text
//! x_0     = x
//! x_{i+1} = (x_i + k + c_i)^7          for i = 0, …, 90
//! E_k(x)  = x_91 + k
//! ```
//!
//! Decryption runs the rounds backwards: `x_91 = y − k`, `x_i = x_{i+1}^d − k − c_i`.
//!
//! The number of rounds is `⌈log_7 p⌉ = ⌈254.0 / 2.807⌉ = 91` (`7^90 < p ≤ 7^91`): the algebraic
//! degree `7^r` of `r` rounds must reach the field size to resist interpolation attacks, the rule
//! of the MiMC paper (Albrecht et al., ASIACRYPT 2016) with `log_3` replaced by `log_7`.
//!
//! # Round constants
//!
//! Nothing up our sleeve: `c_0 = 0` and, for `i = 1 … 90`,
//! `c_i = OS2IP_LE(SHAKE256(ROUND_CONSTANT_DOMAIN ‖ LE32(i), 64 bytes)) mod p`
//! ([`ff::FromUniformBytes<64>`]). Reducing 512 uniform bits modulo a 255-bit prime has a
//! statistical distance from uniform below `2^-257`.
//!
//! # Modes
//!
//! - [`compress`]`(l, r) = E_l(r) + r + l` — Miyaguchi–Preneel with the chaining value `l` as key
//!   and the message `r` as plaintext; a 2-to-1 hash for Merkle trees.
//! - [`prf`]`(k, x) = E_k(x) + x` — Davies–Meyer feed-forward of the keyed permutation. A PRP is
//!   already a PRF up to the birthday bound (`2^127` queries here); the feed-forward also makes
//!   the output non-invertible for a holder of the key.
//! - [`fp_from_key`] turns a 32-byte key into a field element with negligible bias.
//!
//! All additions are in `Fp`. The forward direction ([`encrypt`], [`compress`], [`prf`]) runs in
//! constant time (a fixed sequence of field multiplications); [`decrypt`] uses a fixed public
//! exponent and is constant time as well, only slower (≈ 380 multiplications per round).
//!
//! ```
//! use qsmm_shatter::mimc::{self, Fp};
//!
//! let key = Fp::from(7u64);
//! let y = mimc::encrypt(key, Fp::from(42u64));
//! assert_eq!(mimc::decrypt(key, y), Fp::from(42u64));
//! ```

use std::sync::OnceLock;

use ff::{Field, FromUniformBytes};
use shake::{ExtendableOutput, Shake256, Update, XofReader};
use zeroize::Zeroize;

use qsmm_types::{SecretKey, labels};

/// The Pallas base field, in which MiMC-7 computes.
pub use pasta_curves::Fp;

/// Number of rounds: `⌈log_7 p⌉ = 91`.
pub const ROUNDS: usize = 91;

/// The round exponent: `x ↦ x^7` is a permutation of `Fp` because `gcd(7, p − 1) = 1`
/// (whereas `gcd(3, p − 1) = 3`, so `x³` is not).
pub const EXPONENT: u64 = 7;

/// `d = 7⁻¹ mod (p − 1)` as little-endian 64-bit limbs, so that `(x^7)^d = x`.
///
/// `d = 0x2db6db6db6db6db6db6db6db6db6db6dcf56ff8f745b8d5cdb204784b6db6db7`.
pub const INVERSE_EXPONENT: [u64; 4] = [
    0xdb20_4784_b6db_6db7,
    0xcf56_ff8f_745b_8d5c,
    0xdb6d_b6db_6db6_db6d,
    0x2db6_db6d_b6db_6db6,
];

/// The public domain string from which the round constants are derived
/// (`qsmm_types::labels::MIMC_ROUND_CONSTANTS`).
pub const ROUND_CONSTANT_DOMAIN: &str = labels::MIMC_ROUND_CONSTANTS.as_str();

/// The round constants `c_0 = 0, c_1, …, c_90`, derived once and cached.
///
/// `c_i = SHAKE256(ROUND_CONSTANT_DOMAIN ‖ LE32(i), 64 bytes)` read as a little-endian integer
/// and reduced mod `p`, for `i ≥ 1`.
///
/// ```
/// use qsmm_shatter::mimc::{self, Fp};
///
/// let c = mimc::round_constants();
/// assert_eq!(c.len(), mimc::ROUNDS);
/// assert_eq!(c[0], Fp::zero());
/// ```
#[must_use]
pub fn round_constants() -> &'static [Fp; ROUNDS] {
    static CONSTANTS: OnceLock<[Fp; ROUNDS]> = OnceLock::new();
    CONSTANTS.get_or_init(|| {
        let mut constants = [Fp::ZERO; ROUNDS];
        for (i, c) in (0u32..).zip(constants.iter_mut()).skip(1) {
            *c = hash_to_field(&[ROUND_CONSTANT_DOMAIN.as_bytes(), &i.to_le_bytes()]);
        }
        constants
    })
}

/// The keyed MiMC-7 permutation `E_k(x)`: 91 rounds `x ← (x + k + c_i)^7`, then `x + k`.
///
/// Constant time in `key` and `x`.
#[must_use]
pub fn encrypt(key: Fp, x: Fp) -> Fp {
    let mut state = x;
    for c in round_constants() {
        state = pow7(state + key + c);
    }
    state + key
}

/// The inverse of [`encrypt`]: `decrypt(k, encrypt(k, x)) == x` for every `k`, `x`.
///
/// Runs the rounds backwards with the inverse power `x^d`, `d = 7⁻¹ mod (p − 1)`
/// ([`INVERSE_EXPONENT`]).
#[must_use]
pub fn decrypt(key: Fp, y: Fp) -> Fp {
    let mut state = y - key;
    for c in round_constants().iter().rev() {
        state = state.pow(INVERSE_EXPONENT) - key - c;
    }
    state
}

/// Miyaguchi–Preneel 2-to-1 compression: `compress(l, r) = E_l(r) + r + l`.
///
/// `l` (the left input, or chaining value) keys the permutation, `r` is encrypted, and both are
/// added back (field addition) so the result is not invertible.
#[must_use]
pub fn compress(left: Fp, right: Fp) -> Fp {
    encrypt(left, right) + right + left
}

/// The MiMC-7 PRF: `prf(k, x) = E_k(x) + x` (Davies–Meyer feed-forward of the keyed
/// permutation).
///
/// Used by [`placement`](crate::placement) to derive shard positions from a secret key.
#[must_use]
pub fn prf(key: Fp, input: Fp) -> Fp {
    encrypt(key, input) + input
}

/// Maps a 32-byte key to a field element: `SHAKE256(key, 64 bytes)` read as a little-endian
/// integer, reduced mod `p` (bias below `2^-257`).
///
/// No domain string is added: the key handed in must already be a purpose-specific subkey
/// (from [`qsmm_types::derive_subkey`] with its own label), which separates purposes.
///
/// ```
/// use qsmm_shatter::mimc;
/// use qsmm_types::SecretKey;
///
/// let a = mimc::fp_from_key(&SecretKey::from_bytes([1; 32]));
/// let b = mimc::fp_from_key(&SecretKey::from_bytes([2; 32]));
/// assert_ne!(a, b);
/// ```
#[must_use]
pub fn fp_from_key(key: &SecretKey) -> Fp {
    hash_to_field(&[key.as_bytes()])
}

/// Reads 64 uniform bytes (little-endian) as a field element, reduced mod `p`.
#[must_use]
pub fn fp_from_uniform_bytes(bytes: &[u8; 64]) -> Fp {
    Fp::from_uniform_bytes(bytes)
}

/// `SHAKE256(parts[0] ‖ parts[1] ‖ …)`, 64 bytes, reduced into the field.
fn hash_to_field(parts: &[&[u8]]) -> Fp {
    let mut xof = Shake256::default();
    for part in parts {
        xof.update(part);
    }
    let mut wide = [0u8; 64];
    xof.finalize_xof().read(&mut wide);
    let out = Fp::from_uniform_bytes(&wide);
    wide.zeroize();
    out
}

/// `x^7` with four multiplications: `x² , x⁴, x⁶ = x⁴·x², x⁷ = x⁶·x`.
#[inline]
fn pow7(x: Fp) -> Fp {
    let x2 = x.square();
    let x4 = x2.square();
    x4 * x2 * x
}

#[cfg(test)]
mod tests {
    use ff::PrimeField;
    use proptest::prelude::*;

    use super::*;

    /// A field element as big-endian hex (the integer as usually written).
    fn hex_be(x: Fp) -> String {
        let mut repr = x.to_repr();
        repr.reverse();
        hex::encode(repr)
    }

    fn from_hex_be(s: &str) -> Fp {
        let mut bytes: [u8; 32] = hex::decode(s).unwrap().try_into().unwrap();
        bytes.reverse();
        Fp::from_repr(bytes).unwrap()
    }

    /// Little-endian u64 limbs of `p` parsed from `Fp::MODULUS`.
    fn modulus_limbs() -> Vec<u64> {
        let hex = Fp::MODULUS.trim_start_matches("0x");
        let bytes = hex::decode(format!("{hex:0>64}")).unwrap();
        bytes
            .rchunks(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// Little-endian limb arithmetic, enough for the parameter checks.
    #[expect(clippy::cast_possible_truncation, reason = "splitting u128 into limbs")]
    fn mul_small(a: &[u64], m: u64) -> Vec<u64> {
        let mut out = Vec::with_capacity(a.len() + 1);
        let mut carry = 0u128;
        for limb in a {
            let t = u128::from(*limb) * u128::from(m) + carry;
            out.push(t as u64);
            carry = t >> 64;
        }
        out.push(carry as u64);
        out
    }

    #[expect(clippy::cast_possible_truncation, reason = "remainder is below m")]
    fn rem_small(a: &[u64], m: u64) -> u64 {
        a.iter().rev().fold(0u128, |r, limb| {
            ((r << 64) | u128::from(*limb)) % u128::from(m)
        }) as u64
    }

    fn cmp(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
        let len = a.len().max(b.len());
        let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
        (0..len)
            .rev()
            .map(|i| at(a, i).cmp(&at(b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }

    fn sub_one(a: &[u64]) -> Vec<u64> {
        let mut out = a.to_vec();
        for limb in &mut out {
            let (v, borrow) = limb.overflowing_sub(1);
            *limb = v;
            if !borrow {
                break;
            }
        }
        out
    }

    #[test]
    fn modulus_is_pallas_base_field() {
        assert_eq!(
            hex_be(-Fp::ONE),
            "40000000000000000000000000000000224698fc094cf91b992d30ed00000000"
        );
    }

    #[test]
    fn exponent_is_a_permutation_and_three_is_not() {
        let p_minus_1 = sub_one(&modulus_limbs());
        // 7 is prime, so gcd(7, p-1) = 1 iff 7 does not divide p-1.
        assert_ne!(rem_small(&p_minus_1, EXPONENT), 0);
        assert_eq!(rem_small(&p_minus_1, 3), 0, "x^3 would be a permutation");
        // For the record: 5 does not divide p − 1, so x^5 is a permutation too (see module docs).
        assert_ne!(rem_small(&p_minus_1, 5), 0);
    }

    #[test]
    fn round_count_is_ceil_log7_p() {
        let p = modulus_limbs();
        let mut power = vec![1u64];
        for _ in 0..ROUNDS - 1 {
            power = mul_small(&power, EXPONENT);
        }
        assert_eq!(cmp(&power, &p), std::cmp::Ordering::Less, "7^90 < p");
        power = mul_small(&power, EXPONENT);
        assert_ne!(cmp(&power, &p), std::cmp::Ordering::Less, "7^91 >= p");
    }

    #[test]
    fn inverse_exponent_inverts_seven() {
        // 7·d = 1 + m·(p − 1) for some 0 ≤ m < 7.
        let p_minus_1 = sub_one(&modulus_limbs());
        let seven_d_minus_1 = sub_one(&mul_small(&INVERSE_EXPONENT, EXPONENT));
        let m = (0..EXPONENT)
            .find(|m| cmp(&mul_small(&p_minus_1, *m), &seven_d_minus_1).is_eq())
            .expect("7·d ≡ 1 mod p − 1");
        assert!(m < EXPONENT);
        // And d < p − 1.
        assert_eq!(cmp(&INVERSE_EXPONENT, &p_minus_1), std::cmp::Ordering::Less);
    }

    /// Constants regenerated here straight from the domain string, and pinned values that were
    /// cross-checked with an independent computation (Python `hashlib.shake_256` and plain
    /// integers mod p).
    #[test]
    fn round_constants_regenerate() {
        assert_eq!(
            ROUND_CONSTANT_DOMAIN,
            "qsmm/v1/shatter/mimc7-pallas/round-constants"
        );
        let c = round_constants();
        assert_eq!(c[0], Fp::ZERO);
        for (i, ci) in c.iter().enumerate().skip(1) {
            let mut xof = Shake256::default();
            xof.update(ROUND_CONSTANT_DOMAIN.as_bytes());
            xof.update(&u32::try_from(i).unwrap().to_le_bytes());
            let mut wide = [0u8; 64];
            xof.finalize_xof().read(&mut wide);
            assert_eq!(*ci, Fp::from_uniform_bytes(&wide), "c_{i}");
        }
        assert_eq!(
            hex_be(c[1]),
            "2f9617bb37c00ae17cf8d6447dc74df7779ebdb957771b76a25a096977f6aad4"
        );
        assert_eq!(
            hex_be(c[2]),
            "2e30e769d91683f051b76fb1f89ae67feb6c0ca68530c292f2f40eb08f71f390"
        );
        assert_eq!(
            hex_be(c[90]),
            "35eaa031d45cdcee5bf8664e95fccda1578b01e8474f46c4b5dc67323594a52e"
        );
        // Constants are pairwise distinct (no accidental repetition of the derivation).
        for (i, a) in c.iter().enumerate() {
            for b in &c[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    /// Known answers of `encrypt`, `compress` and `prf`, big-endian hex.
    ///
    /// Cross-checked once with an independent implementation: a short Python script using plain
    /// integers mod p, `hashlib.shake_256` for the constants and `pow(x, 7, p)` per round, which
    /// produced the same values (and whose own decrypt, with `pow(7, -1, p - 1)`, inverted them).
    #[test]
    fn known_answers() {
        // (key, x, encrypt, compress, prf)
        let vectors = [
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "0000000000000000000000000000000000000000000000000000000000000000",
                "05704e4019dd0fc4c309be1b022c29418175deb86df217375487457b7b4c82ce",
                "05704e4019dd0fc4c309be1b022c29418175deb86df217375487457b7b4c82ce",
                "05704e4019dd0fc4c309be1b022c29418175deb86df217375487457b7b4c82ce",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000001",
                "0000000000000000000000000000000000000000000000000000000000000002",
                "14070f94db1998d617aacf9831cec63d92ad47c888fb6b89972565a97272cc45",
                "14070f94db1998d617aacf9831cec63d92ad47c888fb6b89972565a97272cc48",
                "14070f94db1998d617aacf9831cec63d92ad47c888fb6b89972565a97272cc47",
            ),
            (
                "40000000000000000000000000000000224698fc094cf91b992d30ed00000000",
                "40000000000000000000000000000000224698fc094cf91b992d30ecffffffff",
                "37b10d62d78cf409eb300e526183422ed9d6e307c6d279873200906440de27d6",
                "37b10d62d78cf409eb300e526183422ed9d6e307c6d279873200906440de27d3",
                "37b10d62d78cf409eb300e526183422ed9d6e307c6d279873200906440de27d4",
            ),
            (
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "000000000000000000000000000000000000000000000000000000000000002a",
                "253731a6860e7917b7638abe2eaf114d2e33f3a25c0cd504ce9af848809f3d17",
                "265a770e0fba4706b886d025b85adf3c2f573909e5b8a2f3cfbe3db00a4b0b30",
                "253731a6860e7917b7638abe2eaf114d2e33f3a25c0cd504ce9af848809f3d41",
            ),
        ];
        for (i, (k, x, e, c, f)) in vectors.into_iter().enumerate() {
            let (k, x) = (from_hex_be(k), from_hex_be(x));
            assert_eq!(hex_be(encrypt(k, x)), e, "encrypt vector {i}");
            assert_eq!(hex_be(compress(k, x)), c, "compress vector {i}");
            assert_eq!(hex_be(prf(k, x)), f, "prf vector {i}");
            assert_eq!(decrypt(k, from_hex_be(e)), x, "decrypt vector {i}");
        }
    }

    /// Cross-checked with Python `hashlib.shake_256(key).digest(64)` reduced mod p.
    #[test]
    fn fp_from_key_known_answers() {
        let zero = fp_from_key(&SecretKey::from_bytes([0; 32]));
        assert_eq!(
            hex_be(zero),
            "1b4423b036ca1c549eb771836f5c926d46f45c8fe7482cea19b4c4f3cd8dfac8"
        );
        let mut counting = [0u8; 32];
        for (b, v) in counting.iter_mut().zip(0u8..) {
            *b = v;
        }
        let counting = fp_from_key(&SecretKey::from_bytes(counting));
        assert_eq!(
            hex_be(counting),
            "0ff5ac47073cc83b0f4da069c12fca8899e343f9e9fdbbfc76e92db49764902a"
        );
    }

    #[test]
    fn decrypt_is_not_encrypt() {
        let (k, x) = (Fp::from(5u64), Fp::from(9u64));
        assert_ne!(decrypt(k, x), encrypt(k, x));
        assert_ne!(encrypt(k, x), encrypt(k + Fp::ONE, x));
    }

    fn any_fp() -> impl Strategy<Value = Fp> {
        any::<[u8; 64]>().prop_map(|b| Fp::from_uniform_bytes(&b))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn decrypt_inverts_encrypt(k in any_fp(), x in any_fp()) {
            prop_assert_eq!(decrypt(k, encrypt(k, x)), x);
            prop_assert_eq!(encrypt(k, decrypt(k, x)), x);
        }

        #[test]
        fn inverse_power_inverts_a_round(x in any_fp()) {
            prop_assert_eq!(pow7(x).pow(INVERSE_EXPONENT), x);
            prop_assert_eq!(pow7(x.pow(INVERSE_EXPONENT)), x);
            prop_assert_eq!(pow7(x), x.pow([EXPONENT]));
        }
    }
}
