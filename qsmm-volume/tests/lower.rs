//! Lower volumes: a passphrase change re-links the open volumes above; a lower volume that no
//! longer opens, a cycle of lower lists and a root with impossible sizes make the open fail with
//! a typed error (crafted roots written as an adversary who knows the passphrases would).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; sizes are tiny"
)]

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, Version};
use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_types::{BlockId, SecretKey, Threshold};
use qsmm_void::{BlockDevice, MemoryDevice};
use qsmm_volume::{Error, KdfCost, Medium, Volume};

#[path = "support/passphrase.rs"]
mod support;

use support::{create, rekey};

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const BLOCKS: u64 = 2048;

fn formatted() -> Arc<MemoryDevice> {
    let device = Arc::new(MemoryDevice::new(4096, BLOCKS).unwrap());
    qsmm_void::format(&*device).unwrap();
    device
}

#[test]
fn a_passphrase_change_below_an_open_volume_relinks_it() {
    let device = formatted();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let (low, _) = create(&medium, "low", 64 * 4096, &[]);
    let (high, pass_high) = create(&medium, "high", 64 * 4096, &[&low]);
    low.write(5, &[5; 4096]).unwrap();
    let pass_low = rekey(&low, "low-new");
    low.close().unwrap();
    high.close().unwrap();
    drop(medium);

    let medium = Medium::from_device(device, FAST).unwrap();
    let high = Volume::open(&medium, pass_high.as_bytes()).unwrap();
    // The high volume opened the low one under its new passphrase, so it protects it: the
    // blocks both hold are all used, and the low volume's data is intact after the high one
    // fills the medium's free space.
    let low = Volume::open(&medium, pass_low.as_bytes()).unwrap();
    let low_blocks = low.physical_blocks();
    drop(low);
    for lba in 0..64 {
        high.write(lba, &[9; 4096]).unwrap();
    }
    high.flush().unwrap();
    assert!(
        high.physical_blocks()
            .iter()
            .all(|b| low_blocks.binary_search(b).is_err())
    );
    let low = Volume::open(&medium, pass_low.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    low.read(5, &mut buf).unwrap();
    assert_eq!(buf, vec![5; 4096]);
}

#[test]
fn a_lower_volume_that_does_not_open_fails_the_open_and_says_which() {
    let device = formatted();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let (first, _) = create(&medium, "first", 64 * 4096, &[]);
    let (second, _) = create(&medium, "second", 64 * 4096, &[]);
    let (high, pass_high) = create(&medium, "high", 64 * 4096, &[&first, &second]);
    high.close().unwrap();
    // The high volume is closed while the second one changes its passphrase.
    rekey(&second, "second-new");
    first.close().unwrap();
    second.close().unwrap();
    drop(medium);

    let medium = Medium::from_device(device, FAST).unwrap();
    let free = medium.free_blocks();
    match Volume::open(&medium, pass_high.as_bytes()) {
        Err(e @ Error::LowerVolume { position: 1, .. }) => {
            assert!(
                e.to_string().contains("the 2 volume given to protect"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(medium.free_blocks(), free, "a failed open holds no block");
}

/// The mesh key of `passphrase` at the test cost, as the format derives it.
fn mesh_key(passphrase: &[u8], salt: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(64, 1, 1, Some(32)).unwrap(),
    )
    .hash_password_into(passphrase, salt, &mut key)
    .unwrap();
    key
}

/// Writes a root record (format 2, no index blocks) naming `lower` under `passphrase`.
fn craft_root(device: &MemoryDevice, passphrase: &[u8], logical_size: u64, lower: &[[u8; 32]]) {
    let mut block0 = vec![0u8; 4096];
    device.read_block(BlockId(0), &mut block0).unwrap();
    let salt: [u8; 32] = block0[..32].try_into().unwrap();
    let mut root = vec![2u8, lower.len() as u8];
    root.extend_from_slice(&[0x11; 32]);
    root.extend_from_slice(&[0x22; 16]);
    root.extend_from_slice(&logical_size.to_le_bytes());
    root.extend_from_slice(&0u32.to_le_bytes());
    for key in lower {
        root.extend_from_slice(key);
    }
    let mesh = MetadataMesh::new(MeshConfig::new(
        Threshold::try_new(2, 4).unwrap(),
        1024, // the largest power of two below the block count
    ));
    let keyed = mesh
        .for_key(&SecretKey::from_bytes(mesh_key(passphrase, &salt)), salt)
        .unwrap();
    for p in keyed.shard_metadata_generation(&root, 1 << 61).unwrap() {
        device
            .write_block(BlockId(p.target_block.get() + 1), &p.share)
            .unwrap();
    }
}

fn salt_of(device: &MemoryDevice) -> [u8; 32] {
    let mut block0 = vec![0u8; 4096];
    device.read_block(BlockId(0), &mut block0).unwrap();
    block0[..32].try_into().unwrap()
}

#[test]
fn a_cycle_of_lower_lists_is_refused() {
    let device = formatted();
    let salt = salt_of(&device);
    let (a, b) = (mesh_key(b"cycle a", &salt), mesh_key(b"cycle b", &salt));
    craft_root(&device, b"cycle a", 4096, &[b]);
    craft_root(&device, b"cycle b", 4096, &[a]);
    craft_root(&device, b"self", 4096, &[mesh_key(b"self", &salt)]);
    let medium = Medium::from_device(device, FAST).unwrap();
    for p in [&b"cycle a"[..], b"cycle b", b"self"] {
        assert!(matches!(Volume::open(&medium, p), Err(Error::LowerCycle)));
    }
    assert_eq!(
        medium.free_blocks(),
        BLOCKS - 1,
        "nothing held after the refusals"
    );
}

#[test]
fn a_root_larger_than_the_medium_is_refused_before_allocating() {
    let device = formatted();
    craft_root(&device, b"huge", u64::MAX - 4095, &[]);
    craft_root(&device, b"big", (BLOCKS + 1) * 4096, &[]);
    let medium = Medium::from_device(device, FAST).unwrap();
    for p in [&b"huge"[..], b"big"] {
        assert!(matches!(Volume::open(&medium, p), Err(Error::Integrity)));
    }
}
