#![no_main]
//! Fuzz target `dsa_decoders_verify`: the properties are listed on [`qsmm_fuzz::dsa_decoders_verify`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::dsa_decoders_verify(data));
