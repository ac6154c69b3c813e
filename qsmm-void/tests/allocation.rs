//! Data-block allocation: a keyed, deterministic permutation of the medium that skips reserved
//! blocks, stays in its region, and avoids blocks in use when asked to.
#![allow(clippy::unwrap_used, reason = "test helpers panic on failure")]

use std::collections::BTreeSet;

use qsmm_types::{BlockId, SecretKey};
use qsmm_void::{Error, MemoryDevice, Namespace, format};

fn namespace(byte: u8) -> Namespace {
    Namespace::new(SecretKey::from_bytes([byte; 32]), b"alloc medium").unwrap()
}

#[test]
fn candidates_are_distinct_deterministic_and_skip_reserved() {
    let total = 1000;
    let reserved: BTreeSet<BlockId> = [3, 500, 999, 0, 77].map(BlockId).into();
    let ns = namespace(1);
    let alloc = ns.data_allocator(total, &reserved).unwrap();
    assert_eq!(alloc.capacity(), total - 5);
    let all: Vec<BlockId> = (0..alloc.capacity())
        .map(|i| alloc.candidate(i).unwrap())
        .collect();
    let distinct: BTreeSet<BlockId> = all.iter().copied().collect();
    assert_eq!(distinct.len() as u64, total - 5);
    assert!(distinct.is_disjoint(&reserved));
    assert!(distinct.iter().all(|b| b.get() < total));
    assert!(matches!(
        alloc.candidate(alloc.capacity()),
        Err(Error::BlockOutOfRange { .. })
    ));

    // The same key on the same medium, opened again, gives the same sequence.
    let again = namespace(1);
    let alloc_again = again.data_allocator(total, &reserved).unwrap();
    for i in [0, 1, 500, 994] {
        assert_eq!(
            alloc_again.candidate(i).unwrap(),
            all[usize::try_from(i).unwrap()]
        );
    }
    // Another key gives another sequence.
    let other = namespace(2);
    let other_alloc = other.data_allocator(total, &reserved).unwrap();
    let same = (0..100)
        .filter(|&i| other_alloc.candidate(i).unwrap() == all[usize::try_from(i).unwrap()])
        .count();
    assert!(same < 5, "{same}");
}

#[test]
fn without_reserved_blocks_the_sequence_covers_the_medium() {
    let ns = namespace(3);
    let alloc = ns.data_allocator(5000, &BTreeSet::new()).unwrap();
    assert_eq!(alloc.capacity(), 5000);
    let all: BTreeSet<BlockId> = (0..5000).map(|i| alloc.candidate(i).unwrap()).collect();
    assert_eq!(all, (0..5000).map(BlockId).collect());
    assert!(matches!(
        alloc.candidate(5000),
        Err(Error::BlockOutOfRange { .. })
    ));
    assert!(matches!(
        ns.data_allocator(0, &BTreeSet::new()),
        Err(Error::TooFewBlocks { .. })
    ));
    // Reserved blocks beyond the medium are ignored.
    let alloc = ns
        .data_allocator(10, &[BlockId(10), BlockId(1 << 40)])
        .unwrap();
    assert_eq!(alloc.capacity(), 10);
    // Everything reserved: nothing to hand out.
    let everything: Vec<BlockId> = (0..10).map(BlockId).collect();
    let alloc = ns.data_allocator(10, &everything).unwrap();
    assert_eq!(alloc.capacity(), 0);
    assert!(alloc.candidate(0).is_err());
}

#[test]
fn regions_confine_allocation() {
    let ns = namespace(4);
    let alloc = ns
        .data_allocator_in(100..164, &[BlockId(100), BlockId(5)])
        .unwrap();
    assert_eq!(alloc.capacity(), 63);
    let blocks: BTreeSet<u64> = (0..63).map(|i| alloc.candidate(i).unwrap().get()).collect();
    assert_eq!(blocks, (101..164).collect());
    assert!(matches!(
        ns.data_allocator_in(7..7, &[]),
        Err(Error::TooFewBlocks { .. })
    ));
}

#[test]
fn uncoordinated_namespaces_collide_as_the_birthday_bound_says() {
    // 40 blocks each in 400: expected overlap a*b/N = 4; a total of 0 over 8 key pairs would
    // mean the placements are not independent (probability e^-32).
    let mut overlaps = 0;
    for pair in 0..8u8 {
        let a = namespace(100 + 2 * pair);
        let b = namespace(101 + 2 * pair);
        let (a, b) = (
            a.data_allocator(400, &BTreeSet::new()).unwrap(),
            b.data_allocator(400, &BTreeSet::new()).unwrap(),
        );
        let blocks_a: BTreeSet<BlockId> = (0..40).map(|i| a.candidate(i).unwrap()).collect();
        let blocks_b: BTreeSet<BlockId> = (0..40).map(|i| b.candidate(i).unwrap()).collect();
        overlaps += blocks_a.intersection(&blocks_b).count();
    }
    // Mean 32, standard deviation about 5.5.
    assert!((8..70).contains(&overlaps), "{overlaps}");
}

#[test]
fn write_and_read_data() {
    let device = MemoryDevice::new(4096, 64).unwrap();
    format(&device).unwrap();
    let ns = namespace(7);
    let reserved = [BlockId(1), BlockId(2)];
    let alloc = ns.data_allocator(64, &reserved).unwrap();
    for i in 0..20 {
        let block = alloc
            .write_data(&device, i, format!("block {i}").as_bytes())
            .unwrap();
        assert_eq!(block, alloc.candidate(i).unwrap());
    }
    for i in 0..20 {
        assert_eq!(
            alloc.read_data(&device, i).unwrap(),
            Some(format!("block {i}").into_bytes())
        );
    }
    // Not written yet: noise, so not ours.
    assert_eq!(alloc.read_data(&device, 20).unwrap(), None);
    // Another key sees nothing.
    let stranger = namespace(8);
    for id in 0..64 {
        assert_eq!(stranger.read_block(&device, BlockId(id)).unwrap(), None);
    }
    assert!(format!("{alloc:?}").starts_with("DataAllocator"));
}
