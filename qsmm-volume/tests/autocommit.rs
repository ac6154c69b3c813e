//! Periodic commit: a noted write becomes durable without a flush, within the interval; nothing
//! is committed without a noted write; dropping the committer stops it at once.
#![allow(clippy::unwrap_used, reason = "tests panic on failure")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use qsmm_void::MemoryDevice;
use qsmm_volume::{AutoCommit, Error, KdfCost, Medium, Volume};

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
/// How long a commit may take to show up on a busy machine (a bound, not a measurement).
const PATIENCE: Duration = Duration::from_secs(60);

fn medium() -> (Arc<MemoryDevice>, Medium) {
    let device = Arc::new(MemoryDevice::new(4096, 512).unwrap());
    qsmm_void::format(&*device).unwrap();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    (device, medium)
}

/// Reads sector 5 after a "crash": the volume is dropped without a flush and opened again.
fn sector_after_crash(medium: &Medium, volume: Arc<Volume>) -> Vec<u8> {
    drop(volume);
    let volume = Volume::open(medium, b"pw").unwrap();
    let mut buf = vec![0u8; 4096];
    volume.read(5, &mut buf).unwrap();
    buf
}

fn wait_for_generation(volume: &Volume, after: u64) {
    let deadline = Instant::now() + PATIENCE;
    while volume.generation() == after {
        assert!(Instant::now() < deadline, "no commit");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_noted_write_is_committed_without_a_flush() {
    let (_device, medium) = medium();
    let volume = Arc::new(Volume::create(&medium, b"pw", 64 * 4096, &[]).unwrap());
    let committer =
        AutoCommit::new(Arc::clone(&volume), Duration::from_millis(100), |_| {}).unwrap();
    let before = volume.generation();
    volume.write(5, &[9u8; 4096]).unwrap();
    committer.note_write();
    wait_for_generation(&volume, before);
    drop(committer);
    assert_eq!(sector_after_crash(&medium, volume), vec![9u8; 4096]);
}

#[test]
fn without_a_noted_write_a_crash_loses_it() {
    // The control of the test above: the same crash without the committer loses the write.
    let (_device, medium) = medium();
    let volume = Arc::new(Volume::create(&medium, b"pw", 64 * 4096, &[]).unwrap());
    let committer =
        AutoCommit::new(Arc::clone(&volume), Duration::from_millis(20), |_| {}).unwrap();
    let before = volume.generation();
    volume.write(5, &[9u8; 4096]).unwrap();
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        volume.generation(),
        before,
        "committed without a noted write"
    );
    drop(committer);
    assert_eq!(sector_after_crash(&medium, volume), vec![0u8; 4096]);
}

#[test]
fn a_client_flush_disarms_the_timer_and_later_writes_arm_it_again() {
    let (_device, medium) = medium();
    let volume = Arc::new(Volume::create(&medium, b"pw", 64 * 4096, &[]).unwrap());
    let committer =
        AutoCommit::new(Arc::clone(&volume), Duration::from_millis(100), |_| {}).unwrap();
    volume.write(5, &[1u8; 4096]).unwrap();
    committer.note_write();
    committer.flush().unwrap();
    let flushed = volume.generation();
    thread::sleep(Duration::from_millis(300));
    assert_eq!(volume.generation(), flushed, "a commit after the flush");
    volume.write(5, &[2u8; 4096]).unwrap();
    committer.note_write();
    wait_for_generation(&volume, flushed);
    drop(committer);
    assert_eq!(sector_after_crash(&medium, volume), vec![2u8; 4096]);
}

#[test]
fn dropping_stops_a_waiting_committer_and_zero_is_refused() {
    let (_device, medium) = medium();
    let volume = Arc::new(Volume::create(&medium, b"pw", 64 * 4096, &[]).unwrap());
    let errors = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&errors);
    let committer = AutoCommit::new(Arc::clone(&volume), Duration::from_secs(3600), move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    assert_eq!(committer.interval(), Duration::from_secs(3600));
    volume.write(5, &[3u8; 4096]).unwrap();
    committer.note_write();
    // Would hang for an hour if the drop did not wake the thread.
    drop(committer);
    assert_eq!(errors.load(Ordering::SeqCst), 0);
    assert_eq!(
        Arc::strong_count(&volume),
        1,
        "the thread let go of the volume"
    );
    assert!(matches!(
        AutoCommit::new(Arc::clone(&volume), Duration::ZERO, |_| {}),
        Err(Error::InvalidParameter(_))
    ));
}
