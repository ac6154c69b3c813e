//! Volumes through the public API: round trips, byte-granular access, trim, errors, several
//! volumes on one medium, protection of lower volumes, passphrase changes, media checks.
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

#[path = "support/passphrase.rs"]
mod support;

use support::create;

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;

fn memory_medium(blocks: u64) -> (Arc<MemoryDevice>, Medium) {
    let device = Arc::new(MemoryDevice::new(4096, blocks).unwrap());
    qsmm_void::format(&*device).unwrap();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    (device, medium)
}

fn pattern(volume: usize, lba: u64, version: u8) -> Vec<u8> {
    (0..4096u32)
        .map(|i| {
            (i as u8) ^ (volume as u8).wrapping_mul(31) ^ (lba as u8).wrapping_mul(7) ^ version
        })
        .collect()
}

#[test]
fn round_trip_zeros_trim_and_reopen() {
    let (_device, medium) = memory_medium(512);
    let (volume, pass) = create(&medium, "one", 64 * 4096, &[]);
    assert_eq!(volume.logical_size(), 64 * 4096);
    let mut buf = vec![1u8; 8192];
    volume.read(10, &mut buf).unwrap();
    assert!(
        buf.iter().all(|&b| b == 0),
        "unwritten sectors read as zeros"
    );

    let mut two = pattern(0, 5, 1);
    two.extend(pattern(0, 6, 1));
    volume.write(5, &two).unwrap();
    volume.read(5, &mut buf).unwrap();
    assert_eq!(buf, two);
    volume.trim(6, 1).unwrap();
    volume.read(6, &mut buf[..4096]).unwrap();
    assert!(buf[..4096].iter().all(|&b| b == 0));
    volume.close().unwrap();

    let volume = Volume::open(&medium, pass.as_bytes()).unwrap();
    volume.read(5, &mut buf).unwrap();
    assert_eq!(buf[..4096], pattern(0, 5, 1)[..]);
    assert!(buf[4096..].iter().all(|&b| b == 0));
}

#[test]
fn byte_granular_access() {
    let (_device, medium) = memory_medium(512);
    let (volume, _) = create(&medium, "bytes", 16 * 4096, &[]);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
    volume.write_at(4000, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    volume.read_at(4000, &mut back).unwrap();
    assert_eq!(back, data);
    let mut before = [9u8; 4000];
    volume.read_at(0, &mut before).unwrap();
    assert!(before.iter().all(|&b| b == 0));

    volume.trim_at(4001, 8200).unwrap();
    let mut all = vec![0u8; 16 * 4096];
    volume.read_at(0, &mut all).unwrap();
    assert_eq!(all[4000], data[0]);
    assert!(all[4001..4001 + 8200].iter().all(|&b| b == 0));
    assert_eq!(all[4001 + 8200..14_000], data[8201..]);
}

#[test]
fn bad_ranges_and_sizes_are_typed_errors() {
    let (_device, medium) = memory_medium(512);
    let (volume, pass) = create(&medium, "range", 8 * 4096, &[]);
    let mut buf = vec![0u8; 4096];
    assert!(matches!(
        volume.read(8, &mut buf),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        volume.write(7, &[0u8; 8192]),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        volume.read(0, &mut buf[..100]),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        volume.read(u64::MAX, &mut buf),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        volume.write_at(8 * 4096 - 1, b"xy"),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        volume.trim(u64::MAX, 2),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        volume.trim_at(u64::MAX, 2),
        Err(Error::OutOfRange { .. })
    ));
    for size in [0, 4095, 4097, 1 << 40] {
        assert!(matches!(
            Volume::create(&medium, b"size", size, &[]),
            Err(Error::InvalidVolumeSize { .. })
        ));
    }
    assert!(matches!(
        Volume::create(&medium, pass.as_bytes(), 4096, &[]),
        Err(Error::VolumeExists)
    ));
}

#[test]
fn media_that_format_did_not_make_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.img");
    // A fresh sparse file of a valid size.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    assert!(matches!(Medium::open(&path), Err(Error::NotFormatted)));
    // A size that is not a multiple of 4096, and one too small.
    std::fs::write(&path, vec![1u8; 5000]).unwrap();
    assert!(matches!(
        Medium::open(&path),
        Err(Error::InvalidMediumSize { .. })
    ));
    std::fs::write(&path, vec![1u8; 8192]).unwrap();
    assert!(matches!(
        Medium::open(&path),
        Err(Error::InvalidMediumSize { .. })
    ));
    assert!(matches!(
        qsmm_volume::format(&path, 4096, |_, _| {}),
        Err(Error::InvalidMediumSize { .. })
    ));
    assert!(matches!(
        qsmm_volume::format(&path, (1 << 20) + 1, |_, _| {}),
        Err(Error::InvalidMediumSize { .. })
    ));
    assert!(matches!(
        Medium::open(dir.path().join("missing.img")),
        Err(Error::Io(_))
    ));

    let mut calls = 0;
    qsmm_volume::format(&path, 2 << 20, |done, total| {
        calls += 1;
        assert!(done <= total && total == 2 << 20);
    })
    .unwrap();
    assert!(calls >= 2);
    let medium = Medium::open_with_kdf_cost(&path, FAST).unwrap();
    assert!(matches!(Medium::open(&path), Err(Error::Locked)));
    assert!(matches!(
        Volume::open(&medium, b"anything"),
        Err(Error::NoVolume)
    ));
    drop(medium);
    Medium::open_with_kdf_cost(&path, FAST).unwrap();
}

fn volumes_interleaved(count: usize, blocks: u64) {
    let (device, medium) = memory_medium(blocks);
    let mut volumes = Vec::new();
    for i in 0..count {
        volumes.push(create(&medium, &format!("volume {i}"), 32 * 4096, &[]));
    }
    for round in 0..3u8 {
        for lba in 0..32u64 {
            for (i, (v, _)) in volumes.iter().enumerate() {
                if !(lba + u64::from(round)).is_multiple_of(3) {
                    v.write(lba, &pattern(i, lba, round)).unwrap();
                }
            }
        }
        for (v, _) in &volumes {
            v.flush().unwrap();
        }
    }
    let expected = |i: usize, lba: u64| {
        let last = (0..3u8)
            .rev()
            .find(|r| !(lba + u64::from(*r)).is_multiple_of(3))
            .unwrap();
        pattern(i, lba, last)
    };
    let mut buf = vec![0u8; 4096];
    for (i, (v, _)) in volumes.iter().enumerate() {
        for lba in 0..32 {
            v.read(lba, &mut buf).unwrap();
            assert_eq!(buf, expected(i, lba), "volume {i} lba {lba}");
        }
    }
    let mut sets: Vec<Vec<u64>> = volumes.iter().map(|(v, _)| v.physical_blocks()).collect();
    let passes: Vec<String> = volumes.iter().map(|(_, p)| p.clone()).collect();
    for (v, _) in volumes {
        v.close().unwrap();
    }
    // Disjoint block sets.
    let mut all: Vec<u64> = sets.concat();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "volumes share blocks");

    // A fresh medium handle: each passphrase opens exactly its own data; another finds nothing.
    drop(medium);
    let medium = Medium::from_device(device, FAST).unwrap();
    let reopened: Vec<Volume> = passes
        .iter()
        .map(|p| Volume::open(&medium, p.as_bytes()).unwrap())
        .collect();
    for (i, v) in reopened.iter().enumerate() {
        for lba in 0..32 {
            v.read(lba, &mut buf).unwrap();
            assert_eq!(buf, expected(i, lba), "volume {i} lba {lba} after reopen");
        }
        let mut blocks = v.physical_blocks();
        blocks.sort_unstable();
        sets[i].sort_unstable();
        assert!(blocks.iter().all(|b| sets[i].binary_search(b).is_ok()));
    }
    assert!(matches!(
        Volume::open(&medium, b"a third passphrase"),
        Err(Error::NoVolume)
    ));
}

#[test]
fn two_volumes_interleaved() {
    volumes_interleaved(2, 512);
}

#[test]
fn fifteen_volumes_interleaved() {
    volumes_interleaved(15, 4096);
}

#[test]
fn a_higher_volume_opens_and_protects_the_lower_one() {
    let (device, medium) = memory_medium(1024);
    let (low, low_pass) = create(&medium, "decoy", 32 * 4096, &[]);
    for lba in 0..32 {
        low.write(lba, &pattern(1, lba, 0)).unwrap();
    }
    let (high, high_pass) = create(&medium, "hidden", 64 * 4096, &[&low]);
    low.close().unwrap();
    high.close().unwrap();
    drop(medium);

    // Only the higher passphrase is given: its writes still avoid the lower volume.
    let medium = Medium::from_device(device, FAST).unwrap();
    let high = Volume::open(&medium, high_pass.as_bytes()).unwrap();
    for round in 0..4u8 {
        for lba in 0..64 {
            high.write(lba, &pattern(2, lba, round)).unwrap();
        }
        high.flush().unwrap();
    }
    // The lower volume is open already: opening it gives a handle to the same volume.
    let low = Volume::open(&medium, low_pass.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    for lba in 0..32 {
        low.read(lba, &mut buf).unwrap();
        assert_eq!(buf, pattern(1, lba, 0));
    }
    for lba in 0..64 {
        high.read(lba, &mut buf).unwrap();
        assert_eq!(buf, pattern(2, lba, 3));
    }
    let other = Medium::from_device(Arc::new(MemoryDevice::new(4096, 1024).unwrap()), FAST);
    assert!(matches!(other, Err(Error::NotFormatted)));
}

#[test]
fn change_passphrase_keeps_data_and_retires_the_old_one() {
    let (_device, medium) = memory_medium(512);
    let (volume, old) = create(&medium, "old", 16 * 4096, &[]);
    volume.write(3, &pattern(0, 3, 9)).unwrap();
    let before = volume.physical_blocks();
    volume.change_passphrase(b"new passphrase").unwrap();
    let after = volume.physical_blocks();
    assert_ne!(before, after, "the root moved");
    volume.close().unwrap();
    assert!(matches!(
        Volume::open(&medium, old.as_bytes()),
        Err(Error::NoVolume)
    ));
    let volume = Volume::open(&medium, b"new passphrase").unwrap();
    let mut buf = vec![0u8; 4096];
    volume.read(3, &mut buf).unwrap();
    assert_eq!(buf, pattern(0, 3, 9));
}

#[test]
fn the_medium_fills_up_with_a_typed_error_and_still_flushes() {
    let (_device, medium) = memory_medium(256);
    let (volume, pass) = create(&medium, "big", 256 * 4096, &[]);
    let mut written = 0;
    let result = loop {
        match volume.write(written, &pattern(0, written, 0)) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(result, Error::NoSpace), "{result}");
    assert!(written > 220, "{written}");
    // Room was kept for the map: the flush succeeds and everything written survives.
    volume.close().unwrap();
    let volume = Volume::open(&medium, pass.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    for lba in 0..written {
        volume.read(lba, &mut buf).unwrap();
        assert_eq!(buf, pattern(0, lba, 0));
    }
    // Trimming frees blocks once two roots are durable; then writes succeed again.
    let free = medium.free_blocks();
    volume.trim(0, 50).unwrap();
    volume.flush().unwrap();
    volume.flush().unwrap();
    assert!(
        medium.free_blocks() >= free + 50,
        "{free} -> {}",
        medium.free_blocks()
    );
    volume.write(0, &pattern(0, 0, 5)).unwrap();
    volume.read(0, &mut buf).unwrap();
    assert_eq!(buf, pattern(0, 0, 5));
}

#[test]
fn overwriting_more_than_the_free_space_without_a_flush_succeeds() {
    // 256 blocks, a volume of 160 sectors, written and flushed: writing it over without a
    // flush needs 320 blocks unless the blocks it overwrites are freed on the way.
    let (_device, medium) = memory_medium(256);
    let (volume, pass) = create(&medium, "rewrite", 160 * 4096, &[]);
    for lba in 0..160 {
        volume.write(lba, &pattern(1, lba, 0)).unwrap();
    }
    volume.flush().unwrap();
    let created = volume.generation();
    // Every overwrite now keeps the durable old block until two more roots are durable.
    for round in 1..3 {
        for lba in 0..160 {
            volume.write(lba, &pattern(1, lba, round)).unwrap();
        }
    }
    // No explicit flush since: the volume committed roots itself when space ran short.
    assert!(volume.generation() > created, "{}", volume.generation());
    volume.close().unwrap();
    let volume = Volume::open(&medium, pass.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    for lba in 0..160 {
        volume.read(lba, &mut buf).unwrap();
        assert_eq!(buf, pattern(1, lba, 2), "sector {lba}");
    }
}

#[test]
fn volumes_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Volume>();
    check::<Medium>();
}
