//! Criterion benchmarks of the qsmm hot paths; each benchmark sits in one group with the raw
//! primitive it wraps, so the overhead reads as a ratio. Run them with `cargo xtask bench`.
#![forbid(unsafe_code)]
