//! Closing order: a volume closed while another volume of the medium is still open keeps its
//! blocks taken, so the other volume's last flush cannot land on them, whatever the order in
//! which a server closes its volumes.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; sizes are tiny"
)]

use std::sync::Arc;

use qsmm_void::MemoryDevice;
use qsmm_volume::{KdfCost, Medium, Volume};

#[path = "support/passphrase.rs"]
mod support;

use support::create;

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
/// Small enough that the lower volume's writes take most of the free blocks.
const BLOCKS: u64 = 512;

fn sector(lba: u64) -> [u8; 4096] {
    [0xA5 ^ lba as u8; 4096]
}

#[test]
fn a_higher_volume_closed_first_keeps_its_blocks_from_the_lower_volumes_last_flush() {
    for round in 0..8 {
        let device = Arc::new(MemoryDevice::new(4096, BLOCKS).unwrap());
        qsmm_void::format(&*device).unwrap();
        let medium = Medium::from_device(device.clone(), FAST).unwrap();
        let (low, _) = create(&medium, "low", 128 * 4096, &[]);
        let (high, pass_high) = create(&medium, "high", 128 * 4096, &[&low]);
        for lba in 0..32 {
            high.write(lba, &sector(lba)).unwrap();
        }
        high.flush().unwrap();
        // Unflushed writes of the lower volume: its close flushes them after the higher volume
        // is gone (a server closing its exports in the order they were listed).
        for lba in 0..128 {
            low.write(lba, &[7; 4096]).unwrap();
        }
        high.close().unwrap();
        low.close().unwrap();
        drop(medium);

        let medium = Medium::from_device(device, FAST).unwrap();
        let high = Volume::open(&medium, pass_high.as_bytes()).unwrap();
        for lba in 0..32 {
            let mut buf = [0u8; 4096];
            high.read(lba, &mut buf)
                .unwrap_or_else(|e| panic!("round {round}, sector {lba}: {e}"));
            assert_eq!(buf, sector(lba), "round {round}, sector {lba}");
        }
    }
}
