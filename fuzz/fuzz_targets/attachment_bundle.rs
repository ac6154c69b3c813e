#![no_main]
//! Fuzz target `attachment_bundle`: the properties are listed on [`qsmm_fuzz::attachment_bundle`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::attachment_bundle(data));
