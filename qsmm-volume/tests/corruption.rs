//! Bit flips in every block a volume holds (data, map, mesh shares): each read either returns
//! the right data or fails with `Error::Integrity`; the root falls back to the other slot.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_lossless,
    clippy::cast_sign_loss,
    reason = "tests panic on failure; test patterns truncate on purpose"
)]

use std::sync::Arc;

use qsmm_void::MemoryDevice;
use qsmm_volume::{Error, KdfCost, Medium, Volume};

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const SECTORS: u64 = 12;

fn sector(lba: u64) -> Vec<u8> {
    (0..4096u64).map(|i| (i * 13 + lba * 101) as u8).collect()
}

/// A medium holding one volume whose sectors were written once and flushed (the generation
/// after the first, which starts at a random value); returns the image, the volume's blocks,
/// the blocks of the newest root slot and the first generation.
fn setup() -> (Vec<u8>, Vec<u64>, Vec<u64>, u64) {
    let device = Arc::new(MemoryDevice::new(4096, 512).unwrap());
    qsmm_void::format(&*device).unwrap();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let volume = Volume::create(&medium, b"flip", SECTORS * 4096, &[]).unwrap();
    // Right after create the volume holds only its mesh blocks (both slots).
    let mesh = volume.physical_blocks();
    assert_eq!(mesh.len(), 8);
    let first = volume.generation();
    let before = device.to_bytes();
    for lba in 0..SECTORS {
        volume.write(lba, &sector(lba)).unwrap();
    }
    volume.flush().unwrap();
    assert_eq!(volume.generation(), first + 1);
    let blocks = volume.physical_blocks();
    volume.close().unwrap();
    let after = device.to_bytes();
    let newest: Vec<u64> = mesh
        .into_iter()
        .filter(|&b| before[b as usize * 4096..][..4096] != after[b as usize * 4096..][..4096])
        .collect();
    assert_eq!(newest.len(), 4, "the second generation rewrote one slot");
    (after, blocks, newest, first)
}

/// Opens the image and reads every sector; returns the generation it opened at (relative to
/// the first) and how many sectors failed with `Integrity` (any other outcome fails the test).
fn check(image: Vec<u8>, first: u64) -> (u64, usize) {
    let device = Arc::new(MemoryDevice::from_bytes(4096, image).unwrap());
    let medium = Medium::from_device(device, FAST).unwrap();
    let volume = Volume::open(&medium, b"flip").unwrap();
    let mut errors = 0;
    let mut buf = vec![0u8; 4096];
    for lba in 0..SECTORS {
        match volume.read(lba, &mut buf) {
            Ok(()) if volume.generation() == first => assert_eq!(buf, vec![0u8; 4096]),
            Ok(()) => assert_eq!(buf, sector(lba), "silent garbage at {lba}"),
            Err(Error::Integrity) => errors += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    (volume.generation() - first, errors)
}

#[test]
fn a_flipped_bit_in_any_block_is_detected() {
    let (image, blocks, _, first) = setup();
    // 8 mesh shares (2 slots of 2-of-4), 1 index block, 1 leaf, 12 data blocks.
    assert_eq!(blocks.len(), 8 + 1 + 1 + SECTORS as usize);
    let mut harmless = 0;
    let mut whole_map = 0;
    for (n, &block) in blocks.iter().enumerate() {
        let mut flipped = image.clone();
        let bit = (n * 977) % (4096 * 8);
        flipped[block as usize * 4096 + bit / 8] ^= 1 << (bit % 8);
        let (generation, errors) = check(flipped, first);
        assert_eq!(generation, 1, "one flipped share never loses the root");
        match errors {
            0 => harmless += 1,
            1 => {}
            e if e == SECTORS as usize => whole_map += 1,
            e => panic!("{e} errors from one flipped block"),
        }
    }
    assert_eq!(
        harmless, 8,
        "only a mesh share can absorb a flip (2-of-4 per slot)"
    );
    assert_eq!(
        whole_map, 2,
        "the index block and the leaf cover every sector"
    );
}

#[test]
fn a_destroyed_newest_root_falls_back_to_the_older_slot() {
    let (image, _blocks, newest, first) = setup();
    // Three of the four newest shares destroyed: fewer than k = 2 remain, so the volume opens
    // at generation 0 (which mapped nothing) and reads zeros, never an error or garbage.
    for keep in 0..4 {
        let mut damaged = image.clone();
        for (i, &b) in newest.iter().enumerate() {
            if i != keep {
                damaged[b as usize * 4096 + 1000] ^= 0x10;
            }
        }
        assert_eq!(check(damaged, first), (0, 0));
    }
    // Two destroyed: two remain, the newest generation still opens.
    let mut damaged = image;
    for &b in &newest[..2] {
        damaged[b as usize * 4096 + 1000] ^= 0x10;
    }
    assert_eq!(check(damaged, first), (1, 0));
}

#[test]
fn the_fallback_generation_survives_a_reopen_and_writes() {
    let device = Arc::new(MemoryDevice::new(4096, 256).unwrap());
    qsmm_void::format(&*device).unwrap();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let volume = Volume::create(&medium, b"fallback", 64 * 4096, &[]).unwrap();
    let mesh = volume.physical_blocks();
    for lba in 0..64 {
        volume.write(lba, &sector(lba)).unwrap();
    }
    volume.flush().unwrap();
    let fallback = volume.generation();
    // The next generation rewrites every sector; the previous one is its fallback.
    for lba in 0..64 {
        volume.write(lba, &sector(lba + 1000)).unwrap();
    }
    let before = device.to_bytes();
    volume.flush().unwrap();
    let after = device.to_bytes();
    drop(volume);
    drop(medium);
    let newest: Vec<u64> = mesh
        .into_iter()
        .filter(|&b| before[b as usize * 4096..][..4096] != after[b as usize * 4096..][..4096])
        .collect();
    assert_eq!(newest.len(), 4);

    // Reopened, the volume writes a lot before its next flush: its new blocks must not land
    // on the blocks only the fallback generation references.
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let volume = Volume::open(&medium, b"fallback").unwrap();
    for round in 0..2 {
        for lba in 0..64 {
            volume.write(lba, &sector(lba + 2000 + round)).unwrap();
        }
    }
    drop(volume);
    drop(medium);
    // Power is lost and the newest root is destroyed: the volume opens at its fallback, whole.
    let mut image = device.to_bytes();
    for &b in &newest[..3] {
        image[b as usize * 4096 + 1000] ^= 0x10;
    }
    let device = Arc::new(MemoryDevice::from_bytes(4096, image).unwrap());
    let medium = Medium::from_device(device, FAST).unwrap();
    let volume = Volume::open(&medium, b"fallback").unwrap();
    assert_eq!(volume.generation(), fallback);
    let mut buf = vec![0u8; 4096];
    for lba in 0..64 {
        volume.read(lba, &mut buf).unwrap();
        assert_eq!(buf, sector(lba), "sector {lba} of the fallback generation");
    }
}
