#![no_main]
//! Fuzz target `halo2_proof_decode_verify`: the properties are listed on [`qsmm_fuzz::halo2_proof_decode_verify`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::halo2_proof_decode_verify(data));
