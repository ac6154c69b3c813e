//! Passphrases for new roots in tests.
//!
//! A new root takes one of its passphrase's 8 places (root variants) that no open volume's root
//! holds, moving other blocks of open volumes out of the way, so `create` and
//! `change_passphrase` succeed on the first passphrase while free blocks exist. These helpers
//! keep the tests' shape: they return the passphrase used.
#![allow(dead_code, reason = "each test file uses what it needs")]

use qsmm_volume::{Medium, Volume};

/// Creates a volume of `size` bytes under `passphrase`; returns it and the passphrase.
pub(crate) fn create(
    medium: &Medium,
    passphrase: &str,
    size: u64,
    protect: &[&Volume],
) -> (Volume, String) {
    let v = Volume::create(medium, passphrase.as_bytes(), size, protect)
        .unwrap_or_else(|e| panic!("create {passphrase}: {e}"));
    (v, passphrase.to_owned())
}

/// Changes `volume`'s passphrase to `base+`; returns it.
pub(crate) fn rekey(volume: &Volume, base: &str) -> String {
    let new = format!("{base}+");
    volume
        .change_passphrase(new.as_bytes())
        .unwrap_or_else(|e| panic!("changepwd {new}: {e}"));
    new
}
