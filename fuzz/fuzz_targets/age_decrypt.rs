#![no_main]
//! Fuzz target `age_decrypt`: the properties are listed on [`qsmm_fuzz::age_decrypt`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::age_decrypt(data));
