//! Passphrases for new roots in tests.
//!
//! Blocks of open volumes where a new root must go are moved out of the way, so `create` and
//! `change_passphrase` fail on placement only when the new root would land on another open
//! volume's root (`Error::PassphraseCollision`, about 64 · open volumes / blocks; often on the
//! tiny media tests use) or on blocks of a volume closed while others stay open
//! (`Error::RootBlocksHeld`, which cannot be moved). These helpers then try numbered variants
//! of the passphrase, as a user would; any other error fails the test.
#![allow(dead_code, reason = "each test file uses what it needs")]

use qsmm_volume::{Error, Medium, Volume};

/// Variants tried before giving up.
const ATTEMPTS: usize = 40;

/// Creates a volume of `size` bytes under `passphrase#n` for the first `n` that does not land
/// on an open volume's root; returns it and the passphrase used.
pub(crate) fn create(
    medium: &Medium,
    passphrase: &str,
    size: u64,
    protect: &[&Volume],
) -> (Volume, String) {
    for attempt in 0..ATTEMPTS {
        let p = format!("{passphrase}#{attempt}");
        match Volume::create(medium, p.as_bytes(), size, protect) {
            Ok(v) => return (v, p),
            Err(Error::PassphraseCollision | Error::RootBlocksHeld) => {}
            Err(e) => panic!("create {p}: {e}"),
        }
    }
    panic!("{ATTEMPTS} roots in a row on blocks that cannot move");
}

/// Changes `volume`'s passphrase to `base+n` for the first `n` that does not land on another
/// open volume's root; returns the passphrase used.
pub(crate) fn rekey(volume: &Volume, base: &str) -> String {
    for attempt in 0..ATTEMPTS {
        let p = format!("{base}+{attempt}");
        match volume.change_passphrase(p.as_bytes()) {
            Ok(()) => return p,
            Err(Error::PassphraseCollision | Error::RootBlocksHeld) => {}
            Err(e) => panic!("changepwd {p}: {e}"),
        }
    }
    panic!("{ATTEMPTS} roots in a row on blocks that cannot move");
}
