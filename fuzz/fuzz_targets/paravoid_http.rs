#![no_main]
//! Fuzz target `paravoid_http`: the properties are listed on [`qsmm_fuzz::paravoid_http`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::paravoid_http(data));
