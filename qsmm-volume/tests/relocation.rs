//! Root placement: blocks of open volumes where a new root must go are moved elsewhere
//! (copy-on-write), so `create` and `change_passphrase` succeed on a nearly full medium; blocks
//! that cannot move fail clearly and hold nothing.
//!
//! The media here have a fixed salt, so every root lands where the same passphrase put it in
//! the last run: whether a new root meets another open volume's root (the one collision that is
//! left) does not vary from run to run, while the data blocks it meets are random every time.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; sizes are tiny"
)]

use std::sync::Arc;

use qsmm_types::BlockId;
use qsmm_void::{BlockDevice, MemoryDevice};
use qsmm_volume::{Error, KdfCost, Medium, Volume};

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const BLOCK: usize = 4096;
const BLOCKS: u64 = 4096;

/// A formatted medium whose salt (block 0) is fixed.
fn medium_with_fixed_salt() -> (Arc<MemoryDevice>, Medium) {
    let device = Arc::new(MemoryDevice::new(BLOCK, BLOCKS).unwrap());
    qsmm_void::format(&*device).unwrap();
    let block0: Vec<u8> = (0..BLOCK).map(|i| (i * 131 + 7) as u8 | 1).collect();
    device.write_block(BlockId(0), &block0).unwrap();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    (device, medium)
}

fn sector(volume: u8, lba: u64) -> Vec<u8> {
    let mut v = vec![volume; BLOCK];
    v[..8].copy_from_slice(&lba.to_le_bytes());
    v
}

/// Fills `volume` with `sectors` sectors of its pattern and flushes.
fn fill(volume: &Volume, tag: u8, sectors: u64) {
    for lba in 0..sectors {
        volume.write(lba, &sector(tag, lba)).unwrap();
    }
    volume.flush().unwrap();
}

fn assert_filled(volume: &Volume, tag: u8, sectors: u64) {
    let mut buf = vec![0u8; BLOCK];
    for lba in 0..sectors {
        volume.read(lba, &mut buf).unwrap();
        assert_eq!(buf, sector(tag, lba), "volume {tag}, sector {lba}");
    }
}

/// Passphrases of the new volumes, and the big volume's successive passphrases. On this salt
/// none of their roots lands on another's (the variants skipped, such as `new volume 3/0`, do:
/// that collision of root with root is the one placement failure left, and does not vary).
const NEW_VOLUMES: [&str; 10] = [
    "new volume 0/0",
    "new volume 1/0",
    "new volume 2/0",
    "new volume 3/2",
    "new volume 4/0",
    "new volume 5/0",
    "new volume 6/2",
    "new volume 7/1",
    "new volume 8/0",
    "new volume 9/1",
];
const BIG_REKEYS: [&str; 10] = [
    "big, passphrase 0/0",
    "big, passphrase 1/0",
    "big, passphrase 2/0",
    "big, passphrase 3/0",
    "big, passphrase 4/0",
    "big, passphrase 5/2",
    "big, passphrase 6/0",
    "big, passphrase 7/1",
    "big, passphrase 8/2",
    "big, passphrase 9/1",
];

/// Two volumes hold 90 % of the medium; ten new volumes and ten passphrase changes follow,
/// each on the first passphrase tried. With every new root's 8 blocks drawn over a medium
/// 90 % full, nearly every one of them meets data or map blocks that have to move.
#[test]
fn twenty_passphrases_on_a_ninety_percent_full_medium_all_succeed() {
    let (device, medium) = medium_with_fixed_salt();
    let big = Volume::create(&medium, b"big", 3200 * 4096, &[]).unwrap();
    let small = Volume::create(&medium, b"small", 512 * 4096, &[]).unwrap();
    fill(&big, 1, 3130);
    fill(&small, 2, 500);
    let used = BLOCKS - medium.free_blocks();
    assert!(used * 10 >= BLOCKS * 9, "{used} of {BLOCKS} blocks used");

    let mut created = Vec::new();
    let mut big_pass = Vec::new();
    for (i, (pass, rekey)) in (0u8..).zip(NEW_VOLUMES.iter().zip(BIG_REKEYS)) {
        let v = Volume::create(&medium, pass.as_bytes(), 4 * 4096, &[&big]).unwrap();
        v.write(0, &sector(10 + i, 0)).unwrap();
        v.flush().unwrap();
        created.push(v);
        big.change_passphrase(rekey.as_bytes()).unwrap();
        big_pass = rekey.as_bytes().to_vec();
        assert_filled(&big, 1, 3130);
        assert_filled(&small, 2, 500);
    }
    drop(created);
    big.close().unwrap();
    small.close().unwrap();
    drop(medium);

    // Every volume opens under its last passphrase with all its data; old passphrases open
    // nothing.
    let medium = Medium::from_device(device, FAST).unwrap();
    let big = Volume::open(&medium, &big_pass).unwrap();
    assert_filled(&big, 1, 3130);
    assert_filled(&Volume::open(&medium, b"small").unwrap(), 2, 500);
    for (i, pass) in (0u8..).zip(NEW_VOLUMES) {
        let v = Volume::open(&medium, pass.as_bytes()).unwrap();
        assert_filled(&v, 10 + i, 1);
    }
    assert!(matches!(
        Volume::open(&medium, b"big"),
        Err(Error::NoVolume)
    ));
}

/// Blocks of a volume closed while another stays open cannot move: a root that needs them
/// fails with `RootBlocksHeld`, holds no block afterwards, and the closed volume is intact.
#[test]
fn blocks_of_a_volume_closed_meanwhile_are_refused_clearly_and_nothing_leaks() {
    let (device, medium) = medium_with_fixed_salt();
    let keeper = Volume::create(&medium, b"keeper", 16 * 4096, &[]).unwrap();
    let closed = Volume::create(&medium, b"closed", 3700 * 4096, &[]).unwrap();
    fill(&closed, 3, 3700);
    closed.close().unwrap();
    let mut refused = 0;
    for i in 0..4 {
        let free = medium.free_blocks();
        match Volume::create(&medium, format!("refused {i}").as_bytes(), 4096, &[]) {
            Err(Error::RootBlocksHeld) => {
                refused += 1;
                assert_eq!(medium.free_blocks(), free, "a failed create holds no block");
            }
            Ok(v) => v.close().unwrap(),
            Err(e) => panic!("create: {e}"),
        }
    }
    assert!(refused > 0, "the closed volume holds most of the medium");
    keeper.close().unwrap();
    drop(medium);
    let medium = Medium::from_device(device, FAST).unwrap();
    assert_filled(&Volume::open(&medium, b"closed").unwrap(), 3, 3700);
}
