//! Keyed placement of shards: distinct block positions from a secret key, by Floyd's sampling
//! with MiMC-7 as the keyed function.
//!
//! # What is computed
//!
//! From a [`SecretKey`] and the medium's public `hw_entropy`, [`Placer`] derives the placement
//! key `K = fp_from_key(derive_subkey(key, hw_entropy, labels::SHATTER_PLACE))` and from it a
//! sequence of `m` **distinct** block positions in `[0, N)` (`N = total_blocks`). The metadata
//! mesh asks for `m = 2n` positions at once ([`Placer::slots`]): slot 0 gets the first `n`,
//! slot 1 the next `n`, so the two slots of the crash-safe update scheme never overlap.
//!
//! # Floyd's ordered sampling
//!
//! Robert Floyd's algorithm (Bentley and Floyd, "A sample of brilliance", CACM 1987), in the
//! variant that yields a uniformly random *ordered* sequence of distinct values:
//!
//! ```text
//! S ← empty sequence
//! for i = 0, 1, …, m − 1:
//!     j ← N − m + i
//!     t ← PRF_K(x_i) mod (j + 1)                   (uniform in [0, j])
//!     if t ∉ S: put t at the front of S
//!     else:     put j just after t in S            (j ∉ S: all of S is below j)
//! ```
//!
//! Each of the `m` iterations does exactly one PRF evaluation, one set lookup, one set insertion
//! and one constant-time splice into a linked list: the work does not depend on whether the
//! candidate `t` collides with an earlier pick. There is no retry loop, so the running time
//! leaks nothing about the positions and is bounded by `m` MiMC evaluations.
//!
//! The result is a uniformly random sequence of `m` distinct positions (every ordered
//! `m`-tuple of distinct values equally likely, given uniform `t`), so slot 0 and slot 1 are
//! exchangeable and each is a uniform `n`-subset of the whole medium.
//!
//! # Inputs and reduction
//!
//! The PRF is [`mimc::prf`] keyed with `K`. The input of iteration `i` is the field element
//! with little-endian limbs `[N, m, i, 0]`, i.e. `x_i = N + 2^64·m + 2^128·i` — an injective
//! encoding, so every placement request and every iteration uses a distinct input.
//!
//! The PRF output is a uniform element of `Fp` (`p ≈ 2^254`); its canonical integer is reduced
//! modulo `j + 1 ≤ 2^64`. The statistical distance of that reduction from uniform is below
//! `(j + 1) / p < 2^64 / 2^254 = 2^-190` per draw.
//!
//! # Stability
//!
//! Positions depend only on `(key, hw_entropy, m, N)` and on the algorithm above, which is
//! pinned by known-answer tests: the same inputs give the same positions on every machine and in
//! every version of this crate. A change would be a new format with a new label.

use std::collections::HashMap;

use ff::{Field, PrimeField};
use zeroize::{Zeroize, ZeroizeOnDrop};

use qsmm_types::{BlockId, Error, MAX_SHARES, Result, SecretKey, Threshold, derive_subkey, labels};

use crate::mimc::{self, Fp};

/// The most positions one placement request may ask for: both slots of a `255`-share mesh.
pub const MAX_POSITIONS: usize = 2 * MAX_SHARES;

/// Number of slots of the crash-safe update scheme: generation `g` lives in slot `g % 2`.
pub const SLOTS: usize = 2;

/// The keyed placement function of one key on one medium.
///
/// Holds the MiMC placement key (its canonical bytes, zeroized on drop). `Debug` prints a
/// placeholder.
///
/// # Examples
///
/// ```
/// use qsmm_shatter::placement::Placer;
/// use qsmm_types::{SecretKey, Threshold};
///
/// let placer = Placer::new(&SecretKey::from_bytes([7; 32]), b"medium serial");
/// let slots = placer.slots(Threshold::try_new(3, 5)?, 1000)?;
/// assert_eq!(slots.slot(0).len(), 5);
/// assert_eq!(slots.slot(1).len(), 5);
/// // Deterministic: the same key finds the same positions again.
/// let again = Placer::new(&SecretKey::from_bytes([7; 32]), b"medium serial");
/// assert_eq!(again.slots(Threshold::try_new(3, 5)?, 1000)?, slots);
/// # Ok::<(), qsmm_shatter::Error>(())
/// ```
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Placer {
    /// Canonical little-endian encoding of the MiMC key `K`.
    key_repr: [u8; 32],
}

impl Placer {
    /// The placer of `key` on the medium identified by `hw_entropy`:
    /// `K = fp_from_key(derive_subkey(key, hw_entropy, labels::SHATTER_PLACE))`.
    #[must_use]
    pub fn new(key: &SecretKey, hw_entropy: impl AsRef<[u8]>) -> Self {
        let subkey = derive_subkey(key, hw_entropy.as_ref(), labels::SHATTER_PLACE);
        Self {
            key_repr: mimc::fp_from_key(&subkey).to_repr(),
        }
    }

    /// `count` distinct positions in `[0, total_blocks)`, in Floyd's order (see the module
    /// docs). `count = 0` gives an empty list.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidParameter`] if `count` exceeds [`MAX_POSITIONS`];
    /// - [`Error::TooFewBlocks`] if `total_blocks < count`.
    pub fn distinct_positions(&self, count: usize, total_blocks: u64) -> Result<Vec<BlockId>> {
        if count > MAX_POSITIONS {
            return Err(Error::InvalidParameter(
                "more placement positions than 2 * 255",
            ));
        }
        // count <= 510, so it fits a u64 on every platform.
        let m = u64::try_from(count).map_err(|_| Error::InvalidParameter("count"))?;
        if total_blocks < m {
            return Err(Error::TooFewBlocks {
                needed: m,
                available: total_blocks,
            });
        }
        let key = self.key();
        floyd_ordered(m, total_blocks, |i| {
            mimc::prf(key, Fp::from_raw([total_blocks, m, i, 0]))
        })
    }

    /// The `2n` positions of a `k`-of-`n` mesh: slot 0 holds the first `n`, slot 1 the next `n`.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidThreshold`] if the threshold is invalid;
    /// - [`Error::TooFewBlocks`] if `total_blocks < 2n`.
    pub fn slots(&self, threshold: Threshold, total_blocks: u64) -> Result<SlotPositions> {
        let n = threshold.validate()?.n();
        let mut first = self.distinct_positions(SLOTS * n, total_blocks)?;
        let second = first.split_off(n);
        Ok(SlotPositions {
            slots: [first, second],
        })
    }

    /// The key as a field element. `key_repr` is always a canonical encoding (it was made by
    /// `to_repr`), so the fallback is never taken.
    fn key(&self) -> Fp {
        Option::from(Fp::from_repr(self.key_repr)).unwrap_or(Fp::ZERO)
    }
}

impl core::fmt::Debug for Placer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Placer(..)")
    }
}

/// The block positions of both slots of a mesh: `n` distinct positions each, no position in
/// both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotPositions {
    slots: [Vec<BlockId>; SLOTS],
}

impl SlotPositions {
    /// The positions of `slot` (0 or 1), indexed by share index; empty for any other slot.
    #[must_use]
    pub fn slot(&self, slot: usize) -> &[BlockId] {
        self.slots.get(slot).map_or(&[], Vec::as_slice)
    }

    /// The position of share `index` in `slot`, if both are in range.
    #[must_use]
    pub fn position(&self, slot: usize, index: usize) -> Option<BlockId> {
        self.slot(slot).get(index).copied()
    }

    /// All `2n` positions, slot 0 first.
    pub fn iter(&self) -> impl Iterator<Item = BlockId> + '_ {
        self.slots.iter().flatten().copied()
    }
}

/// Floyd's ordered sampling of `m` distinct values in `[0, total)`, `m ≤ total`, drawing the
/// `i`-th candidate from `draw(i)`. See the module docs.
fn floyd_ordered(m: u64, total: u64, mut draw: impl FnMut(u64) -> Fp) -> Result<Vec<BlockId>> {
    let capacity = usize::try_from(m).map_err(|_| Error::InvalidParameter("count"))?;
    // A singly linked list in two vectors (value, next) so that both kinds of insertion are
    // O(1), and a map from value to node for the membership test and the splice.
    let mut values: Vec<u64> = Vec::with_capacity(capacity);
    let mut next: Vec<usize> = Vec::with_capacity(capacity);
    let mut node_of: HashMap<u64, usize> = HashMap::with_capacity(capacity);
    let mut head = usize::MAX;

    for i in 0..m {
        // total >= m > i, so j = total - m + i < total and j + 1 <= total never overflows.
        let j = total - m + i;
        let t = reduce(&draw(i), j + 1);
        let found = node_of.get(&t).copied();
        let new_node = values.len();
        let (value, link_from) = match found {
            // Collision: j joins the set, right after t.
            Some(t_node) => (j, Some(t_node)),
            // New value: t goes to the front.
            None => (t, None),
        };
        values.push(value);
        node_of.insert(value, new_node);
        match link_from.and_then(|t_node| next.get_mut(t_node)) {
            Some(t_next) => {
                let after = *t_next;
                *t_next = new_node;
                next.push(after);
            }
            None => {
                next.push(head);
                head = new_node;
            }
        }
    }

    let mut out = Vec::with_capacity(capacity);
    let mut node = head;
    while let Some(value) = values.get(node) {
        out.push(BlockId(*value));
        node = next.get(node).copied().unwrap_or(usize::MAX);
    }
    if out.len() == capacity {
        Ok(out)
    } else {
        // Unreachable: the list holds exactly m nodes.
        Err(Error::InvalidParameter("placement list"))
    }
}

/// The canonical integer of `x` modulo `modulus` (`modulus ≥ 1`).
fn reduce(x: &Fp, modulus: u64) -> u64 {
    let modulus = u128::from(modulus.max(1));
    let repr = x.to_repr();
    let mut rem = 0u128;
    for chunk in repr.rchunks_exact(8) {
        let mut limb = [0u8; 8];
        limb.copy_from_slice(chunk);
        rem = ((rem << 64) | u128::from(u64::from_le_bytes(limb))) % modulus;
    }
    // rem < modulus <= 2^64.
    u64::try_from(rem).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn reduce_matches_small_values() {
        assert_eq!(reduce(&Fp::from(1000u64), 7), 1000 % 7);
        assert_eq!(reduce(&Fp::from(u64::MAX), u64::MAX), 0);
        assert_eq!(reduce(&Fp::from(5u64), 1), 0);
        // -1 = p - 1; p - 1 mod 2^32 = 0 (p = 1 mod 2^32).
        assert_eq!(reduce(&-Fp::ONE, 1 << 32), 0);
        // p - 1 = 0x4000...0000 (see mimc tests): mod 2^64 - 1 computed by hand via limbs.
        let limbs: [u64; 4] = [0x992d_30ed_0000_0000, 0x2246_98fc_094c_f91b, 0, 1 << 62];
        let expect = limbs.iter().rev().fold(0u128, |r, l| {
            ((r << 64) | u128::from(*l)) % u128::from(1_000_003u64)
        });
        assert_eq!(u128::from(reduce(&-Fp::ONE, 1_000_003)), expect);
    }

    #[test]
    fn floyd_takes_every_value_when_m_equals_total() {
        for total in 0..20u64 {
            let out = floyd_ordered(total, total, |i| Fp::from(i * 7919 + 3)).unwrap();
            let set: HashSet<_> = out.iter().map(|b| b.0).collect();
            assert_eq!(set, (0..total).collect::<HashSet<_>>());
        }
    }

    /// With every draw colliding (always 0) the algorithm still makes exactly m picks.
    #[test]
    fn floyd_with_constant_draws() {
        let out = floyd_ordered(5, 100, |_| Fp::ZERO).unwrap();
        // t = 0 first (front), then j = 96, 97, 98, 99 each inserted right after 0.
        assert_eq!(out, [0, 99, 98, 97, 96].map(BlockId));
    }

    /// Floyd's ordered variant is uniform over ordered tuples: for m = 2 of N = 3 with all
    /// draw combinations enumerated, each of the 6 ordered pairs appears exactly once.
    #[test]
    fn floyd_is_exactly_uniform_on_a_small_case() {
        let mut seen = HashSet::new();
        for a in 0..2u64 {
            for b in 0..3u64 {
                let draws = [a, b];
                let out =
                    floyd_ordered(2, 3, |i| Fp::from(draws[usize::try_from(i).unwrap()])).unwrap();
                assert!(seen.insert(out));
            }
        }
        assert_eq!(seen.len(), 6);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn floyd_distinct_and_in_range(m in 0u64..64, extra in 0u64..200, seed in any::<u64>()) {
            let total = m + extra;
            let out = floyd_ordered(m, total, |i| Fp::from(seed.wrapping_mul(i + 1) ^ i)).unwrap();
            prop_assert_eq!(out.len() as u64, m);
            let set: HashSet<_> = out.iter().collect();
            prop_assert_eq!(set.len() as u64, m);
            prop_assert!(out.iter().all(|b| b.0 < total));
        }
    }
}
