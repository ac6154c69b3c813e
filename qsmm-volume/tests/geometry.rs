//! Geometry: a medium copied onto a larger file or device still opens every volume (root
//! positions depend on the medium's size only through a power of two, and an open tries the
//! smaller ones).
#![allow(clippy::unwrap_used, reason = "tests panic on failure")]

use std::io::Write as _;

use qsmm_volume::{KdfCost, Medium, Volume};

#[path = "support/passphrase.rs"]
mod support;

use support::create;

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;

#[test]
fn a_medium_copied_onto_a_larger_file_opens_every_volume() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.img");
    qsmm_volume::format(&small, 2 << 20, |_, _| {}).unwrap();
    let (pass_low, pass_high) = {
        let medium = Medium::open_with_kdf_cost(&small, FAST).unwrap();
        let (low, pass_low) = create(&medium, "low", 64 * 4096, &[]);
        let (high, pass_high) = create(&medium, "high", 64 * 4096, &[&low]);
        low.write(1, &[1; 4096]).unwrap();
        high.write(2, &[2; 4096]).unwrap();
        low.close().unwrap();
        high.close().unwrap();
        (pass_low, pass_high)
    };
    // Copies onto larger media: a little larger, past the next power of two, and four times
    // the size; the new tail is zeros (a sparse file) or noise.
    for (blocks, noise_tail) in [(600u64, false), (1500, true), (2048, false)] {
        let big = dir.path().join(format!("big-{blocks}.img"));
        std::fs::copy(&small, &big).unwrap();
        let mut file = std::fs::OpenOptions::new().append(true).open(&big).unwrap();
        if noise_tail {
            let mut tail = vec![0u8; usize::try_from(blocks - 512).unwrap() * 4096];
            getrandom::fill(&mut tail).unwrap();
            file.write_all(&tail).unwrap();
        } else {
            file.set_len(blocks * 4096).unwrap();
        }
        drop(file);
        let medium = Medium::open_with_kdf_cost(&big, FAST).unwrap();
        assert_eq!(medium.block_count(), blocks);
        let high = Volume::open(&medium, pass_high.as_bytes()).unwrap();
        let low = Volume::open(&medium, pass_low.as_bytes()).unwrap();
        let mut buf = vec![0u8; 4096];
        low.read(1, &mut buf).unwrap();
        assert_eq!(buf, vec![1; 4096]);
        high.read(2, &mut buf).unwrap();
        assert_eq!(buf, vec![2; 4096]);
        // They keep working there, and a new volume can join them.
        for lba in 0..64 {
            high.write(lba, &[3; 4096]).unwrap();
        }
        // High is still open: its blocks where the new root goes are moved (a closed one's
        // could not be).
        let (third, pass_third) = create(&medium, "third", 64 * 4096, &[&low]);
        high.close().unwrap();
        third.close().unwrap();
        low.close().unwrap();
        drop(medium);
        let medium = Medium::open_with_kdf_cost(&big, FAST).unwrap();
        let high = Volume::open(&medium, pass_high.as_bytes()).unwrap();
        high.read(63, &mut buf).unwrap();
        assert_eq!(buf, vec![3; 4096]);
        Volume::open(&medium, pass_third.as_bytes()).unwrap();
        let low = Volume::open(&medium, pass_low.as_bytes()).unwrap();
        low.read(1, &mut buf).unwrap();
        assert_eq!(buf, vec![1; 4096]);
    }
}
