#![no_main]
//! Fuzz target `age_header_stanzas`: the properties are listed on
//! [`qsmm_fuzz::age_header_stanzas`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::age_header_stanzas(data));
