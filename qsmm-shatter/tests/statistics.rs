//! Sealed share blocks look like uniform noise: byte chi-squared and bit-bias tests pass on
//! them and fail on raw field-element encodings, which shows the tests can fail.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "statistics in f64"
)]

use ff::{FromUniformBytes, PrimeField};
use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_shatter::mimc::Fp;
use qsmm_types::{SecretKey, Threshold};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const BLOCK: usize = 4096;
const BLOCKS: usize = 100;

/// Byte chi-squared with 255 degrees of freedom. The bound 420 is the Wilson–Hilferty
/// approximation of the 1 − 10⁻⁹ quantile (z = 6): a uniform source fails with probability
/// below 10⁻⁹.
fn byte_chi_squared(bytes: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let expected = bytes.len() as f64 / 256.0;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}
const CHI_SQUARED_BOUND: f64 = 420.0;

/// Largest |z| of the count of ones at each of the 8 bit positions of a byte. Bound 6.5:
/// two-sided tail 8·10⁻¹¹ per position, below 10⁻⁹ for all eight.
fn max_bit_of_byte_z(bytes: &[u8]) -> f64 {
    let n = bytes.len() as f64;
    (0..8)
        .map(|bit| {
            let ones = bytes.iter().filter(|b| (*b >> bit) & 1 == 1).count() as f64;
            ((ones - n / 2.0) / (n / 4.0).sqrt()).abs()
        })
        .fold(0.0, f64::max)
}
const Z_BOUND: f64 = 6.5;

/// Per-bit-position bias across blocks: Σ z² over all 8·4096 bit positions of a block, each z
/// from the `BLOCKS` samples at that position. Under uniformity ≈ χ²(32768): mean 32768,
/// standard deviation 256; the bound is mean + 8 standard deviations (tail below 10⁻¹⁴).
fn bit_position_chi_squared(blocks: &[Vec<u8>]) -> f64 {
    let samples = blocks.len() as f64;
    (0..BLOCK * 8)
        .map(|bit| {
            let ones = blocks
                .iter()
                .filter(|b| (b[bit / 8] >> (bit % 8)) & 1 == 1)
                .count() as f64;
            (ones - samples / 2.0).powi(2) / (samples / 4.0)
        })
        .sum()
}
const POSITION_BOUND: f64 = 32768.0 + 8.0 * 256.0;

fn passes(blocks: &[Vec<u8>]) -> [bool; 3] {
    let all: Vec<u8> = blocks.concat();
    [
        byte_chi_squared(&all) < CHI_SQUARED_BOUND,
        max_bit_of_byte_z(&all) < Z_BOUND,
        bit_position_chi_squared(blocks) < POSITION_BOUND,
    ]
}

#[test]
fn sealed_shares_pass() {
    let mesh = MetadataMesh::new(MeshConfig::new(Threshold::new(3, 5), 10_000));
    let key = SecretKey::from_bytes([42; 32]);
    // Highly structured metadata (zeros and a counter) of varied lengths.
    let mut blocks = Vec::new();
    for i in 0..BLOCKS / 5 {
        let metadata: Vec<u8> = (0..i * 150)
            .map(|j| {
                if j % 3 == 0 {
                    0
                } else {
                    u8::try_from(j % 7).unwrap()
                }
            })
            .collect();
        for p in mesh
            .for_key(&key, b"hw")
            .and_then(|keyed| keyed.shard_metadata_generation(&metadata, i as u64))
            .unwrap()
        {
            blocks.push(p.share);
        }
    }
    assert_eq!(blocks.len(), BLOCKS);
    assert_eq!(passes(&blocks), [true; 3]);
}

#[test]
fn raw_field_elements_fail() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let blocks: Vec<Vec<u8>> = (0..BLOCKS)
        .map(|_| {
            (0..BLOCK / 32)
                .flat_map(|_| {
                    let mut wide = [0u8; 64];
                    rng.fill_bytes(&mut wide);
                    Fp::from_uniform_bytes(&wide).to_repr()
                })
                .collect()
        })
        .collect();
    // Every element's top two bits are zero (p < 2^254 + 2^126), which all three tests see.
    assert_eq!(passes(&blocks), [false; 3]);
}

#[test]
fn uniform_noise_passes() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let blocks: Vec<Vec<u8>> = (0..BLOCKS)
        .map(|_| {
            let mut b = vec![0u8; BLOCK];
            rng.fill_bytes(&mut b);
            b
        })
        .collect();
    assert_eq!(passes(&blocks), [true; 3]);
}
