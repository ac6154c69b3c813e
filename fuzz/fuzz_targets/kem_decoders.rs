#![no_main]
//! Fuzz target `kem_decoders`: the properties are listed on [`qsmm_fuzz::kem_decoders`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::kem_decoders(data));
