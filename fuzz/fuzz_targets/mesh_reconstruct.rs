#![no_main]
//! Fuzz target `mesh_reconstruct`: the properties are listed on [`qsmm_fuzz::mesh_reconstruct`].

libfuzzer_sys::fuzz_target!(|data: &[u8]| qsmm_fuzz::mesh_reconstruct(data));
