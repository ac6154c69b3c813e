//! Several threads on one volume at once, on a file medium (real parallel `pread`/`pwrite`):
//! reads and writes run beside each other without holding the volume's lock across the medium
//! or the cipher. Every read returns a version some write stored (never a mix, never an
//! error), flushes in the middle lose nothing, and after a reopen each sector holds its last
//! write.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; test patterns truncate on purpose"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use qsmm_void::{BlockDevice, FileDevice};
use qsmm_volume::{KdfCost, Medium, Volume};

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const SECTOR: usize = 4096;
/// Sectors every thread writes and reads (hot: freed blocks are reused quickly).
const SHARED: u64 = 8;
/// Sectors each writer owns alone, after the shared ones.
const OWN: u64 = 64;
const WRITERS: u64 = 3;
const ROUNDS: u32 = 1000;

/// Sector contents that say who wrote them: writer, sector and version in every 16 bytes.
fn version(writer: u64, lba: u64, round: u32) -> Vec<u8> {
    let mut stamp = [0u8; 16];
    stamp[..4].copy_from_slice(&(writer as u32).to_le_bytes());
    stamp[4..12].copy_from_slice(&lba.to_le_bytes());
    stamp[12..].copy_from_slice(&round.to_le_bytes());
    stamp.repeat(SECTOR / 16)
}

/// Checks that `data` is one whole version of sector `lba` (or never written: zeros).
fn assert_whole(data: &[u8], lba: u64) {
    if data.iter().all(|&b| b == 0) {
        return;
    }
    let stamp = &data[..16];
    assert_eq!(
        &stamp[4..12],
        &lba.to_le_bytes(),
        "sector {lba} holds another sector's data"
    );
    assert!(
        data.chunks(16).all(|chunk| chunk == stamp),
        "sector {lba} mixes two versions"
    );
}

#[test]
fn reads_and_writes_of_many_threads_see_whole_versions_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medium.img");
    // The smallest medium (1 MiB), most of it mapped: released blocks come back into use
    // while reads of them are in flight.
    let sectors = SHARED + WRITERS * OWN;
    let device = FileDevice::create(&path, SECTOR, 256).unwrap();
    qsmm_void::format(&device).unwrap();
    let device: Arc<dyn BlockDevice + Send + Sync> = Arc::new(device);
    let medium = Medium::from_device(Arc::clone(&device), FAST).unwrap();
    let volume = Arc::new(Volume::create(&medium, b"busy", sectors * SECTOR as u64, &[]).unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (volume, stop, reads) =
                (Arc::clone(&volume), Arc::clone(&stop), Arc::clone(&reads));
            thread::spawn(move || {
                let mut buf = vec![0u8; SECTOR];
                let mut lba = r;
                while !stop.load(Ordering::Relaxed) {
                    lba = (lba + 1) % SHARED;
                    volume.read(lba, &mut buf).unwrap();
                    assert_whole(&buf, lba);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let volume = Arc::clone(&volume);
            thread::spawn(move || {
                let own = SHARED + w * OWN;
                for round in 0..ROUNDS {
                    let shared = u64::from(round) % SHARED;
                    volume.write(shared, &version(w, shared, round)).unwrap();
                    let lba = own + u64::from(round) % OWN;
                    // Byte-addressed, sector-aligned writes take the same path as the plugin's.
                    volume
                        .write_at(lba * SECTOR as u64, &version(w, lba, round))
                        .unwrap();
                    let mut back = vec![0u8; SECTOR];
                    volume.read_at(lba * SECTOR as u64, &mut back).unwrap();
                    assert_eq!(
                        back,
                        version(w, lba, round),
                        "own sector {lba} lost a write"
                    );
                    if round % 50 == 49 {
                        volume.flush().unwrap();
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0);
    // Two more roots free every block that an overwrite released; then the volume holds what
    // its map references, nothing more (compared with the blocks found at reopen below).
    let volume = Arc::try_unwrap(volume).unwrap();
    volume.flush().unwrap();
    volume.flush().unwrap();
    let held = volume.physical_blocks().len();
    volume.close().unwrap();
    drop(medium);

    // Reopened: every writer's own sectors hold their last versions, shared ones a whole one.
    let medium = Medium::from_device(device, FAST).unwrap();
    let volume = Volume::open(&medium, b"busy").unwrap();
    let mut buf = vec![0u8; SECTOR];
    for w in 0..WRITERS {
        for i in 0..OWN {
            let lba = SHARED + w * OWN + i;
            let last = (0..ROUNDS)
                .rev()
                .find(|r| u64::from(*r) % OWN == i)
                .unwrap();
            volume.read(lba, &mut buf).unwrap();
            assert_eq!(buf, version(w, lba, last), "sector {lba} after reopen");
        }
    }
    for lba in 0..SHARED {
        volume.read(lba, &mut buf).unwrap();
        assert!(
            buf.iter().any(|&b| b != 0),
            "shared sector {lba} was written"
        );
        assert_whole(&buf, lba);
    }
    assert_eq!(
        volume.physical_blocks().len(),
        held,
        "blocks leaked while running"
    );
}
