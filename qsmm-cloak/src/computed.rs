//! The shape check for ciphertexts a host computed (answers), which TFHE-rs's own conformance
//! check refuses.
//!
//! TFHE-rs checks that a ciphertext *as freshly encrypted* fits the parameter set: dimensions,
//! moduli, atomic pattern, and the exact degree and noise level of a fresh encryption. A
//! computed ciphertext has the right dimensions but another degree (a comparison's boolean has
//! degree 1, a block known to be zero degree 0) or noise level, so the exact check refuses every
//! honest answer. Here each block must have the parameter set's dimensions, moduli and atomic
//! pattern, a degree no larger than its message and carry space allow, and a noise level no
//! larger than the parameter set's maximum — what decryption needs to run without a panic. The
//! value decrypted from a hostile answer is then garbage at worst, never a crash: answers are
//! not authenticated (see the crate's README).

use tfhe::integer::IntegerCiphertext;
use tfhe::shortint::Ciphertext;
use tfhe::shortint::parameters::CiphertextConformanceParams;
use tfhe::shortint::parameters::MaxNoiseLevel;
use tfhe::{FheBool, FheUint64};

use crate::error::{Error, Result};
use crate::keys::PARAMS;

/// Blocks of a 64-bit integer with 2-bit messages.
const BLOCKS_PER_U64: usize = 32;

/// Refuses a computed 64-bit ciphertext whose shape decryption cannot handle.
pub(crate) fn check_value(what: &'static str, value: &FheUint64) -> Result<()> {
    let (radix, ..) = value.clone().into_raw_parts();
    let blocks = radix.blocks();
    if blocks.len() == BLOCKS_PER_U64 && blocks.iter().all(block_fits) {
        Ok(())
    } else {
        Err(malformed(what))
    }
}

/// Refuses a computed boolean ciphertext whose shape decryption cannot handle.
pub(crate) fn check_flag(what: &'static str, flag: &FheBool) -> Result<()> {
    if block_fits(&flag.clone().into_raw_parts()) {
        Ok(())
    } else {
        Err(malformed(what))
    }
}

/// Whether one block has the parameter set's shape, with any degree and noise level a
/// computation can leave.
fn block_fits(block: &Ciphertext) -> bool {
    let fresh = PARAMS.to_shortint_conformance_param();
    let max_degree = fresh.message_modulus.0 * fresh.carry_modulus.0 - 1;
    let max_noise: MaxNoiseLevel = PARAMS.max_noise_level;
    if block.degree.get() > max_degree || block.noise_level().get() > max_noise.get() {
        return false;
    }
    let computed = CiphertextConformanceParams {
        degree: block.degree,
        noise_level: block.noise_level(),
        ..fresh
    };
    tfhe::conformance::ParameterSetConformant::is_conformant(block, &computed)
}

fn malformed(what: &'static str) -> Error {
    Error::Malformed {
        what,
        reason: "a ciphertext that does not fit the parameter set".into(),
    }
}
