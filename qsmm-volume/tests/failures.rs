//! Error paths that keep the promise: the medium's reserve is shared by its volumes, a failed
//! root write keeps the blocks that root may reference, a create that fails holds nothing and
//! harms no volume, and a passphrase change cut at any write or sync leaves a volume that one
//! of the two passphrases opens whole, and only one once the new one has been used.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; sizes are tiny"
)]

use std::sync::Arc;

use qsmm_types::BlockId;
use qsmm_void::{BlockDevice, MemoryDevice};
use qsmm_volume::{Error, KdfCost, Medium, SnapshotMode, Volume};

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

/// Opens whatever `image` holds as a user who knows every passphrase would, the new one
/// first: the new passphrase opens the volume whole, after which the old one opens nothing, or
/// the old one opens it; the volume above opens it either way. Returns whether the new
/// passphrase opened it.
fn open_after_cut(image: Vec<u8>, what: &str, lower_sectors: u64) -> bool {
    let medium = Medium::from_device(Arc::new(CrashDevice::new(image)), FAST).unwrap();
    let new = match Volume::open(&medium, b"new lower") {
        Ok(v) => {
            assert_sectors(&v, 1, lower_sectors, what);
            let old = Volume::open(&medium, b"lower");
            assert!(
                matches!(old, Err(Error::NoVolume)),
                "{what}: the old passphrase still opens the volume once the new one has: {:?}",
                old.map(|_| ())
            );
            Some(v)
        }
        Err(Error::NoVolume) => {
            let old = Volume::open(&medium, b"lower")
                .unwrap_or_else(|e| panic!("{what}: neither passphrase opens the volume: {e}"));
            assert_sectors(&old, 1, lower_sectors, what);
            None
        }
        Err(e) => panic!("{what}: {e}"),
    };
    let above =
        Volume::open(&medium, b"above").unwrap_or_else(|e| panic!("{what}: the volume above: {e}"));
    assert_sectors(&above, 2, 16, what);
    new.is_some()
}

/// Whether `passphrase` opens a volume on a copy of `image`.
fn opens(image: &[u8], passphrase: &[u8]) -> bool {
    let medium = Medium::from_device(Arc::new(CrashDevice::new(image.to_vec())), FAST).unwrap();
    Volume::open(&medium, passphrase).is_ok()
}

/// A passphrase change cut by a power failure at every write and sync it makes (moving blocks
/// out of the new root's place, re-linking the volume above, the new root, the old root's
/// noise), with the writes since the last sync dropped, kept or torn: the old or the new
/// passphrase opens the volume whole, never both once the new one has opened it, and the
/// volume above still opens it. Where both roots survived the cut, the open under the new
/// passphrase that overwrites the old root is itself cut at every write and sync: the next
/// open under the new passphrase finishes it, and the old passphrase opens nothing.
#[test]
fn a_passphrase_change_cut_at_any_write_leaves_one_whole_volume() {
    let images = [vec![0u8; 0], vec![1; 4096], vec![2; 4096], vec![1, 0, 2]];
    change_cut_at_any_write(&two_volume_image(), 800, &images, 1);
}

/// As above in multi-snapshot mode, where the new root goes to the root area and the old one
/// is overwritten by the same rewrite of the area.
#[test]
fn a_passphrase_change_cut_at_any_write_leaves_one_whole_volume_in_multi_snapshot_mode() {
    // Most cuts fall in the first rewrite of the whole root area (the volume above's commit):
    // one in four of those, two images each (the writes since the last sync all dropped, all
    // kept), and every cut of the change's own commit keep the test short.
    let images = [vec![0u8; 0], vec![1; 4096]];
    change_cut_at_any_write(&two_volume_image_multi(), 64, &images, 4);
}

/// A multi-snapshot image: a base volume "lower" (64 sectors of tag 1) and a higher one
/// "above" (16 sectors of tag 2).
fn two_volume_image_multi() -> Vec<u8> {
    let device = Arc::new(fixed_salt_image(1024));
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let multi = SnapshotMode::Multi;
    let lower = Volume::create_with_mode(&medium, b"lower", 64 * 4096, &[], multi).unwrap();
    let above = Volume::create_with_mode(&medium, b"above", 16 * 4096, &[&lower], multi).unwrap();
    for lba in 0..64 {
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

/// Cuts `lower`'s passphrase change in `base` (with "above" open) by a power failure after
/// every `stride`-th write and at each of the last 16 writes and the syncs after them, and
/// checks the image after each cut with the unsynced
/// writes kept, dropped or torn as each of `choices` says.
///
/// Where the new root goes is drawn at random among the passphrase's root variants, and with it
/// the order of the change's writes; some draws leave no cut with both roots durable, so the
/// whole run is repeated (up to five times) until one tests that window.
fn change_cut_at_any_write(base: &[u8], lower_sectors: u64, choices: &[Vec<u8>], stride: u32) {
    for _ in 0..5 {
        let both_survived = change_cut_once(base, lower_sectors, choices, stride);
        if both_survived > 0 {
            println!("{both_survived} cuts left both roots");
            return;
        }
    }
    panic!("no cut left both roots in five runs: the window is not tested");
}

/// One run of [`change_cut_at_any_write`]; how many cuts left both roots.
fn change_cut_once(base: &[u8], lower_sectors: u64, choices: &[Vec<u8>], stride: u32) -> usize {
    let total = {
        let device = Arc::new(CrashDevice::new(base.to_vec()));
        let medium = Medium::from_device(device.clone(), FAST).unwrap();
        let _above = Volume::open(&medium, b"above").unwrap();
        let lower = Volume::open(&medium, b"lower").unwrap();
        let before = device.writes();
        lower.change_passphrase(b"new lower").unwrap();
        device.writes() - before
    };
    let mut completed = false;
    let mut both_survived = 0;
    // A run's placement is drawn anew, so a cut run may need more writes than the measured one:
    // past `total - 16` every count is cut, until the change completes.
    for n in (0..=4 * total + 64).filter(|n| n % stride == 0 || n + 16 >= total) {
        let device = Arc::new(CrashDevice::new(base.to_vec()));
        let medium = Medium::from_device(device.clone(), FAST).unwrap();
        let above = Volume::open(&medium, b"above").unwrap();
        let lower = Volume::open(&medium, b"lower").unwrap();
        device.fail_after(n);
        let changed = lower.change_passphrase(b"new lower");
        let images: Vec<Vec<u8>> = choices
            .iter()
            .map(|choices| device.crash_image(choices))
            .collect();
        drop((above, lower, medium));
        let mut cut_the_open = false;
        for (i, image) in images.into_iter().enumerate() {
            let what = format!("cut after {n} writes, image {i}");
            // One image per cut where both roots survived (the others differ in torn writes).
            let both = !cut_the_open && opens(&image, b"lower") && opens(&image, b"new lower");
            assert!(open_after_cut(image.clone(), &what, lower_sectors) || changed.is_err());
            if !both {
                continue;
            }
            cut_the_open = true;
            both_survived += 1;
            // Open under the old passphrase first: the new one then refuses to open a second
            // instance of the volume (its roll-forward would pull the old root from under it).
            let medium = Medium::from_device(Arc::new(CrashDevice::new(image.clone())), FAST);
            let medium = medium.unwrap();
            let old = Volume::open(&medium, b"lower").unwrap();
            assert!(
                matches!(
                    Volume::open(&medium, b"new lower"),
                    Err(Error::OpenUnderOtherPassphrase)
                ),
                "{what}: the volume opens twice"
            );
            drop((old, medium));
            for m in 0..20 {
                let device = Arc::new(CrashDevice::new(image.clone()));
                let medium = Medium::from_device(device.clone(), FAST).unwrap();
                device.fail_after(m);
                let opened = Volume::open(&medium, b"new lower");
                let cut: Vec<Vec<u8>> = [vec![0u8; 0], vec![1; 16], vec![2; 16]]
                    .iter()
                    .map(|choices| device.crash_image(choices))
                    .collect();
                let finished = opened.is_ok();
                drop((opened, medium));
                for (j, image) in cut.into_iter().enumerate() {
                    let what = format!("{what}, open cut after {m} writes, image {j}");
                    assert!(
                        open_after_cut(image, &what, lower_sectors),
                        "{what}: the new root is lost"
                    );
                }
                if finished {
                    break;
                }
            }
        }
        if changed.is_ok() {
            completed = true;
            break;
        }
    }
    assert!(
        completed,
        "the change did not complete within {} writes",
        4 * total + 64
    );
    both_survived
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
