//! Target for `qsmm-volume`: opening a volume whose root, lower roots and map blocks the input
//! crafts, under passphrases the adversary knows.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, Version};
use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_types::{SecretKey, Threshold, derive_subkey, labels};
use qsmm_void::{BlockDevice, MemoryDevice, SectorCipher};
use qsmm_volume::{Error, KdfCost, Medium, Volume};

/// Blocks of the crafted medium (1 MiB, the smallest a medium may be).
pub const VOLUME_BLOCKS: u64 = 256;

/// The passphrase of the volume the target opens.
pub const VOLUME_PASSPHRASE: &[u8] = b"fuzz volume";

/// The passphrase of the second crafted volume (a lower volume, or a cycle back).
pub const LOWER_PASSPHRASE: &[u8] = b"fuzz lower";

/// A medium of deterministic noise (a fixed xorshift stream): the same input crafts the same
/// medium, with the same salt and so the same root positions.
fn noise_medium() -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut image = Vec::with_capacity(VOLUME_BLOCKS as usize * 4096);
    while image.len() < VOLUME_BLOCKS as usize * 4096 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        image.extend_from_slice(&state.to_le_bytes());
    }
    image
}

/// The mesh key of `passphrase` at the test cost (64 KiB, 1 pass).
pub fn volume_mesh_key(passphrase: &[u8], salt: &[u8]) -> Option<SecretKey> {
    let params = Params::new(64, 1, 1, Some(32)).ok()?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut key)
        .ok()?;
    Some(SecretKey::from_bytes(key))
}

/// Writes `metadata` as root generation `generation` of `passphrase` into `image`.
fn write_root(image: &mut [u8], passphrase: &[u8], metadata: &[u8], generation: u64) -> Option<()> {
    let salt: [u8; 32] = image.get(..32)?.try_into().ok()?;
    let key = volume_mesh_key(passphrase, &salt)?;
    let mesh = MetadataMesh::new(MeshConfig::new(
        Threshold::try_new(2, 4).ok()?,
        128, // root positions: the largest power of two below the block count
    ));
    let keyed = mesh.for_key(&key, salt).ok()?;
    for p in keyed.shard_metadata_generation(metadata, generation).ok()? {
        let at = usize::try_from(p.target_block.get() + 1).ok()? * 4096;
        image.get_mut(at..at + 4096)?.copy_from_slice(&p.share);
    }
    Some(())
}

/// Seals `plain` as map block `number` of `kind` at `block`, generation `generation`, under the
/// map key of the volume key and volume id found in `root` (format 2, see `qsmm-volume`'s
/// `map` module).
fn seal_map(
    image: &mut [u8],
    root: &[u8],
    block: u64,
    kind: u8,
    number: u64,
    generation: u32,
    plain: &[u8],
) -> Option<()> {
    let salt: [u8; 32] = image.get(..32)?.try_into().ok()?;
    let volume_key: [u8; 32] = root.get(2..34)?.try_into().ok()?;
    let volume_id = root.get(34..50)?;
    let map_key = derive_subkey(
        &SecretKey::from_bytes(volume_key),
        &salt,
        labels::VOLUME_MAP,
    );
    let cipher = SectorCipher::new(map_key.as_bytes());
    let mut aad = b"qsmm/v2/vol/map_".to_vec();
    aad.extend_from_slice(volume_id);
    aad.push(kind);
    aad.extend_from_slice(&number.to_le_bytes());
    aad.extend_from_slice(&generation.to_le_bytes());
    aad.extend_from_slice(&block.to_le_bytes());
    let mut body = vec![0u8; 4056];
    let n = plain.len().min(body.len());
    body.get_mut(..n)?.copy_from_slice(plain.get(..n)?);
    let nonce = [0x42u8; 24];
    let tag = cipher.encrypt_in_place_detached(&nonce, &aad, &mut body);
    let at = usize::try_from(block).ok()? * 4096;
    let out = image.get_mut(at..at + 4096)?;
    out.get_mut(..24)?.copy_from_slice(&nonce);
    out.get_mut(24..40)?.copy_from_slice(&tag);
    out.get_mut(40..)?.copy_from_slice(&body);
    Some(())
}

/// A valid input: a 16-sector volume whose index block (block 200) points at one leaf (block
/// 201) mapping nothing, and a second root naming the first as its lower volume.
#[must_use]
pub fn volume_open_seed() -> Vec<u8> {
    let generation: u64 = (1 << 61) + 5;
    let pointer = |block: u64| {
        let mut p = block.to_le_bytes().to_vec();
        p.extend_from_slice(&((generation + 1) as u32).to_le_bytes());
        p
    };
    let root_record = |lower: Option<&[u8]>| {
        let mut r = vec![2u8, u8::from(lower.is_some())];
        r.extend_from_slice(&[7u8; 32]);
        r.extend_from_slice(&[8u8; 16]);
        r.extend_from_slice(&(16u64 * 4096).to_le_bytes());
        r.extend_from_slice(&1u32.to_le_bytes());
        if let Some(key) = lower {
            r.extend_from_slice(key);
        }
        r.extend_from_slice(&pointer(200));
        r
    };
    let root = root_record(None);
    let salt: [u8; 32] = noise_medium()
        .get(..32)
        .and_then(|s| s.try_into().ok())
        .unwrap_or_default();
    let lower_key = volume_mesh_key(VOLUME_PASSPHRASE, &salt)
        .map(|k| *k.as_bytes())
        .unwrap_or_default();
    let second = root_record(Some(&lower_key));
    let mut out = generation.to_le_bytes().to_vec();
    for r in [&root, &second] {
        out.extend_from_slice(&u16::try_from(r.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(r);
    }
    let gen32 = ((generation + 1) as u32).to_le_bytes();
    let index = pointer(201);
    out.extend_from_slice(&[200, 1, 0, gen32[0], gen32[1], gen32[2], gen32[3]]);
    out.extend_from_slice(&u16::try_from(index.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&index);
    out.extend_from_slice(&[201, 0, 0, gen32[0], gen32[1], gen32[2], gen32[3], 0, 0]);
    out
}

/// Splits off a record: a u16 little-endian length, then that many bytes.
fn record(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    rest.split_at_checked(usize::from(u16::from_le_bytes(*len)))
}

/// `Volume::open` on a medium the input crafts. Input: generation (u64), the volume's root
/// record and the second volume's (u16-length-prefixed each; empty = none), then map blocks:
/// `block (u8), kind (u8), number (u8), generation (u32), plaintext (u16-length-prefixed)`,
/// sealed under the map key of the volume key in the first root.
///
/// - opening either volume returns a volume or a typed error, never a panic, a hang or a huge allocation,
///   and never [`Error::Internal`];
/// - an opened volume is no larger than the medium; each sector reads or fails `Integrity`;
/// - a sector written and flushed reads back after a reopen.
///
/// # Panics
///
/// When a property fails.
pub fn volume_open(data: &[u8]) {
    let Some((generation, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let generation = u64::from_le_bytes(*generation);
    let Some((root, rest)) = record(rest) else {
        return;
    };
    let Some((lower, mut rest)) = record(rest) else {
        return;
    };
    let mut image = noise_medium();
    if !root.is_empty() && write_root(&mut image, VOLUME_PASSPHRASE, root, generation).is_none() {
        return;
    }
    if !lower.is_empty() && write_root(&mut image, LOWER_PASSPHRASE, lower, generation).is_none() {
        return;
    }
    while let Some((head, tail)) = rest.split_first_chunk::<7>() {
        let Some((plain, tail)) = record(tail) else {
            break;
        };
        let [block, kind, number, g0, g1, g2, g3] = *head;
        let map_generation = u32::from_le_bytes([g0, g1, g2, g3]);
        seal_map(
            &mut image,
            root,
            u64::from(block),
            kind,
            u64::from(number),
            map_generation,
            plain,
        );
        rest = tail;
    }
    let Ok(device) = MemoryDevice::from_bytes(4096, image) else {
        return;
    };
    let device: Arc<dyn BlockDevice + Send + Sync> = Arc::new(device);
    check(&device);
}

fn check(device: &Arc<dyn BlockDevice + Send + Sync>) {
    let fast = KdfCost::DANGER_INSECURE_FOR_TESTS;
    // The second volume first: its root may name the first as a lower volume, or a cycle.
    if let Ok(medium) = Medium::from_device(device.clone(), fast)
        && let Err(Error::Internal(what)) = Volume::open(&medium, LOWER_PASSPHRASE)
    {
        panic!("an internal error on open: {what}");
    }
    let Ok(medium) = Medium::from_device(device.clone(), fast) else {
        return;
    };
    let volume = match Volume::open(&medium, VOLUME_PASSPHRASE) {
        Ok(v) => v,
        Err(Error::Internal(what)) => panic!("an internal error on open: {what}"),
        Err(_) => return,
    };
    assert!(
        volume.logical_size() <= medium.size(),
        "larger than the medium"
    );
    let mut buf = vec![0u8; 4096];
    let sectors = volume.logical_size() / 4096;
    for lba in 0..sectors {
        match volume.read(lba, &mut buf) {
            Ok(()) | Err(Error::Integrity) => {}
            Err(e) => panic!("reading sector {lba}: {e:?}"),
        }
    }
    let written = [0xA5u8; 4096];
    let durable = volume.write(0, &written).is_ok() && volume.flush().is_ok();
    drop(volume);
    if durable {
        let volume = match Volume::open(&medium, VOLUME_PASSPHRASE) {
            Ok(v) => v,
            Err(e) => panic!("no reopen after a flush: {e:?}"),
        };
        if let Err(e) = volume.read(0, &mut buf) {
            panic!("the flushed sector does not read: {e:?}");
        }
        assert_eq!(buf, written, "a flushed sector changed");
    }
}
