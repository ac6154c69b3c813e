//! A dark medium: two deniable volumes on one 64 MiB image that is noise to everyone else.
//!
//! ```text
//! cargo run --release -p qsmm --example dark_medium -- medium.img
//! ```
//!
//! Formats the image file with CSPRNG noise (and leaves it there), creates a decoy volume and a
//! hidden volume above it, writes a few megabytes to each, reopens the file and shows that each
//! passphrase finds exactly its own data and a third finds nothing at all.
//!
//! The example uses a tiny Argon2id cost so that it runs in a blink; real media use
//! `Medium::open`, i.e. `KdfCost::DEFAULT`.

use std::time::Instant;

use qsmm::volume::{Error, KdfCost, Medium, Volume, format};

/// 64 MiB.
const MEDIUM_SIZE: u64 = 64 << 20;
/// Sectors written to each volume.
const SECTORS: u64 = 1024;

fn sector(name: &str, lba: u64) -> Vec<u8> {
    format!("{name} sector {lba} ")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(4096)
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: dark_medium <image path>")?;

    let started = Instant::now();
    format(&path, MEDIUM_SIZE, |done, total| {
        if done % (16 << 20) == 0 || done == total {
            println!("format: {} / {} MiB", done >> 20, total >> 20);
        }
    })?;
    println!("formatted {path} in {:?}", started.elapsed());

    let cost = KdfCost::DANGER_INSECURE_FOR_TESTS;
    let medium = Medium::open_with_kdf_cost(&path, cost)?;
    let started = Instant::now();
    let decoy = Volume::create(&medium, b"decoy passphrase", 16 << 20, &[])?;
    let hidden = Volume::create(&medium, b"hidden passphrase", 32 << 20, &[&decoy])?;
    for lba in 0..SECTORS {
        decoy.write(lba, &sector("decoy", lba))?;
        hidden.write(lba, &sector("hidden", lba))?;
    }
    decoy.close()?;
    hidden.close()?;
    println!(
        "wrote {} MiB to each volume in {:?}",
        (SECTORS * 4096) >> 20,
        started.elapsed()
    );
    drop(medium);

    let medium = Medium::open_with_kdf_cost(&path, cost)?;
    let mut buf = vec![0u8; 4096];
    for (name, passphrase) in [
        ("decoy", &b"decoy passphrase"[..]),
        ("hidden", b"hidden passphrase"),
    ] {
        let volume = Volume::open(&medium, passphrase)?;
        for lba in 0..SECTORS {
            volume.read(lba, &mut buf)?;
            if buf != sector(name, lba) {
                return Err(format!("{name} sector {lba} differs").into());
            }
        }
        println!(
            "{name}: {} bytes, all {SECTORS} sectors read back, {} blocks of the medium",
            volume.logical_size(),
            volume.physical_blocks().len()
        );
    }
    match Volume::open(&medium, b"a third passphrase") {
        Err(Error::NoVolume) => println!("a third passphrase finds no volume"),
        other => return Err(format!("a third passphrase: {other:?}").into()),
    }
    Ok(())
}
