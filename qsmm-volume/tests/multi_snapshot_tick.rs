//! The timed tick of the multi-snapshot mode: while a [`Ticker`] runs, higher volumes' blocks
//! travel only in its slots and those paired with base writes (a flush waits for them), so the
//! slots a mount writes are the base writes plus what the ticker spent, whatever is hidden.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; sector tags are small"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use qsmm_types::{BlockId, Result as CoreResult};
use qsmm_void::{BlockDevice, MemoryDevice};
use qsmm_volume::{Error, KdfCost, Medium, SlotCounts, SnapshotMode, Ticker, Volume};

const KDF: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const MULTI: SnapshotMode = SnapshotMode::Multi;
const MIB: u64 = 1 << 20;
/// Fast enough that the tests wait little.
const RATE: u32 = 4000;

fn device() -> Arc<MemoryDevice> {
    let device = Arc::new(MemoryDevice::new(4096, 2048).unwrap());
    qsmm_void::format(&*device).unwrap();
    device
}

fn mount(device: &Arc<MemoryDevice>) -> Medium {
    Medium::from_device(device.clone(), KDF).unwrap()
}

fn image(device: &MemoryDevice) -> Vec<u8> {
    let mut out = vec![0u8; 4096 * 2048];
    for (i, chunk) in (0u64..).zip(out.chunks_exact_mut(4096)) {
        device.read_block(BlockId(i), chunk).unwrap();
    }
    out
}

fn slots(c: SlotCounts) -> u64 {
    c.carried + c.noise
}

/// Creates a decoy and a hidden volume above it and closes them (highest first).
fn create(device: &Arc<MemoryDevice>) {
    let medium = mount(device);
    let decoy = Volume::create_with_mode(&medium, b"decoy", MIB, &[], MULTI).unwrap();
    let hidden = Volume::create_with_mode(&medium, b"hidden", 5 * MIB, &[&decoy], MULTI).unwrap();
    hidden.close().unwrap();
    decoy.close().unwrap();
}

#[test]
fn with_a_ticker_slots_are_the_base_writes_plus_the_ticks_whatever_is_hidden() {
    for hidden_sectors in [0u64, 40, 200] {
        let device = device();
        create(&device);
        let medium = mount(&device);
        let hidden = Volume::open(&medium, b"hidden").unwrap();
        let decoy = Volume::open(&medium, b"decoy").unwrap();
        let before = medium.slot_counts().unwrap();
        let ticker = Ticker::start(&medium, RATE, |e| panic!("tick: {e}")).unwrap();
        for lba in 0..30 {
            decoy.write(lba, &[1; 4096]).unwrap();
        }
        decoy.flush().unwrap();
        for lba in 0..hidden_sectors {
            hidden.write(lba, &[lba as u8; 4096]).unwrap();
        }
        // Returns once the slots carried the queue: none of its own.
        hidden.flush().unwrap();
        hidden.close().unwrap();
        let spent = ticker.stop();
        let after = medium.slot_counts().unwrap();
        assert_eq!(
            slots(after) - slots(before),
            (after.base - before.base) + spent,
            "{hidden_sectors} hidden sectors: every slot is paired or ticked"
        );
        // The close spends no budget on top of the rate.
        decoy.close().unwrap();
        let closed = medium.slot_counts().unwrap();
        assert_eq!(slots(closed), slots(after));
        drop(medium);

        let medium = mount(&device);
        let hidden = Volume::open(&medium, b"hidden").unwrap();
        for lba in 0..hidden_sectors {
            let mut buf = [0u8; 4096];
            hidden.read(lba, &mut buf).unwrap();
            assert_eq!(buf, [lba as u8; 4096], "sector {lba}");
        }
    }
}

#[test]
fn a_full_queue_waits_for_the_ticker_instead_of_writing() {
    let device = device();
    create(&device);
    let medium = mount(&device);
    let hidden = Volume::open(&medium, b"hidden").unwrap();
    let before = medium.slot_counts().unwrap();
    let ticker = Ticker::start(&medium, 16_000, |e| panic!("tick: {e}")).unwrap();
    // More than the queue holds (1024 blocks), with no base write at all.
    for lba in 0..1200 {
        hidden.write(lba, &[(lba % 251) as u8; 4096]).unwrap();
    }
    hidden.close().unwrap();
    let spent = ticker.stop();
    let after = medium.slot_counts().unwrap();
    assert_eq!(after.base, before.base);
    assert_eq!(slots(after) - slots(before), spent);
    assert!(after.carried - before.carried >= 1200);
}

#[test]
fn end_mount_rewrites_the_root_area_when_only_higher_volumes_were_served() {
    let device = device();
    create(&device);
    let before = image(&device);
    let medium = mount(&device);
    // The hidden passphrase opens the decoy beneath it; no handle of the decoy is closed, and
    // nothing is committed.
    let hidden = Volume::open(&medium, b"hidden").unwrap();
    hidden.close().unwrap();
    assert_eq!(image(&device), before);
    medium.end_mount().unwrap();
    let after = image(&device);
    for block in 1u64..129 {
        let at = usize::try_from(block).unwrap() * 4096;
        assert_ne!(
            before[at..at + 4096],
            after[at..at + 4096],
            "root-area block {block} unchanged"
        );
    }
    drop(medium);
    let medium = mount(&device);
    assert!(Volume::open(&medium, b"decoy").is_ok());
    assert!(Volume::open(&medium, b"hidden").is_ok());
}

#[test]
fn a_ticker_needs_a_rate_and_a_multi_snapshot_medium() {
    let device = device();
    create(&device);
    let medium = mount(&device);
    assert!(matches!(
        Ticker::start(&medium, 100, |_| {}),
        Err(Error::InvalidParameter(_))
    ));
    let decoy = Volume::open(&medium, b"decoy").unwrap();
    assert!(!decoy.is_higher());
    for rate in [0, 16_385] {
        assert!(matches!(
            Ticker::start(&medium, rate, |_| {}),
            Err(Error::InvalidParameter(_))
        ));
    }
    let ticker = Ticker::start(&medium, 100, |_| {}).unwrap();
    assert_eq!(ticker.rate(), 100);
    let hidden = Volume::open(&medium, b"hidden").unwrap();
    assert!(hidden.is_higher());
}

/// A memory device whose writes fail while `failing` is set.
struct Failing {
    inner: Arc<MemoryDevice>,
    failing: AtomicBool,
}

impl BlockDevice for Failing {
    fn block_size(&self) -> usize {
        self.inner.block_size()
    }

    fn block_count(&self) -> u64 {
        self.inner.block_count()
    }

    fn read_block(&self, id: BlockId, buf: &mut [u8]) -> CoreResult<()> {
        self.inner.read_block(id, buf)
    }

    fn write_block(&self, id: BlockId, data: &[u8]) -> CoreResult<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("write error").into());
        }
        self.inner.write_block(id, data)
    }

    fn flush(&self) -> CoreResult<()> {
        self.inner.flush()
    }
}

#[test]
fn a_flush_reports_a_failing_medium_instead_of_waiting_for_the_ticker() {
    let inner = device();
    create(&inner);
    let device = Arc::new(Failing {
        inner,
        failing: AtomicBool::new(false),
    });
    let medium = Medium::from_device(device.clone(), KDF).unwrap();
    let hidden = Volume::open(&medium, b"hidden").unwrap();
    let ticker = Ticker::start(&medium, 1000, |_| {}).unwrap();
    hidden.write(0, &[1; 4096]).unwrap();
    device.failing.store(true, Ordering::SeqCst);
    // The ticker's slots fail; the flush stops waiting for them and reports the error.
    assert!(hidden.flush().is_err());
    device.failing.store(false, Ordering::SeqCst);
    hidden.flush().unwrap();
    drop(ticker);
}
