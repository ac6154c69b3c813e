#![no_main]
//! Fuzz target `wrapped_key`: the properties are listed on [`qsmm_fuzz::wrapped_key`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::wrapped_key(data));
