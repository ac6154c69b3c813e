//! Integration tests of the Halo2 backend: the chip against the native MiMC-7, the membership
//! circuit's soundness under `MockProver`, and real proofs.

#![allow(clippy::unwrap_used, reason = "helpers of tests fail loudly")]

mod challenge;
mod chip;
mod proofs;
mod soundness;
