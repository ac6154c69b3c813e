//! A dark medium: two namespaces on one 64 MiB image that is noise to everyone else.
//!
//! ```text
//! cargo run --release -p qsmm --features shatter --example dark_medium -- medium.img
//! ```
//!
//! Formats the image file with CSPRNG noise (and leaves it there), writes a volume for each of
//! two keys (a metadata root in the Shamir mesh, an extent map, a few hundred data blocks),
//! reopens the file and shows that each key finds exactly its own data and a third key finds
//! nothing at all.

mod volume;

use std::collections::BTreeSet;
use std::time::Instant;

use qsmm::types::{BlockId, Result, SecretKey};
use qsmm::void::{BlockDevice, BlockSize, FileDevice, Namespace, format_with_progress};

/// Public per-medium salt of every key derivation (a serial number, say).
const HW_ENTROPY: &[u8] = b"dark-medium example serial 0001";

/// 64 MiB of 4 KiB blocks.
const BLOCKS: u64 = 16_384;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: dark_medium <image path>")?;

    let started = Instant::now();
    let device = FileDevice::create(&path, BlockSize::DEFAULT.get(), BLOCKS)?;
    format_with_progress(&device, |done, total| {
        if done % 4096 == 0 || done == total {
            println!("format: {done}/{total} blocks");
        }
    })?;
    println!("formatted {path} (64 MiB) in {:?}", started.elapsed());

    let alice = SecretKey::generate();
    let bob = SecretKey::generate();
    let stranger = SecretKey::generate();
    let alice_data = contents("alice", 300);
    let bob_data = contents("bob", 250);

    // Both namespaces are open while writing, so neither overwrites the other.
    let started = Instant::now();
    let mut in_use = BTreeSet::new();
    in_use.extend(volume::mesh_blocks(&device, &alice, HW_ENTROPY)?);
    in_use.extend(volume::mesh_blocks(&device, &bob, HW_ENTROPY)?);
    let alice_ids = volume::create(&device, &alice, HW_ENTROPY, &alice_data, &mut in_use)?;
    let bob_ids = volume::create(&device, &bob, HW_ENTROPY, &bob_data, &mut in_use)?;
    println!(
        "wrote {} + {} data blocks and two mesh roots in {:?}",
        alice_ids.len(),
        bob_ids.len(),
        started.elapsed()
    );
    drop(device);

    let device = FileDevice::open(&path, BlockSize::DEFAULT.get())?;
    let started = Instant::now();
    check(
        volume::open(&device, &alice, HW_ENTROPY)? == Some(alice_data),
        "alice reads back her volume",
    )?;
    check(
        volume::open(&device, &bob, HW_ENTROPY)? == Some(bob_data),
        "bob reads back his volume",
    )?;
    check(
        volume::open(&device, &stranger, HW_ENTROPY)?.is_none(),
        "a third key finds no volume",
    )?;
    println!("reopened: alice and bob read back their volumes, a third key finds no root");

    // Scan every block with each key's namespace: each opens only its own blocks.
    for (name, key, expected) in [
        ("alice", &alice, Some(alice_ids.len())),
        ("bob", &bob, Some(bob_ids.len())),
        ("stranger", &stranger, None),
    ] {
        let opened = scan(&device, key)?;
        println!("{name}: {opened} of {BLOCKS} blocks open under this key");
        // Data blocks plus the one extent-map block; nothing for the stranger.
        check(
            opened == expected.map_or(0, |data| data + 1),
            "each key opens exactly its own blocks",
        )?;
    }
    println!(
        "verified in {:?}; the image is left at {path}",
        started.elapsed()
    );
    Ok(())
}

/// Turns a failed expectation into an error.
fn check(ok: bool, what: &str) -> std::result::Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("expectation failed: {what}"))
    }
}

/// Deterministic but distinct contents for `count` blocks of a volume.
fn contents(name: &str, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("{name}'s block {i}: {}", "lorem ipsum ".repeat(i % 300)).into_bytes())
        .collect()
}

/// How many blocks of the medium open under the data namespace of `key`.
fn scan(device: &dyn BlockDevice, key: &SecretKey) -> Result<usize> {
    let namespace = Namespace::new(key.clone_key(), HW_ENTROPY)?;
    let mut opened = 0;
    for id in 0..device.block_count() {
        if namespace.read_block(device, BlockId(id))?.is_some() {
            opened += 1;
        }
    }
    Ok(opened)
}
