//! What a coerced passphrase and a single image reveal: the coercion test (nothing that one
//! volume's key derives depends on another volume) and the statistical tests of the whole medium
//! after a mixed workload of three volumes.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_lossless,
    clippy::cast_sign_loss,
    reason = "tests panic on failure; test patterns truncate on purpose"
)]

use std::sync::Arc;

use qsmm_void::MemoryDevice;
use qsmm_void::stats::ImageReport;
use qsmm_volume::{Error, KdfCost, Medium, Volume};

#[path = "support/passphrase.rs"]
mod support;

use support::create;

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;

fn formatted(blocks: u64) -> Arc<MemoryDevice> {
    let device = Arc::new(MemoryDevice::new(4096, blocks).unwrap());
    qsmm_void::format(&*device).unwrap();
    device
}

/// Everything A's passphrase gives an adversary: A's blocks, A's generation, A's sectors.
fn view_of(device: Arc<MemoryDevice>, passphrase: &str, sectors: u64) -> (Vec<u64>, u64, Vec<u8>) {
    let medium = Medium::from_device(device, FAST).unwrap();
    let volume = Volume::open(&medium, passphrase.as_bytes()).unwrap();
    let mut data = vec![0u8; (sectors * 4096) as usize];
    volume.read(0, &mut data).unwrap();
    (volume.physical_blocks(), volume.generation(), data)
}

#[test]
fn a_coerced_passphrase_reveals_nothing_about_a_higher_volume() {
    let device = formatted(2048);
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let (a, pass_a) = create(&medium, "decoy", 64 * 4096, &[]);
    let (b, pass_b) = create(&medium, "hidden", 128 * 4096, &[&a]);
    for round in 0..3u8 {
        for lba in 0..64 {
            a.write(lba, &[round ^ lba as u8; 4096]).unwrap();
            b.write(lba * 2, &[0xB0 ^ round; 4096]).unwrap();
        }
        a.trim(round.into(), 3).unwrap();
        a.flush().unwrap();
        b.flush().unwrap();
    }
    let blocks_b = b.physical_blocks();
    a.close().unwrap();
    b.close().unwrap();
    drop(medium);

    // The adversary's view of A on the real image …
    let real = view_of(device.clone(), &pass_a, 64);
    assert!(
        real.0
            .iter()
            .all(|blk| blocks_b.binary_search(blk).is_err()),
        "A and B share a block"
    );

    // … is identical on an image where every block of B is replaced by fresh noise: nothing A's
    // key derives (root, map, block set, allocation) depends on B, so no gap or skipped
    // candidate of A points at B.
    let mut erased = device.to_bytes();
    let mut noise = vec![0u8; 4096];
    for &blk in &blocks_b {
        getrandom::fill(&mut noise).unwrap();
        erased[blk as usize * 4096..][..4096].copy_from_slice(&noise);
    }
    let erased = Arc::new(MemoryDevice::from_bytes(4096, erased).unwrap());
    let without_b = view_of(erased.clone(), &pass_a, 64);
    assert_eq!(real, without_b);
    // And on that image B is gone, as if it had never existed.
    let medium = Medium::from_device(erased, FAST).unwrap();
    assert!(matches!(
        Volume::open(&medium, pass_b.as_bytes()),
        Err(Error::NoVolume)
    ));

    // B's passphrase opens both (B's root holds A's root key), so B's writes never hit A.
    let medium = Medium::from_device(device, FAST).unwrap();
    let b = Volume::open(&medium, pass_b.as_bytes()).unwrap();
    let a = Volume::open(&medium, pass_a.as_bytes()).unwrap();
    let mut union = a.physical_blocks();
    union.extend(b.physical_blocks());
    let used = medium.block_count() - medium.free_blocks();
    assert_eq!(
        used,
        union.len() as u64 + 1,
        "block 0 (salt) and the blocks of A and B"
    );
}

#[test]
fn the_medium_looks_like_noise_after_a_mixed_workload() {
    let device = formatted(4096);
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let (v1, _) = create(&medium, "one", 1 << 20, &[]);
    let (v2, _) = create(&medium, "two", 2 << 20, &[&v1]);
    let (v3, _) = create(&medium, "three", 1 << 20, &[]);
    let text = b"very regular plaintext ".repeat(200);
    for round in 0..3u8 {
        for lba in 0..200u64 {
            v1.write(lba % 256, &[0u8; 4096]).unwrap();
            v2.write(lba * 2 % 512, &text[..4096]).unwrap();
            v3.write_at(lba * 1000, &[round; 1000]).unwrap();
        }
        v1.trim(10 * u64::from(round), 20).unwrap();
        v3.trim_at(5000, 30_000).unwrap();
        for v in [&v1, &v2, &v3] {
            v.flush().unwrap();
        }
    }
    for v in [v1, v2, v3] {
        v.close().unwrap();
    }
    let image = device.to_bytes();
    for period in [4096, 32] {
        let failures = ImageReport::new(&image, period).failures();
        assert!(failures.is_empty(), "period {period}: {failures:?}");
    }
    // The same tests catch a leak: one sector of zeros written unencrypted fails them.
    let mut leaked = image;
    leaked[8192..8192 + 4096].fill(0);
    assert!(!ImageReport::new(&leaked, 4096).failures().is_empty());
}
