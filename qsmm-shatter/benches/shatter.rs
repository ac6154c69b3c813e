//! Criterion benchmarks of qsmm-shatter beside the raw primitives.

fn main() {}
