//! The multi-snapshot mode: volumes round-trip over mounts, higher volumes touch the medium only
//! inside slots, every mount rewrites the whole root area, and the two modes do not mix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure"
)]

use std::sync::Arc;

use qsmm_void::{BlockDevice, MemoryDevice};
use qsmm_volume::{Error, KdfCost, Medium, SnapshotMode, Volume};

const KDF: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const MULTI: SnapshotMode = SnapshotMode::Multi;
const BLOCKS: u64 = 1024;
const MIB: u64 = 1 << 20;
/// The root area: blocks 1..=128.
const AREA: core::ops::Range<u64> = 1..129;

fn device() -> Arc<MemoryDevice> {
    let device = Arc::new(MemoryDevice::new(4096, BLOCKS).unwrap());
    qsmm_void::format(&*device).unwrap();
    device
}

fn medium(device: &Arc<MemoryDevice>) -> Medium {
    Medium::from_device(device.clone(), KDF).unwrap()
}

fn sector(tag: u8) -> Vec<u8> {
    vec![tag; 4096]
}

fn read(volume: &Volume, lba: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    volume.read(lba, &mut buf).unwrap();
    buf
}

/// The blocks whose bytes differ between two images.
fn changed(before: &[u8], after: &[u8]) -> Vec<u64> {
    (0u64..)
        .zip(before.chunks_exact(4096).zip(after.chunks_exact(4096)))
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i)
        .collect()
}

/// A decoy and a hidden volume above it, both written and committed, closed lowest first.
fn two_volumes(device: &Arc<MemoryDevice>) {
    let medium = medium(device);
    let decoy = Volume::create_with_mode(&medium, b"decoy", MIB, &[], MULTI).unwrap();
    let hidden = Volume::create_with_mode(&medium, b"hidden", MIB, &[&decoy], MULTI).unwrap();
    for lba in 0..20 {
        decoy.write(lba, &sector(1)).unwrap();
        hidden.write(lba, &sector(2)).unwrap();
    }
    hidden.write_at(20 * 4096 + 5, b"partial").unwrap();
    hidden.flush().unwrap();
    decoy.close().unwrap();
    hidden.close().unwrap();
}

#[test]
fn volumes_round_trip_over_mounts() {
    let device = device();
    two_volumes(&device);
    for mount in 0u8..3 {
        let medium = medium(&device);
        let hidden = Volume::open(&medium, b"hidden").unwrap();
        let decoy = Volume::open(&medium, b"decoy").unwrap();
        assert_eq!(hidden.snapshot_mode(), MULTI);
        assert_eq!(decoy.snapshot_mode(), MULTI);
        for lba in 0..20 {
            let expect = if lba < u64::from(mount) {
                10 + mount - 1
            } else {
                2
            };
            assert_eq!(
                read(&hidden, lba),
                sector(expect),
                "mount {mount} lba {lba}"
            );
            assert_eq!(read(&decoy, lba), sector(1));
        }
        let mut partial = [0u8; 7];
        hidden.read_at(20 * 4096 + 5, &mut partial).unwrap();
        assert_eq!(&partial, b"partial");
        // Rewrite a prefix and trim a sector of each, then the next mount checks.
        for lba in 0..=u64::from(mount) {
            hidden.write(lba, &sector(10 + mount)).unwrap();
        }
        decoy.trim(30, 1).unwrap();
        hidden.flush().unwrap();
        decoy.close().unwrap();
        hidden.close().unwrap();
    }
    let medium = medium(&device);
    assert!(matches!(
        Volume::open(&medium, b"wrong"),
        Err(Error::NoVolume)
    ));
}

#[test]
fn higher_writes_reach_the_medium_only_in_slots() {
    let device = device();
    two_volumes(&device);
    let medium = medium(&device);
    let hidden = Volume::open(&medium, b"hidden").unwrap();
    let decoy = Volume::open(&medium, b"decoy").unwrap();
    let before = device.to_bytes();
    // A write of the higher volume changes nothing on the medium, and reads back.
    hidden.write(40, &sector(7)).unwrap();
    assert_eq!(device.to_bytes(), before);
    assert_eq!(read(&hidden, 40), sector(7));
    // A write of the decoy is one block in place and one slot, which carries the queued block.
    decoy.write(41, &sector(8)).unwrap();
    let after = device.to_bytes();
    let diff = changed(&before, &after);
    assert_eq!(diff.len(), 2, "{diff:?}");
    assert_eq!(read(&hidden, 40), sector(7));
    let counts = medium.slot_counts().unwrap();
    assert_eq!((counts.base, counts.carried, counts.noise), (1, 1, 0));
    // With nothing queued, the slot is noise over a block no open volume holds.
    decoy.write(42, &sector(9)).unwrap();
    let diff = changed(&after, &device.to_bytes());
    assert_eq!(diff.len(), 2, "{diff:?}");
    let held: Vec<u64> = [&decoy, &hidden]
        .iter()
        .flat_map(|v| v.physical_blocks())
        .collect();
    let counts = medium.slot_counts().unwrap();
    assert_eq!((counts.base, counts.carried, counts.noise), (2, 1, 1));
    assert!(diff.iter().all(|b| !AREA.contains(b)));
    assert_eq!(diff.iter().filter(|b| held.contains(b)).count(), 1);
    drop((decoy, hidden));
}

#[test]
fn a_mount_writes_the_same_amount_whatever_is_hidden() {
    // The same decoy workload on a medium with and without a hidden volume that writes.
    let mut totals = Vec::new();
    for hidden_writes in [false, true] {
        let device = device();
        two_volumes(&device);
        let medium = medium(&device);
        let hidden = Volume::open(&medium, b"hidden").unwrap();
        let decoy = Volume::open(&medium, b"decoy").unwrap();
        medium.set_tick_slots(64);
        let before = device.to_bytes();
        for lba in 0..10 {
            decoy.write(lba, &sector(3)).unwrap();
            if hidden_writes {
                hidden.write(lba + 50, &sector(4)).unwrap();
            }
        }
        hidden.flush().unwrap();
        decoy.close().unwrap();
        hidden.close().unwrap();
        let counts = medium.slot_counts().unwrap();
        // Every slot is paired with a decoy write or comes from the tick.
        assert_eq!(counts.carried + counts.noise, counts.base + 64);
        // The hidden volume's writes travel in slots; without them, slots still carry the
        // blocks it moves so that they age like free blocks.
        assert!(!hidden_writes || counts.carried >= 10);
        let diff = changed(&before, &device.to_bytes());
        // The whole root area changed.
        assert!(AREA.clone().all(|b| diff.contains(&b)), "{diff:?}");
        totals.push((counts.base, counts.carried + counts.noise));
        let medium = self::medium(&device);
        let hidden = Volume::open(&medium, b"hidden").unwrap();
        let expect = if hidden_writes { 4 } else { 0 };
        assert_eq!(read(&hidden, 50), sector(expect));
    }
    assert_eq!(totals[0], totals[1]);
}

#[test]
fn no_slot_writes_a_block_twice_in_a_mount() {
    // A tick budget well above a fifth of the free blocks (about 850 here): a mount of the
    // decoy alone must still change one block per slot. Noise blocks given back to the pool
    // during the mount were hit a second time, so the decoy alone changed fewer blocks than
    // with hidden volumes, whose carried blocks are never given back.
    let device = device();
    {
        let medium = medium(&device);
        let decoy = Volume::create_with_mode(&medium, b"decoy", MIB, &[], MULTI).unwrap();
        for lba in 0..20 {
            decoy.write(lba, &sector(1)).unwrap();
        }
        decoy.close().unwrap();
    }
    for _ in 0..3 {
        let medium = medium(&device);
        let decoy = Volume::open(&medium, b"decoy").unwrap();
        medium.set_tick_slots(300);
        let before = device.to_bytes();
        assert_eq!(read(&decoy, 3), sector(1));
        decoy.close().unwrap();
        let counts = medium.slot_counts().unwrap();
        assert_eq!((counts.base, counts.noise), (0, 300));
        let diff = changed(&before, &device.to_bytes());
        let outside = diff.iter().filter(|b| !AREA.contains(b)).count();
        assert_eq!(outside, 300, "{counts:?}");
    }
}

#[test]
fn later_commits_of_a_mount_write_only_the_roots_and_the_whole_area_still_changes() {
    let device = device();
    two_volumes(&device);
    let before = device.to_bytes();
    let medium = medium(&device);
    let hidden = Volume::open(&medium, b"hidden").unwrap();
    let decoy = Volume::open(&medium, b"decoy").unwrap();
    let area = |m: &Medium| m.slot_counts().unwrap().root_area;
    decoy.write(0, &sector(1)).unwrap();
    decoy.flush().unwrap();
    // The first commit of the mount rewrites the whole area: two new roots and noise to the
    // other blocks, then noise over the two old roots.
    assert_eq!(area(&medium), 128);
    for round in 0..5 {
        let at = area(&medium);
        hidden.write(round, &sector(2)).unwrap();
        hidden.flush().unwrap();
        // Later ones: two new roots, noise over the two old ones.
        assert_eq!(area(&medium) - at, 4, "round {round}");
    }
    hidden.close().unwrap();
    decoy.close().unwrap();
    let diff = changed(&before, &device.to_bytes());
    assert!(AREA.clone().all(|b| diff.contains(&b)), "{diff:?}");
    let medium = self::medium(&device);
    let hidden = Volume::open(&medium, b"hidden").unwrap();
    assert_eq!(read(&hidden, 4), sector(2));
}

#[test]
fn only_a_passphrase_tells_the_mode() {
    let device = device();
    two_volumes(&device);
    // The root area holds no structure: every block is distinct noise-like bytes.
    let image = device.to_bytes();
    let area = &image[4096..129 * 4096];
    assert!(area.chunks_exact(4096).all(|b| b.iter().any(|&x| x != 0)));
    let medium = medium(&device);
    assert!(medium.slot_counts().is_none());
    let decoy = Volume::open(&medium, b"decoy").unwrap();
    assert_eq!(decoy.snapshot_mode(), MULTI);
    assert!(medium.slot_counts().is_some());
}

#[test]
fn the_modes_do_not_mix_on_one_medium() {
    let device = device();
    two_volumes(&device);
    let medium = medium(&device);
    let _decoy = Volume::open(&medium, b"decoy").unwrap();
    assert!(matches!(
        Volume::create(&medium, b"single", MIB, &[]),
        Err(Error::InvalidParameter(_))
    ));
    let device = self::device();
    let medium = self::medium(&device);
    let _single = Volume::create(&medium, b"single", MIB, &[]).unwrap();
    assert!(matches!(
        Volume::create_with_mode(&medium, b"multi", MIB, &[], MULTI),
        Err(Error::InvalidParameter(_))
    ));
}

#[test]
fn changing_the_passphrase_moves_the_root() {
    let device = device();
    two_volumes(&device);
    {
        let medium = medium(&device);
        let hidden = Volume::open(&medium, b"hidden").unwrap();
        assert!(matches!(
            hidden.change_passphrase(b"decoy"),
            Err(Error::VolumeExists)
        ));
        hidden.change_passphrase(b"new hidden").unwrap();
        let decoy = Volume::open(&medium, b"decoy").unwrap();
        decoy.close().unwrap();
        hidden.close().unwrap();
    }
    let medium = medium(&device);
    assert!(matches!(
        Volume::open(&medium, b"hidden"),
        Err(Error::NoVolume)
    ));
    let hidden = Volume::open(&medium, b"new hidden").unwrap();
    assert_eq!(read(&hidden, 0), sector(2));
    assert_eq!(
        read(&Volume::open(&medium, b"decoy").unwrap(), 0),
        sector(1)
    );
}

#[test]
fn a_volume_exists_once() {
    let device = device();
    two_volumes(&device);
    let medium = medium(&device);
    let decoy = Volume::open(&medium, b"decoy").unwrap();
    assert!(matches!(
        Volume::create_with_mode(&medium, b"hidden", MIB, &[&decoy], MULTI),
        Err(Error::VolumeExists)
    ));
    assert_eq!(device.block_count(), BLOCKS);
}

/// Write amplification of a stream of whole sectors committed once, counted: each sector and
/// map block is written once in place and once as its slot, plus the root area and the tick.
#[test]
fn streaming_writes_cost_about_two_blocks_per_sector() {
    let device = Arc::new(MemoryDevice::new(4096, 8192).unwrap());
    qsmm_void::format(&*device).unwrap();
    let medium = medium(&device);
    let decoy = Volume::create_with_mode(&medium, b"decoy", 24 * MIB, &[], MULTI).unwrap();
    let before = medium.slot_counts().unwrap();
    let sectors = 4000u64;
    let chunk = vec![5u8; 64 * 4096];
    for lba in (0..sectors).step_by(64) {
        decoy.write(lba, &chunk).unwrap();
    }
    decoy.close().unwrap();
    let after = medium.slot_counts().unwrap();
    let written = after.total() - before.total();
    let amplification = written as f64 / sectors as f64;
    // 4000 sectors and the map (48 leaves, an index block, map blocks written before the
    // commit) in place, as many slots plus the tick, and the root area per commit.
    let base = after.base - before.base;
    assert!((sectors + 49..sectors + 160).contains(&base), "{base}");
    assert_eq!(
        (after.carried + after.noise) - (before.carried + before.noise),
        base + qsmm_volume::DEFAULT_TICK_SLOTS
    );
    assert!(
        amplification > 2.0 && amplification < 2.2,
        "{amplification}"
    );
}

#[test]
fn held_noise_blocks_never_cost_the_decoy_its_space() {
    // A decoy larger than the medium, written until no block is left: the blocks noise slots
    // hold are given back before an allocation fails, so the decoy fills every block but the
    // root area, its map and the commit reserve (865 sectors here; 842 if held blocks were
    // given back only once they outnumber the free ones).
    let device = device();
    let medium = medium(&device);
    let decoy = Volume::create_with_mode(&medium, b"decoy", 4 * MIB, &[], MULTI).unwrap();
    let mut written = 0u64;
    loop {
        match decoy.write(written, &sector(7)) {
            Ok(()) => written += 1,
            Err(Error::NoSpace) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(written >= 860, "{written}");
    decoy.close().unwrap();
    let decoy = Volume::open(&self::medium(&device), b"decoy").unwrap();
    assert_eq!(read(&decoy, written - 1), sector(7));
}
