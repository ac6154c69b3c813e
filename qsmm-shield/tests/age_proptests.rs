//! age property tests: any plaintext round trips (binary and armored, both recipient types);
//! any corruption of a file gives an error, never a panic, and never different plaintext.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use std::io::Read;
use std::sync::LazyLock;

use proptest::prelude::*;
use qsmm_shield::age::{self, AgeError, Decryptor, Identity};

static IDENTITIES: LazyLock<[Identity; 2]> = LazyLock::new(|| {
    [
        Identity::generate_x25519().unwrap(),
        Identity::generate_hybrid().unwrap(),
    ]
});

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_plaintext_round_trips(
        plaintext in prop::collection::vec(any::<u8>(), 0..140_000),
        hybrid in any::<bool>(),
        armor in any::<bool>(),
    ) {
        let identity = &IDENTITIES[usize::from(hybrid)];
        let file = age::encrypt(&[identity.to_recipient()], &plaintext, armor).unwrap();
        prop_assert_eq!(age::decrypt(&[identity.clone_key()], &file).unwrap(), plaintext);
    }

    #[test]
    fn any_corruption_fails_without_panicking(
        plaintext in prop::collection::vec(any::<u8>(), 0..70_000),
        hybrid in any::<bool>(),
        armor in any::<bool>(),
        position in any::<prop::sample::Index>(),
        flip in 1u8..,
        cut in any::<prop::sample::Index>(),
    ) {
        let identity = &IDENTITIES[usize::from(hybrid)];
        let file = age::encrypt(&[identity.to_recipient()], &plaintext, armor).unwrap();
        let identities = [identity.clone_key()];

        let mut flipped = file.clone();
        flipped[position.index(file.len())] ^= flip;
        match age::decrypt(&identities, &flipped) {
            // Flipping the case of a hex-like armor character or trailing whitespace can be
            // harmless only if the plaintext is unchanged.
            Ok(opened) => prop_assert_eq!(&opened, &plaintext),
            Err(error) => prop_assert!(!matches!(error, AgeError::Io(_) | AgeError::Crypto)),
        }

        // A cut file releases at most a prefix of the plaintext and then fails.
        let short = &file[..cut.index(file.len())];
        let mut released = Vec::new();
        let result = Decryptor::new(&identities, short)
            .and_then(|mut reader| reader.read_to_end(&mut released).map_err(AgeError::from_io));
        prop_assert!(result.is_err());
        prop_assert!(plaintext.starts_with(&released));
    }
}
