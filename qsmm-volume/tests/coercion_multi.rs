//! The coercion test in multi-snapshot mode, written as the adversary would: given only an
//! image of the medium and the decoy's passphrase, derive the keys the format derives from it,
//! find the decoy's root by trying every block of the root area, and try to open every other
//! block of the medium with its map and data keys. What opens must be the decoy's current
//! generation and nothing else: no older root, none of its history beyond the blocks its last
//! commit freed, nothing of the volumes above; and the decoy's whole view must be the same on
//! an image where everything else is fresh noise.
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
use qsmm_types::{SecretKey, derive_subkey, labels};
use qsmm_void::{MemoryDevice, SectorCipher};
use qsmm_volume::{Error, KdfCost, Medium, SnapshotMode, Volume};

#[path = "support/format_view.rs"]
mod format_view;

use format_view::{RootView, map_aad, parse_pointers, parse_root, sector_aad};

const FAST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const MULTI: SnapshotMode = SnapshotMode::Multi;
const BLOCK: usize = 4096;
const BLOCKS: u64 = 4096;
/// The root area: blocks 1..=128.
const ROOT_AREA: core::ops::Range<u64> = 1..129;
/// Generations below the current one the adversary tries for each map block.
const WINDOW: u32 = 48;

fn formatted() -> Arc<MemoryDevice> {
    let device = Arc::new(MemoryDevice::new(BLOCK, BLOCKS).unwrap());
    qsmm_void::format(&*device).unwrap();
    device
}

fn create(medium: &Medium, passphrase: &str, size: u64, protect: &[&Volume]) -> (Volume, String) {
    for attempt in 0..40 {
        let p = format!("{passphrase}#{attempt}");
        match Volume::create_with_mode(medium, p.as_bytes(), size, protect, MULTI) {
            Ok(v) => return (v, p),
            Err(Error::PassphraseCollision | Error::RootBlocksHeld) => {}
            Err(e) => panic!("create {p}: {e}"),
        }
    }
    panic!("40 collisions in a row");
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

/// The decoy, a hidden volume above it and an unrelated third base volume through a mixed
/// workload: overwrites, trims, a passphrase change of the hidden volume, 24 flushes of each
/// and a remount every third round (closing, or dropping as a killed server would). Returns
/// the image and the decoy's passphrase.
fn workload() -> (Arc<MemoryDevice>, String) {
    let device = formatted();
    let mut medium = Medium::from_device(device.clone(), FAST).unwrap();
    let (decoy, pass_d) = create(&medium, "decoy", DECOY_SECTORS * 4096, &[]);
    let (hidden, mut pass_h) = create(&medium, "hidden", HIDDEN_SECTORS * 4096, &[&decoy]);
    let (third, pass_t) = create(&medium, "third", THIRD_SECTORS * 4096, &[]);
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
        if round == 17 {
            let p = format!("{pass_h}+");
            h.change_passphrase(p.as_bytes()).unwrap();
            pass_h = p;
        }
        for v in [&h, &d, &t] {
            v.flush().unwrap();
        }
        if round % 3 == 2 {
            // Higher volumes close first; every other remount follows a plain drop.
            for v in [h, d, t] {
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
    for v in [h, d, t] {
        v.close().unwrap();
    }
    (device, pass_d)
}

/// Everything the adversary derives from a passphrase.
struct Adversary {
    image: Vec<u8>,
    salt: [u8; 32],
    root_key: SecretKey,
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
        let root_key = derive_subkey(&SecretKey::from_bytes(key), &salt, labels::VOLUME_ROOT_AREA);
        Self {
            image,
            salt,
            root_key,
        }
    }

    fn block(&self, b: u64) -> &[u8] {
        &self.image[b as usize * BLOCK..][..BLOCK]
    }

    fn blocks(&self) -> u64 {
        self.image.len() as u64 / BLOCK as u64
    }

    /// Every block of the root area that opens with the root key: `(block, root)`.
    fn roots(&self) -> Vec<(u64, RootView)> {
        let cipher = SectorCipher::new(self.root_key.as_bytes());
        let mut out = Vec::new();
        for b in ROOT_AREA {
            let bytes = self.block(b);
            let nonce: [u8; 24] = bytes[..24].try_into().unwrap();
            let tag: [u8; 16] = bytes[24..40].try_into().unwrap();
            let mut plain = bytes[40..].to_vec();
            let mut aad = b"qsmm/v1/vol/rare".to_vec();
            aad.extend_from_slice(&b.to_le_bytes());
            if cipher
                .decrypt_in_place_detached(&nonce, &aad, &mut plain, &tag)
                .is_err()
            {
                continue;
            }
            assert_eq!(plain[0], 1, "root-area block version");
            let generation = u64::from_le_bytes(plain[1..9].try_into().unwrap());
            let len = usize::from(u16::from_le_bytes(plain[9..11].try_into().unwrap()));
            out.push((b, parse_root(generation, &plain[11..11 + len])));
        }
        out
    }

    /// Opens map block `b` (detached, with kind, number and generation bound).
    fn open_map(
        &self,
        root: &RootView,
        b: u64,
        kind: u8,
        number: u64,
        generation: u32,
    ) -> Option<Vec<u8>> {
        let bytes = self.block(b);
        let nonce: [u8; 24] = bytes[..24].try_into().unwrap();
        let tag: [u8; 16] = bytes[24..40].try_into().unwrap();
        let mut plain = bytes[40..].to_vec();
        let aad = map_aad(&root.volume_id, kind, number, generation, b);
        self.map_cipher(root)
            .decrypt_in_place_detached(&nonce, &aad, &mut plain, &tag)
            .ok()
            .map(|()| plain)
    }

    fn map_cipher(&self, root: &RootView) -> SectorCipher {
        let key = derive_subkey(
            &SecretKey::from_bytes(root.volume_key),
            &self.salt,
            labels::VOLUME_MAP,
        );
        SectorCipher::new(key.as_bytes())
    }

    /// Every block a root references: index blocks, leaves, data blocks.
    fn reachable(&self, root: &RootView) -> BTreeSet<u64> {
        let mut out = BTreeSet::new();
        let leaves = (root.logical_size / 4096).div_ceil(84);
        let per_index: u64 = 338;
        for (i, &(index_block, gen_)) in (0u64..).zip(&root.index) {
            if index_block == 0 {
                continue;
            }
            out.insert(index_block);
            let plain = self
                .open_map(root, index_block, 1, i, gen_)
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
                    .open_map(root, leaf, 0, n, leaf_gen)
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

    /// Trial-opens every block outside `known` with the map key (every kind, number and
    /// recent generation), and every data block named by an opened leaf with the data key.
    fn trial_open_all(&self, root: &RootView, known: &BTreeSet<u64>) -> Opened {
        let mut opened = Opened::new();
        let leaves = (root.logical_size / 4096).div_ceil(84);
        let index_blocks = root.index.len() as u64;
        let g = root.generation as u32;
        let generations: Vec<u32> = (0..=WINDOW).map(|d| g.wrapping_sub(d)).collect();
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
                        let Some(plain) = self.open_map(root, b, kind, number, g) else {
                            continue;
                        };
                        opened.insert(b, format!("map kind {kind} #{number} gen {g}"));
                        if kind == 0 {
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

    /// The adversary's whole view: the roots found, what the newest references, what else
    /// opens, and the bytes of the blocks it knows.
    fn view(&self) -> (BTreeSet<u64>, Opened, Vec<u8>, usize) {
        let mut roots = self.roots();
        assert!(!roots.is_empty(), "the decoy's passphrase opens its root");
        roots.sort_by_key(|(_, r)| std::cmp::Reverse(r.generation));
        let mut known: BTreeSet<u64> = roots.iter().map(|(b, _)| *b).collect();
        known.extend(self.reachable(&roots[0].1));
        let opened = self.trial_open_all(&roots[0].1, &known);
        let mut contents = Vec::new();
        for &b in &known {
            contents.extend_from_slice(self.block(b));
        }
        (known, opened, contents, roots.len())
    }
}

#[test]
fn a_surrendered_passphrase_opens_one_root_and_its_current_generation_only() {
    let (device, pass_d) = workload();
    let adversary = Adversary::new(device.to_bytes(), &pass_d);
    let (known, opened, _, roots) = adversary.view();
    assert_eq!(
        roots, 1,
        "one root of the decoy in the root area, no older one"
    );
    assert!(known.len() > 10, "the adversary finds the decoy: {known:?}");
    assert!(
        opened.is_empty(),
        "blocks outside the decoy's current generation open with its keys (its history): \
         {opened:?}"
    );
}

#[test]
fn the_decoys_view_is_the_same_without_the_other_volumes() {
    let (device, pass_d) = workload();
    let image = device.to_bytes();
    let real = Adversary::new(image.clone(), &pass_d).view();
    // Every block outside the decoy's generation (and block 0) replaced by fresh noise: no
    // other volume, no history, no other root in the root area.
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
    assert_eq!(real.3, without.3);
}

#[test]
fn the_hidden_volumes_old_passphrase_opens_no_root_after_a_change() {
    let (device, _) = workload();
    let image = device.to_bytes();
    // The hidden volume's passphrase after the change in round 17 finds its root; the one
    // before it finds nothing.
    assert_eq!(Adversary::new(image.clone(), "hidden#0+").roots().len(), 1);
    assert!(Adversary::new(image, "hidden#0").roots().is_empty());
}
