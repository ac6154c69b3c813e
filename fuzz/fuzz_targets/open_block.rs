#![no_main]
//! Fuzz target `open_block`: the properties are listed on [`qsmm_fuzz::open_block`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::open_block(data));
