//! Error paths that keep the promise: the medium's reserve is shared by its volumes, a failed
//! root write keeps the blocks that root may reference, a create that fails holds nothing and
//! harms no volume, and a passphrase change cut at any write or sync leaves a volume that one
//! of the two passphrases opens whole.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; sizes are tiny"
)]

use std::sync::Arc;

use qsmm_types::BlockId;
use qsmm_void::{BlockDevice, MemoryDevice};
use qsmm_volume::{Error, KdfCost, Medium, Volume};

#[path = "support/crash_device.rs"]
mod crash_device;
use crash_device::CrashDevice;

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const BLOCK: usize = 4096;

fn content(tag: u8, lba: u64) -> Vec<u8> {
    let mut v = vec![tag; BLOCK];
    v[..8].copy_from_slice(&lba.to_le_bytes());
    v
}

/// A formatted image of `blocks` blocks with a fixed salt, so that roots land where they did
/// in the last run (whether two roots meet does not vary).
fn fixed_salt_image(blocks: u64) -> MemoryDevice {
    let device = MemoryDevice::new(BLOCK, blocks).unwrap();
    qsmm_void::format(&device).unwrap();
    let block0: Vec<u8> = (0..BLOCK).map(|i| (i * 137 + 11) as u8 | 1).collect();
    device.write_block(BlockId(0), &block0).unwrap();
    device
}

fn assert_sectors(volume: &Volume, tag: u8, sectors: u64, what: &str) {
    let mut buf = vec![0u8; BLOCK];
    for lba in 0..sectors {
        volume.read(lba, &mut buf).unwrap();
        assert_eq!(buf, content(tag, lba), "{what}: sector {lba}");
    }
}

/// Small volumes filling the medium to the last block they may take still leave room for a
/// large volume's flush: the reserve is one for the medium, the sum of every open volume's
/// commits, not each writer's own.
#[test]
fn one_volume_cannot_take_the_room_another_needs_to_flush() {
    let device = Arc::new(MemoryDevice::new(BLOCK, 2048).unwrap());
    qsmm_void::format(&*device).unwrap();
    let medium = Medium::from_device(device, FAST).unwrap();
    // 2000 sectors: 24 leaves and an index block to rewrite at its flush.
    let (large, _) = support::create(&medium, "large", 2000 * 4096, &[]);
    for leaf in 0..24 {
        large.write(leaf * 84, &content(1, leaf * 84)).unwrap();
    }
    let smalls: Vec<Volume> = (0..5)
        .map(|i| support::create(&medium, &format!("small {i}"), 420 * 4096, &[]).0)
        .collect();
    'fill: for small in &smalls {
        for lba in 0..420 {
            match small.write(lba, &content(2, lba)) {
                Ok(()) => {}
                Err(Error::NoSpace) => break 'fill,
                Err(e) => panic!("write: {e}"),
            }
        }
    }
    large.flush().unwrap();
    for small in &smalls {
        small.flush().unwrap();
    }
}

#[path = "support/passphrase.rs"]
mod support;

/// A flush whose root write fails after some of its shares landed: that root may be the one
/// the next open reads, so the blocks it references stay held when released, and no other
/// volume's write takes them before a crash.
#[test]
fn blocks_a_failed_root_write_may_reference_are_not_reused() {
    let mut tried_every_write = false;
    for k in 0..200 {
        let device = Arc::new(CrashDevice::new(fixed_salt_image(512).into_bytes()));
        let medium = Medium::from_device(device.clone(), FAST).unwrap();
        let volume = Volume::create(&medium, b"volume", 24 * 4096, &[]).unwrap();
        let (other, _) = support::create(&medium, "other", 480 * 4096, &[]);
        for lba in 0..24 {
            volume.write(lba, &content(1, lba)).unwrap();
        }
        volume.flush().unwrap();
        volume.write(0, &content(2, 0)).unwrap();
        device.fail_write_once(k);
        let flushed = volume.flush();
        if device.armed() {
            flushed.unwrap();
            tried_every_write = true;
            break;
        }
        assert!(flushed.is_err(), "write {k}: the failure is reported");
        // Sector 0's block of the failed flush is released...
        volume.write(0, &content(3, 0)).unwrap();
        // ... and another volume takes every block it may.
        for lba in 0..480 {
            if other.write(lba, &content(9, lba)).is_err() {
                break;
            }
        }
        // Power cut, every write since the last sync kept: the root of the failed flush may
        // be the newest that reconstructs.
        let image = device.crash_image(&[1; 4096]);
        drop((volume, other, medium));
        let medium = Medium::from_device(Arc::new(CrashDevice::new(image)), FAST).unwrap();
        let volume = Volume::open(&medium, b"volume").unwrap();
        let mut buf = vec![0u8; BLOCK];
        volume
            .read(0, &mut buf)
            .unwrap_or_else(|e| panic!("write {k} failed: sector 0 reads {e}"));
        assert!(buf == content(1, 0) || buf == content(2, 0), "write {k}");
        for lba in 1..24 {
            volume.read(lba, &mut buf).unwrap();
            assert_eq!(buf, content(1, lba), "write {k}: sector {lba}");
        }
    }
    assert!(tried_every_write);
}

/// An image with a volume filling 80 % of its 1024 blocks ("lower", 800 sectors of tag 1) and a
/// small one above it ("above", 16 sectors of tag 2).
fn two_volume_image() -> Vec<u8> {
    let device = Arc::new(fixed_salt_image(1024));
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let lower = Volume::create(&medium, b"lower", 850 * 4096, &[]).unwrap();
    let above = Volume::create(&medium, b"above", 16 * 4096, &[&lower]).unwrap();
    for lba in 0..800 {
        lower.write(lba, &content(1, lba)).unwrap();
    }
    for lba in 0..16 {
        above.write(lba, &content(2, lba)).unwrap();
    }
    above.close().unwrap();
    lower.close().unwrap();
    drop(medium);
    Arc::try_unwrap(device).ok().unwrap().into_bytes()
}

/// A create that fails at any one of its writes (blocks of the open volumes being moved out of
/// its root's place, the root itself) holds no block afterwards, and the open volumes keep
/// every sector, live and after a power cut.
#[test]
fn a_create_that_fails_at_any_write_holds_nothing_and_harms_no_volume() {
    let base = two_volume_image();
    let mut tried_every_write = false;
    for k in 0..400 {
        let device = Arc::new(CrashDevice::new(base.clone()));
        let medium = Medium::from_device(device.clone(), FAST).unwrap();
        let above = Volume::open(&medium, b"above").unwrap();
        let lower = Volume::open(&medium, b"lower").unwrap();
        device.fail_write_once(k);
        let created = Volume::create(&medium, b"new volume", 8 * 4096, &[]);
        if device.armed() {
            created.unwrap();
            tried_every_write = true;
            break;
        }
        assert!(created.is_err(), "write {k}: the failure is reported");
        let held = lower.physical_blocks().len() + above.physical_blocks().len();
        assert_eq!(
            medium.block_count() - medium.free_blocks(),
            1 + held as u64,
            "write {k}: every used block belongs to an open volume"
        );
        assert_sectors(&lower, 1, 800, &format!("write {k}, live"));
        assert_sectors(&above, 2, 16, &format!("write {k}, live"));
        let image = device.crash_image(&[]);
        drop((above, lower, medium));
        let medium = Medium::from_device(Arc::new(CrashDevice::new(image)), FAST).unwrap();
        assert_sectors(
            &Volume::open(&medium, b"above").unwrap(),
            2,
            16,
            &format!("write {k}, after a power cut"),
        );
        assert_sectors(
            &Volume::open(&medium, b"lower").unwrap(),
            1,
            800,
            &format!("write {k}, after a power cut"),
        );
    }
    assert!(tried_every_write);
}

/// A passphrase change cut by a power failure at every write and sync it makes (moving blocks
/// out of the new root's place, the new root, re-linking the volume above, the old root's
/// noise), with the writes since the last sync dropped, kept or torn: the old or the new
/// passphrase opens the volume whole, and the volume above still opens it.
#[test]
fn a_passphrase_change_cut_at_any_write_leaves_a_whole_volume() {
    let base = two_volume_image();
    let mut completed = false;
    for n in 0..400 {
        let device = Arc::new(CrashDevice::new(base.clone()));
        let medium = Medium::from_device(device.clone(), FAST).unwrap();
        let above = Volume::open(&medium, b"above").unwrap();
        let lower = Volume::open(&medium, b"lower").unwrap();
        device.fail_after(n);
        let changed = lower.change_passphrase(b"new lower");
        let images: Vec<Vec<u8>> = [vec![0u8; 0], vec![1; 4096], vec![2; 4096], vec![1, 0, 2]]
            .iter()
            .map(|choices| device.crash_image(choices))
            .collect();
        drop((above, lower, medium));
        for (i, image) in images.into_iter().enumerate() {
            let what = format!("cut after {n} writes, image {i}");
            let medium = Medium::from_device(Arc::new(CrashDevice::new(image)), FAST).unwrap();
            let mut opened = 0;
            for pass in [&b"lower"[..], b"new lower"] {
                match Volume::open(&medium, pass) {
                    Ok(v) => {
                        assert_sectors(&v, 1, 800, &what);
                        opened += 1;
                    }
                    Err(Error::NoVolume) => {}
                    Err(e) => panic!("{what}: {e}"),
                }
            }
            assert!(opened > 0, "{what}: neither passphrase opens the volume");
            if changed.is_ok() {
                assert!(matches!(
                    Volume::open(&medium, b"lower"),
                    Err(Error::NoVolume)
                ));
            }
            let above = Volume::open(&medium, b"above")
                .unwrap_or_else(|e| panic!("{what}: the volume above: {e}"));
            assert_sectors(&above, 2, 16, &what);
        }
        if changed.is_ok() {
            completed = true;
            break;
        }
    }
    assert!(completed);
}

/// A create cut by a power failure at every write and sync it makes (the open volumes moving
/// out of its root's place, its root), with the writes since the last sync dropped, kept or
/// torn: every volume that was open opens whole.
#[test]
fn a_create_cut_at_any_write_harms_no_volume() {
    let base = two_volume_image();
    let mut completed = false;
    for n in 0..400 {
        let device = Arc::new(CrashDevice::new(base.clone()));
        let medium = Medium::from_device(device.clone(), FAST).unwrap();
        let above = Volume::open(&medium, b"above").unwrap();
        let lower = Volume::open(&medium, b"lower").unwrap();
        device.fail_after(n);
        let created = Volume::create(&medium, b"new volume", 8 * 4096, &[]);
        let images: Vec<Vec<u8>> = [vec![0u8; 0], vec![1; 4096], vec![2; 4096], vec![1, 0, 2]]
            .iter()
            .map(|choices| device.crash_image(choices))
            .collect();
        let completes = created.is_ok();
        drop((created, above, lower, medium));
        for (i, image) in images.into_iter().enumerate() {
            let what = format!("cut after {n} writes, image {i}");
            let medium = Medium::from_device(Arc::new(CrashDevice::new(image)), FAST).unwrap();
            let above = Volume::open(&medium, b"above")
                .unwrap_or_else(|e| panic!("{what}: the volume above: {e}"));
            assert_sectors(&above, 2, 16, &what);
            let lower = Volume::open(&medium, b"lower").unwrap();
            assert_sectors(&lower, 1, 800, &what);
        }
        if completes {
            completed = true;
            break;
        }
    }
    assert!(completed);
}
