//! Statistical tests of a medium image: does it look like uniform noise? (feature `stats`)
//!
//! Four single-pass tests over the whole image, each with a false-positive rate far below one
//! in a million for a truly uniform image, so a test suite can run them on every build:
//!
//! | test | statistic | fails when | false-positive rate |
//! |---|---|---|---|
//! | byte frequencies | χ² over 256 byte values, 255 degrees of freedom | outside [`chi_squared_bounds`] for `p = 1e-6` per tail (≈ 161.5 ‥ 377.2) | `2·10⁻⁶` |
//! | bit-position bias | for each bit position within a block, `z = (ones − n/2) / √(n/4)` over the `n` blocks | any `|z| ≥ 7` | `P(|Z| ≥ 7) = 2.6·10⁻¹²` per position, `≤ 8.4·10⁻⁸` for the 32768 positions of a 4 KiB block (Bonferroni) |
//! | duplicate blocks | any two blocks with equal bytes | any pair | `≤ C(n,2)·2⁻³²⁷⁶⁸`, zero in practice |
//! | runs of equal bytes | the longest run of one repeated byte value | `≥` [`run_threshold`] (7 bytes for 64 MiB) | `≤ 10⁻⁶` |
//!
//! The run bound: at a given offset, a run of at least `r` equal bytes starts with probability
//! at most `256^-(r-1)`, so over `L` offsets the expected number of such runs, an upper bound of
//! the probability that one exists, is `L·256^-(r-1)`. [`run_threshold`] picks the smallest `r`
//! that makes this at most `10⁻⁶`: for 64 MiB (`L = 2²⁶`), `r = 7` gives `2⁻²² ≈ 2.4·10⁻⁷`.
//!
//! These tests catch formatting and sealing mistakes (unformatted zeros, plaintext, a fixed
//! header bit, a block written twice unchanged); passing them is not a proof of
//! indistinguishability, which rests on the cryptography.
//!
//! # Examples
//!
//! ```
//! use qsmm_void::{BlockDevice, MemoryDevice, format, stats::ImageReport};
//!
//! let device = MemoryDevice::new(4096, 256)?;
//! format(&device)?;
//! let mut image = device.into_bytes();
//! assert!(ImageReport::new(&image, 4096).failures().is_empty());
//!
//! image[100..612].fill(0); // one zeroed sector
//! assert!(!ImageReport::new(&image, 4096).failures().is_empty());
//! # Ok::<(), qsmm_void::Error>(())
//! ```

use std::collections::HashMap;

/// Per-tail false-positive rate of the χ² test and of the run test.
pub const FALSE_POSITIVE_RATE: f64 = 1e-6;

/// `|z|` at or above which one bit position counts as biased.
pub const BIT_Z_THRESHOLD: f64 = 7.0;

/// The outcome of all four tests on one image.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ImageReport {
    /// Byte-frequency χ² statistic (255 degrees of freedom).
    pub chi_squared: f64,
    /// Acceptance interval of `chi_squared`.
    pub chi_squared_bounds: (f64, f64),
    /// Largest `|z|` of any bit position within a block, and that position (bit index within
    /// the block, `8·byte + bit` with bit 0 the least significant).
    pub max_bit_z: (f64, usize),
    /// The first pair of equal blocks found, if any.
    pub duplicate_blocks: Option<(u64, u64)>,
    /// Longest run of one repeated byte value: `(length, offset, byte)`.
    pub longest_run: (usize, usize, u8),
    /// Runs of at least this length fail the test.
    pub run_threshold: usize,
}

impl ImageReport {
    /// Runs every test on `image`, seen as blocks of `block_size` bytes (a trailing partial
    /// block is ignored by the block tests). `block_size` 0 is treated as 1.
    #[must_use]
    pub fn new(image: &[u8], block_size: usize) -> Self {
        Self {
            chi_squared: byte_chi_squared(image),
            chi_squared_bounds: chi_squared_bounds(255.0, FALSE_POSITIVE_RATE),
            max_bit_z: max_bit_bias(image, block_size),
            duplicate_blocks: duplicate_blocks(image, block_size),
            longest_run: longest_run(image),
            run_threshold: run_threshold(image.len() as u64, FALSE_POSITIVE_RATE),
        }
    }

    /// The names of the tests that failed, with their statistic; empty if all passed.
    #[must_use]
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let (low, high) = self.chi_squared_bounds;
        if !(low < self.chi_squared && self.chi_squared < high) {
            failures.push(format!(
                "byte chi-squared {:.1} outside ({low:.1}, {high:.1})",
                self.chi_squared
            ));
        }
        if self.max_bit_z.0 >= BIT_Z_THRESHOLD {
            failures.push(format!(
                "bit position {} biased: |z| = {:.2} >= {BIT_Z_THRESHOLD}",
                self.max_bit_z.1, self.max_bit_z.0
            ));
        }
        if let Some((a, b)) = self.duplicate_blocks {
            failures.push(format!("blocks {a} and {b} are identical"));
        }
        let (length, offset, byte) = self.longest_run;
        if length >= self.run_threshold {
            failures.push(format!(
                "run of {length} bytes {byte:#04x} at offset {offset} (limit {})",
                self.run_threshold
            ));
        }
        failures
    }
}

/// Pearson's χ² statistic of the byte frequencies of `data` against the uniform distribution
/// (255 degrees of freedom). 0 for empty input.
#[must_use]
pub fn byte_chi_squared(data: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    for &byte in data {
        counts[usize::from(byte)] += 1;
    }
    let expected = data.len() as f64 / 256.0;
    if expected == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .map(|&count| {
            let diff = count as f64 - expected;
            diff * diff / expected
        })
        .sum()
}

/// The interval `(low, high)` outside which a χ² statistic with `dof` degrees of freedom has
/// probability at most `p` in each tail, by the Wilson–Hilferty approximation (accurate to well
/// under 1% at 255 degrees of freedom).
#[must_use]
pub fn chi_squared_bounds(dof: f64, p: f64) -> (f64, f64) {
    let z = normal_upper_quantile(p);
    let a = 2.0 / (9.0 * dof);
    let at = |z: f64| dof * (1.0 - a + z * a.sqrt()).powi(3);
    (at(-z), at(z))
}

/// The largest `|z|` over the bit positions within a block of `block_size` bytes, across all
/// whole blocks of `image`, and the bit position where it occurs.
///
/// One pass: a histogram of byte values per byte offset (`256·block_size` counters), from
/// which the count of ones of each bit follows.
#[must_use]
pub fn max_bit_bias(image: &[u8], block_size: usize) -> (f64, usize) {
    let block_size = block_size.max(1);
    let mut histogram = vec![0u32; block_size * 256];
    let mut blocks = 0u64;
    for block in image.chunks_exact(block_size) {
        for (offset, &byte) in block.iter().enumerate() {
            if let Some(count) = histogram.get_mut(offset * 256 + usize::from(byte)) {
                *count += 1;
            }
        }
        blocks += 1;
    }
    if blocks == 0 {
        return (0.0, 0);
    }
    let n = blocks as f64;
    let sd = (n / 4.0).sqrt();
    let mut worst = (0.0, 0);
    for (offset, counts) in histogram.chunks_exact(256).enumerate() {
        let mut ones = [0u64; 8];
        for (value, &count) in counts.iter().enumerate() {
            for (bit, ones) in ones.iter_mut().enumerate() {
                if value >> bit & 1 == 1 {
                    *ones += u64::from(count);
                }
            }
        }
        for (bit, &ones) in ones.iter().enumerate() {
            let z = ((ones as f64 - n / 2.0) / sd).abs();
            if z > worst.0 {
                worst = (z, offset * 8 + bit);
            }
        }
    }
    worst
}

/// The first pair of identical whole blocks of `block_size` bytes in `image` (by index), if
/// any.
#[must_use]
pub fn duplicate_blocks(image: &[u8], block_size: usize) -> Option<(u64, u64)> {
    let block_size = block_size.max(1);
    // Index blocks by their first 16 bytes (all of them for smaller blocks); compare in full
    // only on a match, which uniform blocks practically never produce.
    let mut seen: HashMap<&[u8], Vec<u64>> = HashMap::new();
    for (index, block) in (0u64..).zip(image.chunks_exact(block_size)) {
        let prefix = block.get(..16).unwrap_or(block);
        let candidates = seen.entry(prefix).or_default();
        for &earlier in candidates.iter() {
            let start = usize::try_from(earlier).ok()? * block_size;
            if image.get(start..start + block_size) == Some(block) {
                return Some((earlier, index));
            }
        }
        candidates.push(index);
    }
    None
}

/// The longest run of one repeated byte value in `data`: `(length, offset, byte)`.
#[must_use]
pub fn longest_run(data: &[u8]) -> (usize, usize, u8) {
    let mut best = (0, 0, 0);
    let mut start = 0;
    for (index, window) in data.windows(2).enumerate() {
        if window[0] != window[1] {
            start = index + 1;
        } else if index + 2 - start > best.0 {
            best = (index + 2 - start, start, window[0]);
        }
    }
    if best.0 == 0
        && let Some(&byte) = data.first()
    {
        best = (1, 0, byte);
    }
    best
}

/// The smallest run length `r` such that uniform data of `len` bytes contains a run of `r` equal
/// bytes with probability at most `p` (bound: `len·256^-(r-1) ≤ p`).
#[must_use]
pub fn run_threshold(len: u64, p: f64) -> usize {
    let mut r = 1;
    let mut expected = len as f64;
    while expected > p && r < 64 {
        expected /= 256.0;
        r += 1;
    }
    r
}

/// `z` with `P(Z > z) = p` for a standard normal `Z`, by bisection on `erfc` (0 < p < 0.5).
fn normal_upper_quantile(p: f64) -> f64 {
    let (mut low, mut high) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if 0.5 * erfc(mid / std::f64::consts::SQRT_2) > p {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

/// The complementary error function, by the continued fraction of Numerical Recipes' `erfcc`
/// (relative error below 1.2·10⁻⁷ everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_bounds_match_tables() {
        // P(Z > 4.753) = 1e-6; chi-squared(255) 1e-6 quantiles are about 161.5 and 377.2.
        assert!((normal_upper_quantile(1e-6) - 4.753).abs() < 0.01);
        assert!((normal_upper_quantile(0.025) - 1.960).abs() < 0.01);
        let (low, high) = chi_squared_bounds(255.0, 1e-6);
        assert!((low - 161.5).abs() < 1.0, "{low}");
        assert!((high - 377.2).abs() < 1.0, "{high}");
        // The 95% quantile of chi-squared(255) is 293.25 (standard tables).
        let (_, q95) = chi_squared_bounds(255.0, 0.05);
        assert!((q95 - 293.25).abs() < 0.5, "{q95}");
    }

    #[test]
    fn run_threshold_is_as_documented() {
        assert_eq!(run_threshold(64 << 20, 1e-6), 7);
        assert_eq!(run_threshold(1 << 40, 1e-6), 9);
        assert_eq!(run_threshold(0, 1e-6), 1);
    }

    #[test]
    fn longest_run_finds_runs() {
        assert_eq!(longest_run(&[]), (0, 0, 0));
        assert_eq!(longest_run(&[5]), (1, 0, 5));
        assert_eq!(longest_run(&[1, 2, 2, 2, 3, 3]), (3, 1, 2));
        assert_eq!(longest_run(&[9, 9, 9, 9]), (4, 0, 9));
    }

    #[test]
    fn chi_squared_of_constant_data_is_large() {
        assert!(byte_chi_squared(&[0; 4096]) > 1e5);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(byte_chi_squared(&all), 0.0);
    }

    #[test]
    fn duplicates_and_bias_are_found() {
        let mut image: Vec<u8> = (0..64 * 32)
            .map(|i| u8::try_from(i * 7 % 251).unwrap())
            .collect();
        assert_eq!(duplicate_blocks(&image, 32), None);
        let (first, rest) = image.split_at_mut(32);
        rest[32 * 5..32 * 6].copy_from_slice(first);
        assert_eq!(duplicate_blocks(&image, 32), Some((0, 6)));
        // Bit 3 of byte 1 set in every block of 64: z = sqrt(64) = 8.
        let mut image = vec![0u8; 64 * 4];
        for (i, block) in image.chunks_exact_mut(4).enumerate() {
            block.fill(if i % 2 == 0 { 0xff } else { 0 });
            block[1] |= 1 << 3;
        }
        let (z, position) = max_bit_bias(&image, 4);
        assert_eq!(position, 11);
        assert!((z - 8.0).abs() < 1e-9, "{z}");
    }
}
