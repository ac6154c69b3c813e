#![no_main]
//! Fuzz target `xwing_decoders`: the properties are listed on [`qsmm_fuzz::xwing_decoders`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::xwing_decoders(data));
