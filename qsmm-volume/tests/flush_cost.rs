//! What a flush writes: the changed map blocks (into the blocks of the map blocks the superseded
//! root alone referenced, first), noise over those of them left over (so that no freed map
//! block outlives two roots) and one slot of root shares. Counted exactly with a device that
//! counts writes.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; sizes are tiny"
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use qsmm_types::{BlockId, Result as CoreResult};
use qsmm_void::{BlockDevice, MemoryDevice};
use qsmm_volume::{KdfCost, Medium, Volume};

/// A memory device that counts block writes.
struct Counting {
    inner: MemoryDevice,
    writes: AtomicU64,
}

impl BlockDevice for Counting {
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
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write_block(id, data)
    }

    fn flush(&self) -> CoreResult<()> {
        self.inner.flush()
    }
}

#[test]
fn a_flush_writes_its_map_blocks_over_the_superseded_ones_and_one_root_slot() {
    const LEAVES: u64 = 40;
    let inner = MemoryDevice::new(4096, 8192).unwrap();
    qsmm_void::format(&inner).unwrap();
    let device = Arc::new(Counting {
        inner,
        writes: AtomicU64::new(0),
    });
    let medium = Medium::from_device(device.clone(), KdfCost::DANGER_INSECURE_FOR_TESTS).unwrap();
    let volume = Volume::create(&medium, b"cost", LEAVES * 84 * 4096, &[]).unwrap();
    let mut seed = 11u64;
    // Leaves (and the index block) some flush wrote already, and how many of them the last
    // flush replaced.
    let mut on_disk = BTreeSet::new();
    let mut replaced_last = 0u64;
    let (mut flushes, mut map_and_root, mut scrubbed) = (0u64, 0u64, 0u64);
    for cycle in 0..12u8 {
        let mut leaves = BTreeSet::new();
        for _ in 0..32 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let lba = (seed >> 33) % (LEAVES * 84);
            leaves.insert(lba / 84);
            volume.write(lba, &[cycle; 4096]).unwrap();
        }
        let before = device.writes.load(Ordering::Relaxed);
        volume.flush().unwrap();
        let during = device.writes.load(Ordering::Relaxed) - before;
        // This flush's leaves and their index block, 4 root shares, and noise over those map
        // blocks the flush before replaced (the superseded root alone referenced them) that
        // this flush's map blocks did not overwrite.
        let written = leaves.len() as u64 + 1;
        let noise = replaced_last.saturating_sub(written);
        assert_eq!(during, written + 4 + noise, "cycle {cycle}");
        replaced_last = leaves.iter().filter(|l| on_disk.contains(*l)).count() as u64
            + u64::from(!on_disk.is_empty());
        on_disk.extend(leaves);
        flushes += 1;
        map_and_root += written + 4;
        scrubbed += noise;
    }
    // The cost, for the record: 32 data writes per flush, and per flush this many more.
    println!(
        "per flush: {} map and root writes, {} noise writes",
        map_and_root / flushes,
        scrubbed / flushes
    );
}
