//! Dark media end to end: namespaces with mesh roots and data blocks on a 64 MiB image, each key
//! finding only its own data, and the image passing (and, when biased on purpose, failing) the
//! statistical tests of uniform noise.
#![allow(clippy::unwrap_used, reason = "test helpers panic on failure")]

#[path = "../examples/dark_medium/volume.rs"]
mod volume;

use std::collections::BTreeSet;

use qsmm::types::{BlockId, SecretKey};
use qsmm::void::{BlockDevice, FileDevice, MemoryDevice, Namespace, format, format_with_progress};
use qsmm_void::stats::{self, BIT_Z_THRESHOLD, ImageReport};

const HW: &[u8] = b"dark medium test serial";
const BLOCK: usize = 4096;
/// 64 MiB of 4 KiB blocks.
const BLOCKS: u64 = 16_384;

fn contents(name: &str, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("{name} block {i} {}", "data ".repeat(i % 700)).into_bytes())
        .collect()
}

/// The set of blocks that open under the data namespace of `key`.
fn opened_blocks(device: &dyn BlockDevice, key: &SecretKey) -> BTreeSet<BlockId> {
    let namespace = Namespace::new(key.clone_key(), HW).unwrap();
    let mut sealed = vec![0u8; device.block_size()];
    (0..device.block_count())
        .map(BlockId)
        .filter(|&id| {
            device.read_block(id, &mut sealed).unwrap();
            namespace.open_block(&sealed, id).unwrap().is_some()
        })
        .collect()
}

/// Creates one volume per key with every namespace open: all mesh blocks are known before any
/// data is allocated. Returns the data block ids of each volume.
fn create_volumes(
    device: &dyn BlockDevice,
    keys: &[SecretKey],
    contents: &[Vec<Vec<u8>>],
) -> Vec<Vec<BlockId>> {
    let mut in_use = BTreeSet::new();
    for key in keys {
        in_use.extend(volume::mesh_blocks(device, key, HW).unwrap());
    }
    keys.iter()
        .zip(contents)
        .map(|(key, data)| volume::create(device, key, HW, data, &mut in_use).unwrap())
        .collect()
}

#[test]
fn two_namespaces_on_a_64_mib_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dark.img");
    let device = FileDevice::create(&path, BLOCK, BLOCKS).unwrap();
    let mut progress = Vec::new();
    format_with_progress(&device, |done, total| progress.push((done, total))).unwrap();
    assert_eq!(progress.first(), Some(&(0, BLOCKS)));
    assert_eq!(progress.last(), Some(&(BLOCKS, BLOCKS)));

    let keys = [SecretKey::generate(), SecretKey::generate()];
    let stranger = SecretKey::generate();
    let data = [contents("alice", 300), contents("bob", 250)];
    let ids = create_volumes(&device, &keys, &data);
    drop(device);

    // Reopen the file: each key reads back exactly its volume, a third key finds nothing.
    let device = FileDevice::open(&path, BLOCK).unwrap();
    for (key, expected) in keys.iter().zip(&data) {
        assert_eq!(
            volume::open(&device, key, HW).unwrap().as_ref(),
            Some(expected)
        );
    }
    assert_eq!(volume::open(&device, &stranger, HW).unwrap(), None);

    // Block by block: each namespace opens its data blocks plus its one map block, and none of
    // the other's; the stranger opens nothing.
    let opened: Vec<BTreeSet<BlockId>> = keys.iter().map(|k| opened_blocks(&device, k)).collect();
    for (set, own) in opened.iter().zip(&ids) {
        assert_eq!(set.len(), own.len() + 1);
        assert!(own.iter().all(|id| set.contains(id)));
    }
    assert!(opened[0].is_disjoint(&opened[1]));
    assert!(opened_blocks(&device, &stranger).is_empty());

    let image = std::fs::read(&path).unwrap();
    assert_eq!(image.len() as u64, BLOCKS * BLOCK as u64);
    check_statistics(&image);
}

#[test]
fn sixteen_namespaces_on_one_medium() {
    let device = MemoryDevice::new(BLOCK, BLOCKS).unwrap();
    format(&device).unwrap();
    let keys: Vec<SecretKey> = (0..16).map(|_| SecretKey::generate()).collect();
    let data: Vec<Vec<Vec<u8>>> = (0..16).map(|i| contents(&format!("ns{i}"), 40)).collect();
    let ids = create_volumes(&device, &keys, &data);

    let mut all = BTreeSet::new();
    for ((key, expected), own) in keys.iter().zip(&data).zip(&ids) {
        assert_eq!(
            volume::open(&device, key, HW).unwrap().as_ref(),
            Some(expected)
        );
        for id in own {
            assert!(all.insert(*id), "{id} allocated twice");
        }
    }
    assert_eq!(all.len(), 16 * 40);
    assert_eq!(
        volume::open(&device, &SecretKey::generate(), HW).unwrap(),
        None
    );

    let report = ImageReport::new(&device.into_bytes(), BLOCK);
    assert!(report.failures().is_empty(), "{report:?}");
}

/// The documented hazard: a namespace that is not open while another writes can be
/// overwritten. Here the second volume is written without knowing the first on a small medium.
#[test]
fn a_closed_namespace_can_be_overwritten() {
    let device = MemoryDevice::new(BLOCK, 512).unwrap();
    format(&device).unwrap();
    let first = SecretKey::generate();
    let second = SecretKey::generate();
    let data = contents("first", 200);
    volume::create(&device, &first, HW, &data, &mut BTreeSet::new()).unwrap();
    assert_eq!(
        volume::open(&device, &first, HW).unwrap().as_ref(),
        Some(&data)
    );

    // 200 blocks each in 512: about 78 shared blocks expected (a·b/N).
    volume::create(
        &device,
        &second,
        HW,
        &contents("second", 200),
        &mut BTreeSet::new(),
    )
    .unwrap();
    assert_ne!(
        volume::open(&device, &first, HW).ok().flatten().as_ref(),
        Some(&data),
        "the closed volume should have lost blocks"
    );
}

/// Runs the four tests on a dark image, then on copies with one defect each, and checks that
/// each defect is caught by its test.
fn check_statistics(image: &[u8]) {
    let report = ImageReport::new(image, BLOCK);
    assert!(report.failures().is_empty(), "{report:?}");
    assert_eq!(report.run_threshold, 7);

    // One zeroed 512-byte sector.
    let mut biased = image.to_vec();
    biased[1000 * BLOCK + 512..1000 * BLOCK + 1024].fill(0);
    let (run, offset, byte) = stats::longest_run(&biased);
    assert!(run >= 512 && offset <= 1000 * BLOCK + 512 && byte == 0);
    assert!(!ImageReport::new(&biased, BLOCK).failures().is_empty());

    // One block copied over another.
    let mut biased = image.to_vec();
    biased.copy_within(10 * BLOCK..11 * BLOCK, 20 * BLOCK);
    assert_eq!(stats::duplicate_blocks(&biased, BLOCK), Some((10, 20)));

    // One bit position forced to 1 in every block (a fixed header flag, say).
    let mut biased = image.to_vec();
    for block in biased.chunks_exact_mut(BLOCK) {
        block[100] |= 1 << 5;
    }
    let (z, position) = stats::max_bit_bias(&biased, BLOCK);
    assert_eq!(position, 100 * 8 + 5);
    assert!(z > 100.0, "{z} (threshold {BIT_Z_THRESHOLD})");

    // 64 blocks (256 KiB) of plaintext written unsealed.
    let mut biased = image.to_vec();
    for (i, block) in biased[..64 * BLOCK].chunks_exact_mut(BLOCK).enumerate() {
        let text = format!("plaintext block {i}: ").repeat(400);
        block.copy_from_slice(&text.as_bytes()[..BLOCK]);
    }
    let chi = stats::byte_chi_squared(&biased);
    assert!(chi > report.chi_squared_bounds.1, "{chi}");
}
