//! Crash consistency against a model: random writes, trims, flushes and crashes on a device
//! that keeps its live and durable images apart and drops or tears unsynced writes; after every
//! crash the volume reopens at its last durable generation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; sizes are tiny"
)]

use std::sync::Arc;

use proptest::prelude::*;
use qsmm_void::MemoryDevice;
use qsmm_volume::{Error, KdfCost, Medium, SnapshotMode, Volume};

#[path = "support/crash_device.rs"]
mod crash_device;
use crash_device::CrashDevice;

const BLOCK: usize = 4096;
const BLOCKS: u64 = 512;
const SECTORS: u64 = 24;

#[derive(Clone, Debug)]
enum Op {
    Write {
        lba: u64,
        len: u64,
        tag: u8,
    },
    Trim {
        lba: u64,
        len: u64,
    },
    Flush,
    /// Power fails after this many more device writes.
    ArmFailure(u32),
    /// Crash now and reopen; the bytes choose the fate of each unsynced write.
    Crash(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..SECTORS, 1..4u64, any::<u8>()).prop_map(|(lba, len, tag)| Op::Write {
            lba,
            len: len.min(SECTORS - lba),
            tag
        }),
        1 => (0..SECTORS, 1..6u64).prop_map(|(lba, len)| Op::Trim { lba, len: len.min(SECTORS - lba) }),
        2 => Just(Op::Flush),
        1 => (0..40u32).prop_map(Op::ArmFailure),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Op::Crash),
    ]
}

fn content(tag: u8, lba: u64) -> Vec<u8> {
    let mut v = vec![tag; BLOCK];
    v[..8].copy_from_slice(&lba.to_le_bytes());
    v
}

/// Opens the volume under test after a crash, and in multi-snapshot mode the decoy below it
/// (already open as its lower volume).
fn open(device: &Arc<CrashDevice>, mode: SnapshotMode) -> (Volume, Option<Volume>) {
    let medium = Medium::from_device(device.clone(), KdfCost::DANGER_INSECURE_FOR_TESTS).unwrap();
    let volume = Volume::open(&medium, b"crash test").expect("the volume opens after any crash");
    assert_eq!(volume.snapshot_mode(), mode);
    let decoy = (mode == SnapshotMode::Multi).then(|| Volume::open(&medium, b"decoy").unwrap());
    (volume, decoy)
}

/// A fresh medium with the volume under test: alone in single-snapshot mode; in
/// multi-snapshot mode a higher volume above a decoy, whose writes carry its blocks in slots.
fn setup(mode: SnapshotMode) -> (Arc<CrashDevice>, Volume, Option<Volume>) {
    let memory = MemoryDevice::new(BLOCK, BLOCKS).unwrap();
    qsmm_void::format(&memory).unwrap();
    let device = Arc::new(CrashDevice::new(memory.into_bytes()));
    let medium = Medium::from_device(device.clone(), KdfCost::DANGER_INSECURE_FOR_TESTS).unwrap();
    let size = SECTORS * BLOCK as u64;
    let decoy = (mode == SnapshotMode::Multi)
        .then(|| Volume::create_with_mode(&medium, b"decoy", size, &[], mode).unwrap());
    let below: Vec<&Volume> = decoy.iter().collect();
    let volume = Volume::create_with_mode(&medium, b"crash test", size, &below, mode).unwrap();
    (device, volume, decoy)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn crashes_keep_flushed_data(ops in proptest::collection::vec(op(), 1..40)) {
        check(&ops, SnapshotMode::Single)?;
    }

    #[test]
    fn crashes_keep_flushed_data_in_multi_snapshot_mode(
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        check(&ops, SnapshotMode::Multi)?;
    }
}

fn check(ops: &[Op], mode: SnapshotMode) -> Result<(), TestCaseError> {
    {
        let (mut device, mut volume, mut decoy) = setup(mode);
        let zero = vec![0u8; BLOCK];
        // For every sector: the values a reopen may show (the last flushed one first).
        let mut possible: Vec<Vec<Vec<u8>>> = vec![vec![zero.clone()]; SECTORS as usize];
        let mut current: Vec<Vec<u8>> = vec![zero.clone(); SECTORS as usize];

        for op in ops.iter().cloned() {
            match op {
                Op::Write { lba, len, tag } => {
                    let data: Vec<u8> = (lba..lba + len).flat_map(|l| content(tag, l)).collect();
                    let ok = volume.write(lba, &data).is_ok();
                    if let Some(decoy) = &decoy {
                        // The decoy's own write, whose slot may carry a queued block; its
                        // content is not under test, and it fails like any write once the
                        // power is gone.
                        decoy.write(lba, &content(0xdc, lba)).ok();
                    }
                    for l in lba..lba + len {
                        possible[l as usize].push(content(tag, l));
                        if ok {
                            current[l as usize] = content(tag, l);
                        }
                    }
                    if !ok {
                        // A failed write leaves old or new; reads may show either until a crash.
                        for l in lba..lba + len {
                            let mut buf = vec![0u8; BLOCK];
                            if volume.read(l, &mut buf).is_ok() {
                                current[l as usize] = buf;
                            }
                        }
                    }
                }
                Op::Trim { lba, len } => {
                    let ok = volume.trim(lba, len).is_ok();
                    for l in lba..lba + len {
                        possible[l as usize].push(zero.clone());
                        if ok {
                            current[l as usize] = zero.clone();
                        }
                    }
                }
                Op::Flush => {
                    if volume.flush().is_ok() {
                        for (p, c) in possible.iter_mut().zip(&current) {
                            *p = vec![c.clone()];
                        }
                    }
                }
                Op::ArmFailure(n) => device.fail_after(n),
                Op::Crash(choices) => {
                    let image = device.crash_image(&choices);
                    drop(volume);
                    drop(decoy);
                    device = Arc::new(CrashDevice::new(image));
                    (volume, decoy) = open(&device, mode);
                    for lba in 0..SECTORS {
                        let mut buf = vec![0u8; BLOCK];
                        volume
                            .read(lba, &mut buf)
                            .expect("no read error after a crash");
                        prop_assert!(
                            possible[lba as usize].contains(&buf),
                            "sector {} shows a value never written since the last flush",
                            lba
                        );
                        current[lba as usize] = buf.clone();
                        possible[lba as usize] = vec![buf];
                    }
                }
            }
            // While the power is on, reads show exactly what was acknowledged.
            if device.powered() {
                for lba in 0..SECTORS {
                    let mut buf = vec![0u8; BLOCK];
                    volume.read(lba, &mut buf).unwrap();
                    prop_assert_eq!(&buf, &current[lba as usize], "sector {}", lba);
                }
            }
        }
    }
    Ok(())
}

/// A volume with sectors written and flushed, then overwritten and trimmed (not flushed):
/// returns the device, the volume and every sector's acknowledged content.
fn written_volume() -> (Arc<CrashDevice>, Volume, Vec<Vec<u8>>) {
    let memory = MemoryDevice::new(BLOCK, BLOCKS).unwrap();
    qsmm_void::format(&memory).unwrap();
    let device = Arc::new(CrashDevice::new(memory.into_bytes()));
    let medium = Medium::from_device(device.clone(), KdfCost::DANGER_INSECURE_FOR_TESTS).unwrap();
    let volume = Volume::create(&medium, b"crash test", SECTORS * BLOCK as u64, &[]).unwrap();
    let mut expected = vec![vec![0u8; BLOCK]; SECTORS as usize];
    for lba in 0..SECTORS {
        volume.write(lba, &content(1, lba)).unwrap();
        expected[lba as usize] = content(1, lba);
    }
    volume.flush().unwrap();
    for lba in (0..SECTORS).step_by(3) {
        volume.write(lba, &content(2, lba)).unwrap();
        expected[lba as usize] = content(2, lba);
    }
    volume.trim(1, 2).unwrap();
    expected[1] = vec![0u8; BLOCK];
    expected[2] = vec![0u8; BLOCK];
    (device, volume, expected)
}

/// Reopens the durable image (as after a power cut now) and checks every sector.
fn assert_durable(device: &CrashDevice, expected: &[Vec<u8>], what: &str) {
    let device = Arc::new(CrashDevice::new(device.crash_image(&[])));
    let (volume, _) = open(&device, SnapshotMode::Single);
    for lba in 0..SECTORS {
        let mut buf = vec![0u8; BLOCK];
        volume.read(lba, &mut buf).unwrap();
        assert_eq!(buf, expected[lba as usize], "{what}: sector {lba}");
    }
}

#[test]
fn a_flush_retried_after_a_failed_write_loses_nothing() {
    // Fail each write of a flush in turn (map blocks, noise, root shares), once.
    for k in 0.. {
        let (device, volume, expected) = written_volume();
        device.fail_write_once(k);
        let first = volume.flush();
        if device.armed() {
            // The flush needed fewer than k + 1 writes: every write position was tried.
            assert!(first.is_ok());
            break;
        }
        assert!(first.is_err(), "write {k}: the failure was reported");
        volume.flush().unwrap();
        assert_durable(&device, &expected, &format!("write {k} failed once"));
        // And the volume keeps working.
        volume.write(0, &content(3, 0)).unwrap();
        volume.flush().unwrap();
        let mut expected = expected;
        expected[0] = content(3, 0);
        assert_durable(&device, &expected, &format!("write {k}, then more"));
    }
}

#[test]
fn a_failed_sync_turns_the_volume_read_only_and_keeps_the_last_durable_root() {
    for k in 0..2 {
        let (device, volume, expected) = written_volume();
        let mut before = expected.clone();
        for lba in (0..SECTORS).step_by(3) {
            before[lba as usize] = content(1, lba);
        }
        before[1] = content(1, 1);
        before[2] = content(1, 2);
        // Sync k of the flush fails once: the writes it should have made durable are gone.
        device.fail_sync_once(k);
        assert!(volume.flush().is_err());
        assert!(matches!(
            volume.write(0, &content(4, 0)),
            Err(Error::ReadOnly)
        ));
        assert!(matches!(volume.flush(), Err(Error::ReadOnly)));
        let mut buf = vec![0u8; BLOCK];
        volume.read(3, &mut buf).unwrap();
        assert_eq!(buf, expected[3], "reads still work");
        assert_durable(&device, &before, &format!("sync {k} failed"));
    }
}

/// In multi-snapshot mode, each write of a higher volume's flush fails once in turn (its slots,
/// the root area's new roots, the noise over the old ones); the volume writes once more and
/// the flush is retried, then it writes and flushes again. The durable image must show exactly the last flush: a
/// failed rewrite of the root area leaves roots it never recorded, and a later rewrite that
/// does not erase them lets one of them win at the next open (seen as sectors going back to
/// values an earlier flush had replaced). Where the new roots go is random, and a stray root
/// wins only when it precedes the retried one in the area, so the sweep runs twelve times.
#[test]
fn a_multi_snapshot_flush_retried_after_a_failed_write_loses_nothing() {
    for _ in 0..12 {
        retried_flush_sweep();
    }
}

fn retried_flush_sweep() {
    for k in 0.. {
        let (device, volume, decoy) = setup(SnapshotMode::Multi);
        let decoy = decoy.unwrap();
        for lba in 0..SECTORS {
            volume.write(lba, &content(1, lba)).unwrap();
            decoy.write(lba, &content(0xdc, lba)).unwrap();
        }
        volume.flush().unwrap();
        let mut expected: Vec<Vec<u8>> = (0..SECTORS).map(|lba| content(1, lba)).collect();
        for lba in (0..SECTORS).step_by(3) {
            volume.write(lba, &content(2, lba)).unwrap();
            decoy.write(lba, &content(0xdd, lba)).unwrap();
            expected[lba as usize] = content(2, lba);
        }
        device.fail_write_once(k);
        let first = volume.flush();
        if device.armed() {
            // The flush needed fewer than k + 1 writes: every write position was tried.
            assert!(first.is_ok());
            break;
        }
        assert!(first.is_err(), "write {k}: the failure was reported");
        // The retry commits other content under the generation the failed flush tried.
        volume.write(1, &content(3, 1)).unwrap();
        expected[1] = content(3, 1);
        volume.flush().unwrap();
        assert_durable_multi(&device, &expected, &format!("write {k} failed once"));
        for round in 4..6u8 {
            volume.write(0, &content(round, 0)).unwrap();
            decoy.write(0, &content(round, 0)).unwrap();
            volume.flush().unwrap();
            expected[0] = content(round, 0);
            assert_durable_multi(
                &device,
                &expected,
                &format!("write {k}, then round {round}"),
            );
        }
    }
}

/// Reopens the durable image of a multi-snapshot medium and checks every sector of the volume
/// under test.
fn assert_durable_multi(device: &CrashDevice, expected: &[Vec<u8>], what: &str) {
    let device = Arc::new(CrashDevice::new(device.crash_image(&[])));
    let (volume, _decoy) = open(&device, SnapshotMode::Multi);
    for lba in 0..SECTORS {
        let mut buf = vec![0u8; BLOCK];
        volume.read(lba, &mut buf).unwrap();
        assert_eq!(buf, expected[lba as usize], "{what}: sector {lba}");
    }
}
