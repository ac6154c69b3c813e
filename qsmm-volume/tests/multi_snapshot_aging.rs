//! Aging in multi-snapshot mode: a higher volume's live blocks change from mount to mount at
//! the rate free blocks do (it moves a share of them at its flushes), and a move cut at any
//! write loses nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "tests panic on failure; sizes are tiny"
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use qsmm_void::{BlockDevice, MemoryDevice};
use qsmm_volume::{KdfCost, Medium, SnapshotMode, Volume};

#[path = "support/crash_device.rs"]
mod crash_device;
use crash_device::CrashDevice;

const KDF: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const MULTI: SnapshotMode = SnapshotMode::Multi;
const BLOCK: usize = 4096;
const BLOCKS: u64 = 1024;
const MIB: u64 = 1 << 20;
const AREA: core::ops::Range<u64> = 1..129;
/// Sectors the hidden volume holds.
const HIDDEN: u64 = 60;

fn content(tag: u8, lba: u64) -> Vec<u8> {
    let mut v = vec![tag; BLOCK];
    v[..8].copy_from_slice(&lba.to_le_bytes());
    v
}

/// A decoy with 40 sectors and a hidden volume above it with [`HIDDEN`], both closed.
fn setup(device: Arc<dyn BlockDevice + Send + Sync>) {
    let medium = Medium::from_device(device, KDF).unwrap();
    let decoy = Volume::create_with_mode(&medium, b"decoy", MIB, &[], MULTI).unwrap();
    let hidden = Volume::create_with_mode(&medium, b"hidden", MIB, &[&decoy], MULTI).unwrap();
    for lba in 0..40 {
        decoy.write(lba, &content(1, lba)).unwrap();
    }
    for lba in 0..HIDDEN {
        hidden.write(lba, &content(2, lba)).unwrap();
    }
    hidden.flush().unwrap();
    decoy.close().unwrap();
    hidden.close().unwrap();
}

fn check_hidden(hidden: &Volume, what: &str) {
    let mut buf = vec![0u8; BLOCK];
    for lba in 0..HIDDEN {
        hidden.read(lba, &mut buf).unwrap();
        assert_eq!(buf, content(2, lba), "{what}: sector {lba}");
    }
}

/// Over eight mounts in which only the decoy writes, the blocks the hidden volume held at the
/// start change about as often as the blocks that were free: without moves none of them would
/// ever change (the hidden volume rewrites nothing), which an adversary holding the decoy's
/// passphrase sees after a dozen images.
#[test]
fn a_hidden_volumes_blocks_age_like_free_blocks() {
    let device = Arc::new(MemoryDevice::new(BLOCK, BLOCKS).unwrap());
    qsmm_void::format(&*device).unwrap();
    setup(device.clone());
    let (hidden_start, decoy_start) = {
        let medium = Medium::from_device(device.clone(), KDF).unwrap();
        let hidden = Volume::open(&medium, b"hidden").unwrap();
        let decoy = Volume::open(&medium, b"decoy").unwrap();
        let h: BTreeSet<u64> = hidden.physical_blocks().into_iter().collect();
        let d: BTreeSet<u64> = decoy.physical_blocks().into_iter().collect();
        drop((hidden, decoy));
        (h, d)
    };
    let mut ever_decoy = decoy_start;
    let mut ever_changed = BTreeSet::new();
    let mut image = device.to_bytes();
    for mount in 0..8u8 {
        let medium = Medium::from_device(device.clone(), KDF).unwrap();
        let hidden = Volume::open(&medium, b"hidden").unwrap();
        let decoy = Volume::open(&medium, b"decoy").unwrap();
        for lba in 0..8 {
            decoy.write(lba * 5, &content(10 + mount, lba)).unwrap();
        }
        hidden.flush().unwrap();
        ever_decoy.extend(decoy.physical_blocks());
        check_hidden(&hidden, &format!("mount {mount}"));
        decoy.close().unwrap();
        hidden.close().unwrap();
        let next = device.to_bytes();
        ever_changed.extend(
            (0u64..)
                .zip(image.chunks_exact(BLOCK).zip(next.chunks_exact(BLOCK)))
                .filter(|(_, (a, b))| a != b)
                .map(|(i, _)| i),
        );
        image = next;
    }
    let still = |blocks: &mut dyn Iterator<Item = u64>| {
        let (mut n, mut unchanged) = (0usize, 0usize);
        for b in blocks {
            n += 1;
            unchanged += usize::from(!ever_changed.contains(&b));
        }
        unchanged as f64 / n.max(1) as f64
    };
    let hidden_still = still(&mut hidden_start.iter().copied());
    let free_still = still(
        &mut (AREA.end..BLOCKS)
            .filter(|b| !hidden_start.contains(b) && !ever_decoy.contains(b) && *b != 0),
    );
    // About 0.06 for both here (eight mounts of about 270 slots over about 850 blocks); the
    // hidden volume's 60-odd blocks make its share the noisier estimate.
    assert!(
        (hidden_still - free_still).abs() < 0.2,
        "hidden blocks never changed: {hidden_still:.3}, free blocks: {free_still:.3}"
    );
    let medium = Medium::from_device(device, KDF).unwrap();
    let hidden = Volume::open(&medium, b"hidden").unwrap();
    check_hidden(&hidden, "after the mounts");
}

/// The close of the decoy that ends a mount, in which the hidden volume (no write of its own)
/// moves blocks and commits them, cut at every write in turn, then crashed with unsynced
/// writes dropped or torn: the hidden volume opens whole every time, and the uncut close did
/// move blocks.
#[test]
fn a_move_cut_at_any_write_loses_nothing() {
    let memory = MemoryDevice::new(BLOCK, BLOCKS).unwrap();
    qsmm_void::format(&memory).unwrap();
    let start = Arc::new(CrashDevice::new(memory.into_bytes()));
    setup(start.clone());
    let image = start.crash_image(&[]);
    let mut cuts = 0;
    for n in 0.. {
        let device = Arc::new(CrashDevice::new(image.clone()));
        let medium = Medium::from_device(device.clone(), KDF).unwrap();
        let hidden = Volume::open(&medium, b"hidden").unwrap();
        let decoy = Volume::open(&medium, b"decoy").unwrap();
        // A small budget keeps the number of cuts down; the moves still fit in it.
        medium.set_tick_slots(48);
        for lba in 0..4 {
            decoy.write(lba, &content(3, lba)).unwrap();
        }
        hidden.flush().unwrap();
        let before = hidden.physical_blocks();
        let writes = device.writes();
        device.fail_after(n);
        let closed = decoy.close();
        if device.writes() - writes < n {
            // The close needed fewer than n writes (and its syncs ran): every cut was tried.
            closed.unwrap();
            let after = hidden.physical_blocks();
            let moved = before.iter().filter(|b| !after.contains(b)).count();
            assert!(moved > 0, "the close moved no block");
            check_hidden(&hidden, "uncut");
            break;
        }
        cuts += 1;
        for choices in [&[][..], &[0xff; 64][..], &[0x55, 0xaa, 0x0f, 0xf0][..]] {
            let crashed = Arc::new(CrashDevice::new(device.crash_image(choices)));
            let medium = Medium::from_device(crashed, KDF).unwrap();
            let hidden = Volume::open(&medium, b"hidden").expect("the hidden volume opens");
            check_hidden(&hidden, &format!("cut after {n} writes, {choices:?}"));
        }
        drop(hidden);
    }
    assert!(cuts > 100, "only {cuts} cuts");
}
