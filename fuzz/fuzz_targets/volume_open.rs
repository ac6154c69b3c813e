#![no_main]
//! Fuzz target `volume_open`: the properties are listed on [`qsmm_fuzz::volume_open`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::volume_open(data));
