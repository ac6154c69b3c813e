//! A dudect-style timing check (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant
//! time?", 2017): each comparison times one operation on two classes of inputs, interleaved in
//! a random order, and applies Welch's t-test to the two timing distributions — on all samples
//! and on the samples below several percentiles of the pooled distribution (cropping removes the
//! long tail that interrupts and other processes add). `|t| > 4.5` is evidence that the two
//! classes take different time; `|t| < 4.5` means no evidence at this sample size, not a proof.
//!
//! Run: `cargo bench -p qsmm-benches --bench timing` (`TIMING_SAMPLES=N` per class to change the
//! sample count). A benchmark, not a test: timings depend on the machine and its load, so
//! nothing here fails a build.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark setup")]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "statistics over nanosecond counts"
)]

use std::hint::black_box;
use std::time::Instant;

use qsmm_shield::kem::{KemKeypair, KemLevel};
use qsmm_shield::wrap::{self, WrappedKey};
use qsmm_types::{BlockId, SecretKey};
use qsmm_void::Namespace;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Distinct inputs per class, cycled through while measuring.
const POOL: usize = 32;

/// Percentiles of the pooled timings at which the samples are cropped (1.0: no cropping).
const CROPS: [f64; 4] = [1.0, 0.99, 0.9, 0.5];

fn main() {
    let samples = std::env::var("TIMING_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000usize);
    println!("dudect-style timing check, Welch's t per crop percentile (|t| > 4.5: leak evidence)");
    println!(
        "{:<48} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "comparison (class A vs class B)", "samples", "t@100%", "t@99%", "t@90%", "t@50%"
    );
    open_block_comparisons(samples);
    unwrap_key_comparisons(samples / 10);
}

/// `Namespace::open_block` (4 KiB): right key vs wrong key, and a change early vs late in the
/// block.
fn open_block_comparisons(samples: usize) {
    let hw = [7u8; 32];
    let ours = Namespace::new(SecretKey::from_bytes([1; 32]), hw).unwrap();
    let theirs = Namespace::new(SecretKey::from_bytes([2; 32]), hw).unwrap();
    let data = vec![0x42u8; 1000];
    let id = BlockId(9);
    let sealed: Vec<Vec<u8>> = (0..POOL)
        .map(|_| ours.seal_block(&data, id).unwrap())
        .collect();
    let foreign: Vec<Vec<u8>> = (0..POOL)
        .map(|_| theirs.seal_block(&data, id).unwrap())
        .collect();
    let flipped = |at: fn(usize) -> usize| -> Vec<Vec<u8>> {
        sealed
            .iter()
            .map(|block| {
                let mut block = block.clone();
                let i = at(block.len());
                block[i] ^= 1;
                block
            })
            .collect()
    };
    let early = flipped(|_| 24); // first ciphertext byte (after the nonce)
    let late = flipped(|len| len - 1); // last tag byte

    let pair = Arena::new(&sealed, &foreign);
    report(
        "open_block: our block vs another key's",
        samples,
        |class, i| {
            black_box(ours.open_block(black_box(pair.get(class, i)), id).unwrap());
        },
    );
    // The control: two classes doing provably the same work (each our own block, sealed apart).
    // Its |t| is what this method reports on this machine for no difference at all; read the
    // rows above against it, crop by crop.
    let control: Vec<Vec<u8>> = (0..POOL)
        .map(|_| ours.seal_block(&data, id).unwrap())
        .collect();
    let pair = Arena::new(&sealed, &control);
    report(
        "open_block control: our block vs our block",
        samples,
        |class, i| {
            black_box(ours.open_block(black_box(pair.get(class, i)), id).unwrap());
        },
    );
    let pair = Arena::new(&early, &late);
    report(
        "open_block: changed early vs changed late",
        samples,
        |class, i| {
            black_box(ours.open_block(black_box(pair.get(class, i)), id).unwrap());
        },
    );
}

/// The inputs of both classes in one allocation, at a stride of whole 4 KiB pages, so that every
/// input has the same alignment. Separate heap allocations differ in alignment, and copying from
/// them costs different amounts: with one `Vec` per input, two classes running the very same
/// code (both failing the tag) showed |t| above 10.
struct Arena {
    bytes: Vec<u8>,
    len: usize,
    stride: usize,
}

impl Arena {
    fn new(a: &[Vec<u8>], b: &[Vec<u8>]) -> Self {
        let len = a[0].len();
        let stride = len.div_ceil(4096) * 4096;
        let mut bytes = vec![0u8; stride * (a.len() + b.len())];
        for (slot, block) in bytes.chunks_mut(stride).zip(a.iter().chain(b)) {
            slot[..len].copy_from_slice(block);
        }
        Self { bytes, len, stride }
    }

    /// Input `i` (cycled) of class A (`false`) or B (`true`).
    fn get(&self, class: bool, i: usize) -> &[u8] {
        let at = (usize::from(class) * POOL + i % POOL) * self.stride;
        &self.bytes[at..at + self.len]
    }
}

/// `unwrap_key` (ML-KEM-768): right key vs wrong key, and a change early (KEM ciphertext, so
/// implicit rejection) vs late (the AEAD tag).
fn unwrap_key_comparisons(samples: usize) {
    let right = KemKeypair::from_seed(KemLevel::Kem768, &[3; 64]);
    let wrong = KemKeypair::from_seed(KemLevel::Kem768, &[4; 64]);
    let key = SecretKey::from_bytes([5; 32]);
    let wrapped: Vec<WrappedKey> = (0..POOL)
        .map(|_| wrap::wrap_key(right.public_key(), &key).unwrap())
        .collect();
    let flipped = |at: fn(usize) -> usize| -> Vec<WrappedKey> {
        wrapped
            .iter()
            .map(|w| {
                let mut bytes = w.to_bytes();
                let i = at(bytes.len());
                bytes[i] ^= 1;
                WrappedKey::from_bytes(&bytes).unwrap()
            })
            .collect()
    };
    let early = flipped(|_| 8); // inside the KEM ciphertext (after the 6-byte header)
    let late = flipped(|len| len - 1); // last tag byte

    report("unwrap_key: right key vs wrong key", samples, |class, i| {
        let secret = if class {
            wrong.secret_key()
        } else {
            right.secret_key()
        };
        black_box(wrap::unwrap_key(secret, black_box(&wrapped[i % POOL])).is_ok());
    });
    report(
        "unwrap_key: changed early vs changed late",
        samples,
        |class, i| {
            let w = if class {
                &late[i % POOL]
            } else {
                &early[i % POOL]
            };
            black_box(wrap::unwrap_key(right.secret_key(), black_box(w)).is_ok());
        },
    );
}

/// Measures `op(class, i)` `samples` times per class in a random interleaving (after a warm-up)
/// and prints Welch's t for each crop.
fn report(name: &str, samples: usize, mut op: impl FnMut(bool, usize)) {
    let mut rng = ChaCha20Rng::seed_from_u64(0x7137);
    for i in 0..samples / 20 {
        op(i % 2 == 1, i);
    }
    let mut times: [Vec<f64>; 2] = [Vec::with_capacity(samples), Vec::with_capacity(samples)];
    let mut i = 0;
    while times[0].len() < samples || times[1].len() < samples {
        let class = rng.next_u32() & 1 == 1;
        let start = Instant::now();
        op(class, i);
        let elapsed = start.elapsed().as_nanos() as f64;
        times[usize::from(class)].push(elapsed);
        i += 1;
    }
    let mut pooled: Vec<f64> = times.iter().flatten().copied().collect();
    pooled.sort_by(f64::total_cmp);
    // Per crop: Welch's t, and the difference of the means (A − B) in nanoseconds, the size of
    // whatever t detects.
    let (ts, diffs): (Vec<String>, Vec<String>) = CROPS
        .iter()
        .map(|&p| {
            let limit = pooled[((pooled.len() - 1) as f64 * p) as usize];
            let [a, b] = times
                .clone()
                .map(|t| t.into_iter().filter(|&x| x <= limit).collect::<Vec<_>>());
            (
                format!("{:>9.2}", welch_t(&a, &b)),
                format!("{:+.1}", mean(&a) - mean(&b)),
            )
        })
        .unzip();
    let medians = times.clone().map(|mut t| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    });
    println!("{name:<48} {samples:>9} {}", ts.join(" "));
    println!(
        "{:<48} median A {:.0} ns, B {:.0} ns; mean A − B by crop {} ns",
        "",
        medians[0],
        medians[1],
        diffs.join(" / ")
    );
}

/// The arithmetic mean (0 for no values).
fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// Welch's t statistic of two samples (0 if either has fewer than two values).
fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let stats = |x: &[f64]| {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (n, mean, var)
    };
    if a.len() < 2 || b.len() < 2 {
        return 0.0;
    }
    let ((na, ma, va), (nb, mb, vb)) = (stats(a), stats(b));
    let se = (va / na + vb / nb).sqrt();
    if se == 0.0 { 0.0 } else { (ma - mb) / se }
}
