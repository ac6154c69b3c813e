//! Root placement: blocks of open volumes where a new root must go are moved elsewhere
//! (copy-on-write), so `create` and `change_passphrase` succeed on a nearly full medium; blocks
//! that cannot move fail clearly and hold nothing.
//!
//! A root takes one of its passphrase's 8 places (root variants), drawn among those that no
//! open volume's root holds: twenty volumes open at once each take the first passphrase tried.
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
    for i in 0..10u8 {
        let pass = format!("new volume {i}");
        let rekey = format!("big, passphrase {i}");
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
    for i in 0..10u8 {
        let v = Volume::open(&medium, format!("new volume {i}").as_bytes()).unwrap();
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

/// Twenty volumes open at once on a 64 MiB medium, then twenty passphrase changes, each on the
/// first passphrase: a root takes another of its passphrase's places where one meets an open
/// volume's root. (With one place per passphrase about four of these forty meet one; with 8
/// places all of a passphrase's meet one with odds below 10⁻⁶ per run. On a 16 MiB medium,
/// whose roots are drawn over 2,048 blocks, those odds are about 5 % per run: twenty roots
/// there cover 8 % of the span.)
#[test]
fn twenty_open_volumes_and_their_passphrase_changes_take_the_first_passphrase() {
    let device = Arc::new(MemoryDevice::new(BLOCK, 4 * BLOCKS).unwrap());
    qsmm_void::format(&*device).unwrap();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let mut volumes = Vec::new();
    for i in 0..20u8 {
        let v = Volume::create(&medium, format!("volume {i}").as_bytes(), 4 * 4096, &[])
            .unwrap_or_else(|e| panic!("create {i}: {e}"));
        v.write(0, &sector(i, 0)).unwrap();
        v.flush().unwrap();
        volumes.push(v);
    }
    for (i, v) in (0u8..).zip(&volumes) {
        v.change_passphrase(format!("changed {i}").as_bytes())
            .unwrap_or_else(|e| panic!("changepwd {i}: {e}"));
    }
    for v in volumes {
        v.close().unwrap();
    }
    drop(medium);
    let medium = Medium::from_device(device, FAST).unwrap();
    for i in 0..20u8 {
        assert!(matches!(
            Volume::open(&medium, format!("volume {i}").as_bytes()),
            Err(Error::NoVolume)
        ));
        let v = Volume::open(&medium, format!("changed {i}").as_bytes()).unwrap();
        assert_filled(&v, i, 1);
    }
}
