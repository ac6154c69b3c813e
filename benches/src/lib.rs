//! Criterion benchmarks of the qsmm hot paths; each benchmark sits in one group with the raw
//! primitive it wraps, so the overhead reads as a ratio. Run them with `cargo xtask bench`.
//!
//! Every comparing group (`void/seal_4k`, `shield/ml_kem_encaps`, …) holds the function ids
//! `ours` (the qsmm operation) and `raw` (the primitive it wraps, called directly), with the same
//! parameter when the group has one; `cargo xtask bench` reports `raw / ours` per group. Both
//! sides of a group run in the same process, one after the other, so they share the machine's
//! state as closely as criterion allows.
#![forbid(unsafe_code)]

use std::time::Duration;

use criterion::Criterion;

/// Warm-up time of a full (not `--quick`) run; `--warm-up-time` overrides it.
pub const WARM_UP: Duration = Duration::from_secs(1);

/// Measurement time of a full (not `--quick`) run; `--measurement-time` overrides it.
pub const MEASUREMENT: Duration = Duration::from_secs(3);

/// Samples per benchmark in a full (not `--quick`) run; `--sample-size` overrides it.
pub const SAMPLES: usize = 30;

/// The criterion configuration every bench target starts from; command-line options
/// (`--quick` runs of `cargo xtask bench`) override it.
#[must_use]
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sample_size(SAMPLES)
}
