//! The coercion test, written as the adversary would: given only an image of the medium and the
//! decoy's passphrase, derive every key the format derives from that passphrase and try to
//! open every block of the medium with each. What opens must be exactly the decoy's current and
//! fallback generation: no freed map block (the decoy's history), nothing of the volumes above.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    reason = "tests panic on failure; sizes are tiny"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, Version};
use qsmm_shatter::mesh::KeyedMesh;
use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_types::{BlockId, SecretKey, Threshold, derive_subkey, labels};
use qsmm_void::{MemoryDevice, Namespace, SectorCipher};
use qsmm_volume::{KdfCost, Medium, Volume};

#[path = "support/format_view.rs"]
mod format_view;

use format_view::{RootView, map_aad, parse_pointers, parse_root, sector_aad};
#[path = "support/passphrase.rs"]
mod support;

use support::{create, rekey};

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const BLOCK: usize = 4096;
const BLOCKS: u64 = 4096;
/// Generations below the current one the adversary tries for each map block.
const WINDOW: u32 = 48;

fn formatted() -> Arc<MemoryDevice> {
    let device = Arc::new(MemoryDevice::new(BLOCK, BLOCKS).unwrap());
    qsmm_void::format(&*device).unwrap();
    device
}

/// A small deterministic generator for the workload.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

const DECOY_SECTORS: u64 = 168;
const HIDDEN_SECTORS: u64 = 120;
const THIRD_SECTORS: u64 = 80;

/// Three volumes (the decoy, a hidden one protecting it, an unrelated third) through a mixed
/// workload: overwrites, trims, passphrase changes, 24 flushes of each and reopens. Returns
/// the image and the decoy's passphrase.
fn workload() -> (Arc<MemoryDevice>, String) {
    let device = formatted();
    let mut medium = Medium::from_device(device.clone(), FAST).unwrap();
    let (decoy, pass_d) = create(&medium, "decoy", DECOY_SECTORS * 4096, &[]);
    let (hidden, mut pass_h) = create(&medium, "hidden", HIDDEN_SECTORS * 4096, &[&decoy]);
    let (third, mut pass_t) = create(&medium, "third", THIRD_SECTORS * 4096, &[]);
    let mut vols = Some((decoy, hidden, third));
    let mut rng = Lcg(7);
    for round in 0..24u64 {
        let (d, h, t) = vols.take().unwrap();
        for _ in 0..40 {
            d.write(rng.next(DECOY_SECTORS), &[round as u8; 4096])
                .unwrap();
            h.write(rng.next(HIDDEN_SECTORS), &[0xB0; 4096]).unwrap();
            t.write(rng.next(THIRD_SECTORS), &[0x70; 4096]).unwrap();
        }
        d.trim(rng.next(DECOY_SECTORS - 20), 20).unwrap();
        h.trim(rng.next(HIDDEN_SECTORS - 10), 10).unwrap();
        if round == 9 {
            pass_t = rekey(&t, &pass_t);
        }
        if round == 17 {
            pass_h = rekey(&h, &pass_h);
        }
        for v in [&d, &h, &t] {
            v.flush().unwrap();
        }
        if round % 3 == 2 {
            // Every other reopen follows a plain drop after the flush (as after a crash or a
            // killed server): the fallback root then still references blocks the current one
            // does not, and the reopened volume must free them as carefully as it would have.
            for v in [d, h, t] {
                if round % 2 == 0 {
                    v.close().unwrap();
                } else {
                    drop(v);
                }
            }
            drop(medium);
            medium = Medium::from_device(device.clone(), FAST).unwrap();
            let h = Volume::open(&medium, pass_h.as_bytes()).unwrap();
            let d = Volume::open(&medium, pass_d.as_bytes()).unwrap();
            let t = Volume::open(&medium, pass_t.as_bytes()).unwrap();
            vols = Some((d, h, t));
        } else {
            vols = Some((d, h, t));
        }
    }
    let (d, h, t) = vols.take().unwrap();
    for v in [d, h, t] {
        v.close().unwrap();
    }
    (device, pass_d)
}

/// Everything the adversary derives from a passphrase, and what it finds with it.
struct Adversary {
    image: Vec<u8>,
    salt: [u8; 32],
    keyed: KeyedMesh,
}

/// The map keys of one root, in both formats' shapes.
struct MapKeys {
    cipher: SectorCipher,
    namespace: Namespace,
}

/// What the adversary opened, block → what opened it.
type Opened = BTreeMap<u64, String>;

impl Adversary {
    fn new(image: Vec<u8>, passphrase: &str) -> Self {
        let salt: [u8; 32] = image[..32].try_into().unwrap();
        // The format's KDF at the cost the medium was used with.
        let params = Params::new(64, 1, 1, Some(32)).unwrap();
        let mut key = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.as_bytes(), &salt, &mut key)
            .unwrap();
        let blocks = image.len() as u64 / BLOCK as u64;
        let mesh = MetadataMesh::new(MeshConfig::new(
            Threshold::try_new(2, 4).unwrap(),
            1 << (63 - (blocks - 1).leading_zeros()),
        ));
        let keyed = mesh.for_key(&SecretKey::from_bytes(key), salt).unwrap();
        Self { image, salt, keyed }
    }

    fn block(&self, b: u64) -> &[u8] {
        &self.image[b as usize * BLOCK..][..BLOCK]
    }

    fn blocks(&self) -> u64 {
        self.image.len() as u64 / BLOCK as u64
    }

    /// The root in each mesh slot that reconstructs (current first), and the share blocks
    /// that opened.
    fn roots(&self) -> (Vec<RootView>, BTreeSet<u64>) {
        let positions = self.keyed.blocks_to_read();
        let mut roots = Vec::new();
        let mut shares = BTreeSet::new();
        for slot in positions.chunks(positions.len() / 2) {
            let read: Vec<(BlockId, Vec<u8>)> = slot
                .iter()
                .map(|&id| (id, self.block(id.get() + 1).to_vec()))
                .collect();
            if let Ok(root) = self.keyed.read_latest(&read) {
                shares.extend(slot.iter().map(|id| id.get() + 1));
                roots.push(parse_root(root.generation, &root.metadata));
            }
        }
        roots.sort_by_key(|r| std::cmp::Reverse(r.generation));
        (roots, shares)
    }

    /// Opens map block `b` as format 1 (a sealed namespace block) or format 2 (detached, with
    /// kind, number and generation bound): returns the plaintext.
    fn open_map(
        &self,
        root: &RootView,
        keys: &MapKeys,
        b: u64,
        kind: u8,
        number: u64,
        generation: u32,
    ) -> Option<Vec<u8>> {
        if root.version == 1 {
            return keys
                .namespace
                .open_block(self.block(b), BlockId(b))
                .unwrap();
        }
        let cipher = &keys.cipher;
        let bytes = self.block(b);
        let nonce: [u8; 24] = bytes[..24].try_into().unwrap();
        let tag: [u8; 16] = bytes[24..40].try_into().unwrap();
        let mut plain = bytes[40..].to_vec();
        let aad = map_aad(&root.volume_id, kind, number, generation, b);
        cipher
            .decrypt_in_place_detached(&nonce, &aad, &mut plain, &tag)
            .ok()
            .map(|()| plain)
    }

    /// The map keys of a root.
    fn map_keys(&self, root: &RootView) -> MapKeys {
        let key = || {
            derive_subkey(
                &SecretKey::from_bytes(root.volume_key),
                &self.salt,
                labels::VOLUME_MAP,
            )
        };
        MapKeys {
            cipher: SectorCipher::new(key().as_bytes()),
            namespace: Namespace::new(key(), self.salt).unwrap(),
        }
    }

    /// Every block a root references: index blocks, leaves, data blocks.
    fn reachable(&self, root: &RootView) -> BTreeSet<u64> {
        let keys = self.map_keys(root);
        let mut out = BTreeSet::new();
        let leaves = (root.logical_size / 4096).div_ceil(84);
        let per_index: u64 = if root.version == 1 { 506 } else { 338 };
        for (i, &(index_block, gen_)) in (0u64..).zip(&root.index) {
            if index_block == 0 {
                continue;
            }
            out.insert(index_block);
            let plain = self
                .open_map(root, &keys, index_block, 1, i, gen_)
                .expect("the adversary opens the current map");
            let first = i * per_index;
            let count = (leaves - first).min(per_index);
            for (n, (leaf, leaf_gen)) in
                (first..first + count).zip(parse_pointers(root.version, &plain))
            {
                if leaf == 0 {
                    continue;
                }
                out.insert(leaf);
                let plain = self
                    .open_map(root, &keys, leaf, 0, n, leaf_gen)
                    .expect("the adversary opens the current leaves");
                for chunk in plain.chunks_exact(48).take(84) {
                    let b = u64::from_le_bytes(chunk[..8].try_into().unwrap());
                    if b != 0 {
                        out.insert(b);
                    }
                }
            }
        }
        out
    }

    /// Trial-opens every block outside `known` with every map key, kind, number and recent
    /// generation, and every data block named by an opened leaf with the data key.
    fn trial_open_all(&self, root: &RootView, known: &BTreeSet<u64>) -> Opened {
        let keys = self.map_keys(root);
        let mut opened = Opened::new();
        let leaves = (root.logical_size / 4096).div_ceil(84);
        let index_blocks = root.index.len() as u64;
        let generations: Vec<u32> = if root.version == 1 {
            vec![0]
        } else {
            let g = root.generation as u32;
            (0..=WINDOW).map(|d| g.wrapping_sub(d)).collect()
        };
        let data_key = derive_subkey(
            &SecretKey::from_bytes(root.volume_key),
            &self.salt,
            labels::VOLUME_DATA,
        );
        let data = SectorCipher::new(data_key.as_bytes());
        for b in 1..self.blocks() {
            if known.contains(&b) {
                continue;
            }
            'found: for &g in &generations {
                for (kind, count) in [(0u8, leaves), (1, index_blocks)] {
                    for number in 0..count {
                        let Some(plain) = self.open_map(root, &keys, b, kind, number, g) else {
                            continue;
                        };
                        opened.insert(b, format!("map kind {kind} #{number} gen {g}"));
                        if kind == 0 {
                            // A stale leaf: do the data blocks it names still open?
                            for (lba, chunk) in (number * 84..).zip(plain.chunks_exact(48).take(84))
                            {
                                let db = u64::from_le_bytes(chunk[..8].try_into().unwrap());
                                if db == 0 || known.contains(&db) || db >= self.blocks() {
                                    continue;
                                }
                                let mut buf = self.block(db).to_vec();
                                let aad = sector_aad(&root.volume_id, lba, db);
                                let nonce: [u8; 24] = chunk[8..32].try_into().unwrap();
                                let tag: [u8; 16] = chunk[32..48].try_into().unwrap();
                                if data
                                    .decrypt_in_place_detached(&nonce, &aad, &mut buf, &tag)
                                    .is_ok()
                                {
                                    opened.insert(db, format!("old data of sector {lba}"));
                                }
                            }
                        }
                        break 'found;
                    }
                }
            }
        }
        opened
    }

    /// The adversary's whole view: roots, what they reference, and what else opens.
    fn view(&self) -> (BTreeSet<u64>, Opened, Vec<u8>) {
        let (roots, shares) = self.roots();
        assert!(!roots.is_empty(), "the decoy's passphrase opens its root");
        let mut known: BTreeSet<u64> = shares;
        for root in &roots {
            known.extend(self.reachable(root));
        }
        let opened = self.trial_open_all(&roots[0], &known);
        let mut contents = Vec::new();
        for &b in &known {
            contents.extend_from_slice(self.block(b));
        }
        (known, opened, contents)
    }
}

#[test]
fn a_surrendered_passphrase_opens_only_the_current_and_fallback_generation() {
    let (device, pass_d) = workload();
    let adversary = Adversary::new(device.to_bytes(), &pass_d);
    let (known, opened, _) = adversary.view();
    assert!(known.len() > 10, "the adversary finds the decoy: {known:?}");
    assert!(
        opened.is_empty(),
        "blocks outside the decoy's current and fallback generation open with its keys \
         (its history): {opened:?}"
    );
}

#[test]
fn the_decoys_view_including_its_history_is_the_same_without_the_other_volumes() {
    let (device, pass_d) = workload();
    let image = device.to_bytes();
    let real = Adversary::new(image.clone(), &pass_d).view();
    // The image where every block outside the decoy's two generations (and block 0) is fresh
    // noise: no other volume, no history.
    let mut erased = image;
    let mut noise = vec![0u8; BLOCK];
    for b in 1..BLOCKS {
        if !real.0.contains(&b) {
            getrandom::fill(&mut noise).unwrap();
            erased[b as usize * BLOCK..][..BLOCK].copy_from_slice(&noise);
        }
    }
    let without = Adversary::new(erased, &pass_d).view();
    assert_eq!(real.0, without.0, "the decoy's block sets differ");
    assert_eq!(
        real.1, without.1,
        "what else opens differs: the history shows other writers"
    );
    assert!(real.2 == without.2, "the decoy's blocks differ");
}

#[test]
fn the_root_generation_does_not_count_flushes() {
    let device = formatted();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let (a, pass_a) = create(&medium, "fresh", 16 * 4096, &[]);
    let (b, pass_b) = create(&medium, "busy", 16 * 4096, &[]);
    for i in 0..30 {
        b.write(i % 16, &[1; 4096]).unwrap();
        b.flush().unwrap();
    }
    a.close().unwrap();
    b.close().unwrap();
    drop(medium);
    let image = device.to_bytes();
    let (roots_a, _) = Adversary::new(image.clone(), &pass_a).roots();
    let (roots_b, _) = Adversary::new(image, &pass_b).roots();
    let (ga, gb) = (roots_a[0].generation, roots_b[0].generation);
    // A volume never flushed and one flushed 30 times: their generations say nothing of it
    // (each starts at a random value).
    assert!(ga > 1 << 32 && gb > 1 << 32, "{ga} {gb}");
    assert_ne!(gb.wrapping_sub(ga), 30);
}

#[test]
fn an_old_passphrase_opens_nothing_after_a_change() {
    let device = formatted();
    let medium = Medium::from_device(device.clone(), FAST).unwrap();
    let (v, old) = create(&medium, "old", 32 * 4096, &[]);
    for i in 0..32 {
        v.write(i, &[3; 4096]).unwrap();
    }
    v.flush().unwrap();
    rekey(&v, "the new one");
    v.close().unwrap();
    drop(medium);
    let adversary = Adversary::new(device.to_bytes(), &old);
    let (roots, shares) = adversary.roots();
    assert!(roots.is_empty() && shares.is_empty());
    // Every share position of the old key holds noise to it.
    for &id in adversary.keyed.blocks_to_read() {
        let read = [(id, adversary.block(id.get() + 1).to_vec())];
        assert!(adversary.keyed.read_latest(&read).is_err());
    }
}
