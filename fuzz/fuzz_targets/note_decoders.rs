#![no_main]
//! Fuzz target `note_decoders`: the properties are listed on [`qsmm_fuzz::note_decoders`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::note_decoders(data));
