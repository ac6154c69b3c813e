//! Keyed shard placement: pinned known answers, distinctness, range and block-count boundaries.

use std::collections::HashSet;

use proptest::prelude::*;
use qsmm_shatter::placement::{MAX_POSITIONS, Placer};
use qsmm_types::{BlockId, Error, SecretKey, Threshold};
use sha3::{Digest, Sha3_256};

fn ids(values: &[u64]) -> Vec<BlockId> {
    values.iter().copied().map(BlockId).collect()
}

/// Known answers. Cross-checked once with an independent implementation: a short Python script
/// (`hmac`/`hashlib` HKDF-SHA256, `hashlib.shake_256`, MiMC-7 with plain integers mod p and
/// Floyd's ordered sampling on a Python list) produced exactly these positions.
#[test]
fn known_answers() {
    let placer = Placer::new(&SecretKey::from_bytes([7; 32]), b"medium serial");
    let slots = placer
        .slots(Threshold::try_new(3, 5).unwrap(), 1000)
        .unwrap();
    assert_eq!(slots.slot(0), ids(&[292, 990, 139, 513, 861]));
    assert_eq!(slots.slot(1), ids(&[26, 609, 306, 422, 710]));
    assert_eq!(
        placer.distinct_positions(10, 1000).unwrap(),
        slots.iter().collect::<Vec<_>>()
    );

    let placer = Placer::new(&SecretKey::from_bytes([0; 32]), b"");
    assert_eq!(placer.distinct_positions(2, 2).unwrap(), ids(&[1, 0]));

    let placer = Placer::new(&SecretKey::from_bytes([9; 32]), b"hw");
    assert_eq!(
        placer.distinct_positions(6, 6).unwrap(),
        ids(&[2, 4, 5, 0, 1, 3])
    );

    // 255 shares, both slots: the first positions and a SHA3-256 of all 510 (u64 LE each).
    let placer = Placer::new(&SecretKey::from_bytes([1; 32]), b"kat");
    let all: Vec<_> = placer
        .slots(Threshold::try_new(200, 255).unwrap(), 100_000)
        .unwrap()
        .iter()
        .collect();
    assert_eq!(all.len(), 510);
    assert_eq!(all[..6], ids(&[69663, 99225, 23332, 13512, 59903, 41576]));
    let mut hash = Sha3_256::new();
    for id in &all {
        hash.update(id.to_le_bytes());
    }
    assert_eq!(
        hex::encode(hash.finalize()),
        "70e36918df8d2187f71a0627912ae6ac1e0d7a705170fe949a24a644e4416d64"
    );
}

#[test]
fn slot_positions_are_the_first_and_second_n() {
    let key = SecretKey::from_bytes([7; 32]);
    let t = Threshold::try_new(3, 5).unwrap();
    let placer = Placer::new(&key, b"medium serial");
    let slots = placer.slots(t, 1000).unwrap();
    let all = placer.distinct_positions(10, 1000).unwrap();
    assert_eq!(slots.slot(0), &all[..5]);
    assert_eq!(slots.slot(1), &all[5..]);
    assert_eq!(slots.position(1, 4), Some(all[9]));
    assert_eq!(slots.position(2, 0), None);
    assert_eq!(slots.position(0, 5), None);
    assert!(slots.slot(2).is_empty());
}

#[test]
fn inputs_change_positions() {
    let t = Threshold::try_new(3, 5).unwrap();
    let base = Placer::new(&SecretKey::from_bytes([7; 32]), b"hw")
        .slots(t, 1 << 40)
        .unwrap();
    let other_key = Placer::new(&SecretKey::from_bytes([8; 32]), b"hw")
        .slots(t, 1 << 40)
        .unwrap();
    let other_hw = Placer::new(&SecretKey::from_bytes([7; 32]), b"hx")
        .slots(t, 1 << 40)
        .unwrap();
    assert_ne!(base, other_key);
    assert_ne!(base, other_hw);
}

#[test]
fn block_count_boundaries() {
    let placer = Placer::new(&SecretKey::from_bytes([3; 32]), b"hw");
    for n in [2usize, 5, 255] {
        let t = Threshold::try_new(2, n).unwrap();
        let two_n = 2 * n as u64;
        // Exactly 2n blocks works and uses every block.
        let all: HashSet<_> = placer.slots(t, two_n).unwrap().iter().collect();
        assert_eq!(all, (0..two_n).map(BlockId).collect());
        for total in [0, 1, two_n - 1] {
            let err = placer.slots(t, total).unwrap_err();
            assert!(
                matches!(err, Error::TooFewBlocks { needed, available } if needed == two_n && available == total),
                "{err:?}"
            );
        }
    }
    assert_eq!(placer.distinct_positions(0, 0).unwrap(), vec![]);
    assert!(matches!(
        placer.distinct_positions(MAX_POSITIONS + 1, u64::MAX),
        Err(Error::InvalidParameter(_))
    ));
    // Huge media are fine (no overflow near u64::MAX).
    let top = placer.distinct_positions(MAX_POSITIONS, u64::MAX).unwrap();
    assert_eq!(top.iter().collect::<HashSet<_>>().len(), MAX_POSITIONS);
}

#[test]
fn invalid_thresholds_are_errors() {
    let placer = Placer::new(&SecretKey::from_bytes([3; 32]), b"hw");
    for (k, n) in [(1, 5), (0, 0), (6, 5), (2, 256)] {
        assert!(matches!(
            placer.slots(Threshold::new(k, n), 10_000),
            Err(Error::InvalidThreshold { .. })
        ));
    }
}

#[test]
fn debug_hides_the_key() {
    let placer = Placer::new(&SecretKey::from_bytes([0xab; 32]), b"hw");
    assert_eq!(format!("{placer:?}"), "Placer(..)");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn distinct_and_in_range(
        key in any::<[u8; 32]>(),
        n in 2usize..=40,
        extra in 0u64..2000,
    ) {
        let t = Threshold::try_new(2, n).unwrap();
        let total = 2 * n as u64 + extra;
        let slots = Placer::new(&SecretKey::from_bytes(key), b"hw").slots(t, total).unwrap();
        let all: Vec<_> = slots.iter().collect();
        prop_assert_eq!(all.len(), 2 * n);
        prop_assert_eq!(all.iter().collect::<HashSet<_>>().len(), 2 * n);
        prop_assert!(all.iter().all(|b| b.0 < total));
        prop_assert_eq!(slots.slot(0).len(), n);
        prop_assert_eq!(slots.slot(1).len(), n);
    }
}
