//! Property tests of sealing: round trips for every length and position, and any corruption or
//! move gives `Ok(None)`, never a panic.
#![allow(clippy::unwrap_used, reason = "test helpers panic on failure")]

use proptest::prelude::*;
use qsmm_types::{BlockId, SecretKey};
use qsmm_void::Namespace;

fn namespace() -> Namespace {
    Namespace::new(SecretKey::from_bytes([0x11; 32]), b"proptest medium").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..=4052), id in any::<u64>()) {
        let ns = namespace();
        let sealed = ns.seal_block(&data, BlockId(id)).unwrap();
        prop_assert_eq!(sealed.len(), 4096);
        prop_assert_eq!(ns.open_block(&sealed, BlockId(id)).unwrap(), Some(data));
    }

    #[test]
    fn corruption_is_not_ours(
        len in 0usize..=4052,
        id in any::<u64>(),
        position in 0usize..4096,
        mask in 1u8..=255,
    ) {
        let ns = namespace();
        let mut sealed = ns.seal_block(&vec![0x33; len], BlockId(id)).unwrap();
        sealed[position] ^= mask;
        prop_assert_eq!(ns.open_block(&sealed, BlockId(id)).unwrap(), None);
    }

    #[test]
    fn moved_or_foreign_blocks_are_not_ours(
        key in any::<[u8; 32]>(),
        id in any::<u64>(),
        other in any::<u64>(),
    ) {
        prop_assume!(id != other);
        let ns = namespace();
        let sealed = ns.seal_block(b"payload", BlockId(id)).unwrap();
        prop_assert_eq!(ns.open_block(&sealed, BlockId(other)).unwrap(), None);
        prop_assume!(key != [0x11; 32]);
        let stranger = Namespace::new(SecretKey::from_bytes(key), b"proptest medium").unwrap();
        prop_assert_eq!(stranger.open_block(&sealed, BlockId(id)).unwrap(), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let ns = namespace();
        match ns.open_block(&bytes, BlockId(0)) {
            Ok(opened) => prop_assert!(opened.is_none() && bytes.len() == 4096),
            Err(_) => prop_assert!(bytes.len() != 4096),
        }
    }
}
