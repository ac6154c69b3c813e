//! The metadata mesh through its public API: round trips, corruption, foreign keys, generations,
//! boundaries and malformed input.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::collections::HashSet;

use qsmm_shatter::mesh::{MeshConfig, MeshRead, MetadataMesh, Placement, SHARE_HEADER_LEN};
use qsmm_shatter::placement::Placer;
use qsmm_types::{BlockId, Error, SecretKey, Threshold};
use qsmm_void::SEAL_OVERHEAD;
use qsmm_void::{BlockSize, Namespace};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const HW: &[u8] = b"medium 0001";
const BLOCK: usize = 512;

/// An in-memory medium of `total` blocks of CSPRNG noise, as a formatted medium looks.
struct Medium {
    blocks: Vec<Vec<u8>>,
}

impl Medium {
    fn new(total: u64, block_size: usize, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let blocks = (0..total)
            .map(|_| {
                let mut b = vec![0u8; block_size];
                rng.fill_bytes(&mut b);
                b
            })
            .collect();
        Self { blocks }
    }

    fn write(&mut self, placements: &[Placement]) {
        for p in placements {
            self.blocks[usize::try_from(p.target_block.0).unwrap()].clone_from(&p.share);
        }
    }

    fn read(&self, ids: &[BlockId]) -> Vec<(BlockId, &[u8])> {
        ids.iter()
            .map(|id| (*id, self.blocks[usize::try_from(id.0).unwrap()].as_slice()))
            .collect()
    }
}

fn mesh(k: usize, n: usize, total: u64) -> MetadataMesh {
    MetadataMesh::new(MeshConfig {
        threshold: Threshold::new(k, n),
        total_blocks: total,
    })
    .with_block_size(BlockSize::new(BLOCK).unwrap())
}

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes([byte; 32])
}

#[test]
fn readme_literal_round_trip_with_4k_blocks() {
    let mesh = MetadataMesh::new(MeshConfig {
        threshold: Threshold::new(3, 5),
        total_blocks: 100_000,
    });
    assert_eq!(mesh.block_size(), BlockSize::DEFAULT);
    assert_eq!(
        mesh.max_metadata_len(),
        4096 - SEAL_OVERHEAD - SHARE_HEADER_LEN
    );
    let key = key(1);
    let placements = mesh.shard_metadata(b"root", &key, HW).unwrap();
    assert_eq!(placements.len(), 5);
    let targets: HashSet<_> = placements.iter().map(|p| p.target_block).collect();
    assert_eq!(targets.len(), 5);
    assert!(placements.iter().all(|p| p.share.len() == 4096));
    let read: Vec<(BlockId, Vec<u8>)> = placements
        .iter()
        .map(|p| (p.target_block, p.share.clone()))
        .collect();
    assert_eq!(mesh.reconstruct_metadata(&key, HW, &read).unwrap(), b"root");
    // Placements go to slot 0 of blocks_to_read, in share order.
    let to_read = mesh.blocks_to_read(&key, HW).unwrap();
    assert_eq!(to_read.len(), 10);
    assert_eq!(
        to_read[..5],
        placements
            .iter()
            .map(|p| p.target_block)
            .collect::<Vec<_>>()
    );
}

/// Reconstruction takes what a write returned and what a read gives back, in every form.
#[test]
fn reconstruct_takes_placements_and_read_back_pairs() {
    let mesh = mesh(3, 5, 200);
    let key = key(13);
    let placements = mesh.shard_metadata(b"root", &key, HW).unwrap();
    // The placements, by reference, as a slice, by value and as an iterator of references.
    assert_eq!(
        mesh.reconstruct_metadata(&key, HW, &placements).unwrap(),
        b"root"
    );
    assert_eq!(
        mesh.reconstruct_metadata(&key, HW, &placements[2..])
            .unwrap(),
        b"root"
    );
    assert_eq!(
        mesh.reconstruct_metadata(&key, HW, placements.iter().rev())
            .unwrap(),
        b"root"
    );
    // Pairs read back: owned bytes, borrowed bytes, an array by value.
    let owned: Vec<(BlockId, Vec<u8>)> = placements
        .iter()
        .map(|p| (p.target_block, p.share.clone()))
        .collect();
    assert_eq!(
        mesh.reconstruct_metadata(&key, HW, &owned).unwrap(),
        b"root"
    );
    let [a, b, c, ..] = &placements[..] else {
        panic!("five placements")
    };
    let array = [
        (a.target_block, a.share.as_slice()),
        (b.target_block, b.share.as_slice()),
        (c.target_block, c.share.as_slice()),
    ];
    assert_eq!(mesh.reconstruct_metadata(&key, HW, array).unwrap(), b"root");
    // Two placements are not enough, in any form.
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, &placements[..2]),
        Err(Error::NotEnoughShares)
    ));
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, &array[..2]),
        Err(Error::NotEnoughShares)
    ));
    // The keyed mesh reads the same forms and says which generation it found.
    let keyed = mesh.for_key(&key, HW).unwrap();
    let read: MeshRead = keyed.read_latest(owned).unwrap();
    assert_eq!(
        (read.generation, read.metadata.as_slice()),
        (0, &b"root"[..])
    );
}

#[test]
fn any_k_shares_reconstruct_and_k_minus_one_do_not() {
    let mesh = mesh(3, 5, 200);
    let key = key(2);
    let metadata = b"pointers, generation, keys of the structures below";
    let placements = mesh.shard_metadata(metadata, &key, HW).unwrap();
    for mask in 0u32..32 {
        let subset: Vec<(BlockId, &[u8])> = placements
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| (p.target_block, p.share.as_slice()))
            .collect();
        let result = mesh.reconstruct_metadata(&key, HW, &subset);
        if mask.count_ones() >= 3 {
            assert_eq!(result.unwrap(), metadata, "mask {mask:05b}");
        } else {
            assert!(
                matches!(result, Err(Error::NotEnoughShares)),
                "mask {mask:05b}"
            );
        }
    }
}

#[test]
fn corrupted_and_overwritten_shares_are_skipped() {
    let mesh = mesh(3, 5, 200);
    let key = key(3);
    let placements = mesh.shard_metadata(b"root v1", &key, HW).unwrap();
    let mut medium = Medium::new(200, BLOCK, 1);
    medium.write(&placements);
    let ids: Vec<_> = placements.iter().map(|p| p.target_block).collect();

    // One bit flipped, one block of fresh noise: 3 intact left.
    medium.blocks[usize::try_from(ids[0].0).unwrap()][100] ^= 0x01;
    ChaCha20Rng::seed_from_u64(9)
        .fill_bytes(&mut medium.blocks[usize::try_from(ids[3].0).unwrap()]);
    let to_read = mesh.blocks_to_read(&key, HW).unwrap();
    assert_eq!(
        mesh.reconstruct_metadata(&key, HW, medium.read(&to_read))
            .unwrap(),
        b"root v1"
    );
    // A third damaged share: only 2 left.
    medium.blocks[usize::try_from(ids[4].0).unwrap()][BLOCK - 1] ^= 0x80;
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, medium.read(&to_read)),
        Err(Error::NotEnoughShares)
    ));
}

#[test]
fn shares_moved_to_another_block_do_not_count() {
    let mesh = mesh(2, 3, 100);
    let key = key(4);
    let placements = mesh.shard_metadata(b"root", &key, HW).unwrap();
    let ids: Vec<_> = placements.iter().map(|p| p.target_block).collect();
    // Share 0 presented at share 1's position (and vice versa), share 2 dropped.
    let swapped = [
        (ids[1], placements[0].share.as_slice()),
        (ids[0], placements[1].share.as_slice()),
    ];
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, swapped),
        Err(Error::NotEnoughShares)
    ));
    // A correctly sealed share at a position of the other slot is also rejected: seal share 0's
    // plaintext for slot 1's first position by re-sharding with generation 1 and swapping.
    let gen1 = mesh
        .for_key(&key, HW)
        .and_then(|keyed| keyed.shard_metadata_generation(b"root", 1))
        .unwrap();
    let slot1: Vec<_> = gen1.iter().map(|p| p.target_block).collect();
    let cross = [
        (slot1[0], placements[0].share.as_slice()),
        (slot1[1], placements[1].share.as_slice()),
    ];
    assert!(mesh.reconstruct_metadata(&key, HW, cross).is_err());
}

/// A share sealed with the right key at the right block, but claiming a generation of the
/// other slot (forged by a key holder with the public qsmm-void API), is rejected.
#[test]
fn generation_bound_to_slot() {
    let mesh = mesh(2, 3, 100);
    let key = key(5);
    // Generation 1 belongs to slot 1; put its plaintext shares at slot 0 positions.
    let gen1 = mesh
        .for_key(&key, HW)
        .and_then(|keyed| keyed.shard_metadata_generation(b"odd", 1))
        .unwrap();
    let slot0: Vec<_> = mesh.blocks_to_read(&key, HW).unwrap()[..3].to_vec();
    let ns = Namespace::with_block_size(
        qsmm_types::derive_subkey(&key, HW, qsmm_types::labels::SHATTER_SHARE),
        HW,
        BlockSize::new(BLOCK).unwrap(),
    )
    .unwrap();
    let resealed: Vec<(BlockId, Vec<u8>)> = gen1
        .iter()
        .zip(&slot0)
        .map(|(p, at)| {
            let mut plain = ns.open_block(&p.share, p.target_block).unwrap().unwrap();
            // Also claim slot 0 in the header (byte 1) so only the generation parity differs.
            plain[1] = 0;
            (*at, ns.seal_block(&plain, *at).unwrap())
        })
        .collect();
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, &resealed),
        Err(Error::NotEnoughShares)
    ));
}

#[test]
fn newest_generation_wins_and_rollback_is_detectable() {
    let mesh = mesh(3, 5, 300);
    let key = key(6);
    let mut medium = Medium::new(300, BLOCK, 2);
    let to_read = mesh.blocks_to_read(&key, HW).unwrap();
    for generation in 0..5u64 {
        let text = format!("root generation {generation}");
        medium.write(
            &mesh
                .for_key(&key, HW)
                .and_then(|keyed| keyed.shard_metadata_generation(text.as_bytes(), generation))
                .unwrap(),
        );
        let latest = mesh
            .for_key(&key, HW)
            .and_then(|keyed| keyed.read_latest(medium.read(&to_read)))
            .unwrap();
        assert_eq!(latest.generation, generation);
        assert_eq!(latest.metadata, text.as_bytes());
    }
    // Roll the medium back to an image holding only generations 2 and 3.
    let mut old = Medium::new(300, BLOCK, 3);
    old.write(
        &mesh
            .for_key(&key, HW)
            .and_then(|keyed| keyed.shard_metadata_generation(b"two", 2))
            .unwrap(),
    );
    old.write(
        &mesh
            .for_key(&key, HW)
            .and_then(|keyed| keyed.shard_metadata_generation(b"three", 3))
            .unwrap(),
    );
    let read = old.read(&to_read);
    assert_eq!(
        mesh.for_key(&key, HW)
            .and_then(|keyed| keyed.read_latest(&read))
            .unwrap()
            .generation,
        3
    );
    assert_eq!(
        mesh.for_key(&key, HW)
            .and_then(|keyed| keyed.read_at_least(&read, 3))
            .unwrap()
            .metadata,
        b"three"
    );
    assert!(matches!(
        mesh.for_key(&key, HW)
            .and_then(|keyed| keyed.read_at_least(&read, 4)),
        Err(Error::NotEnoughShares)
    ));
}

#[test]
fn mixed_sharings_of_one_generation_are_not_combined() {
    // Two sharings of the same generation and the same metadata (a retried update): shares of
    // the two are never mixed, and any k of one sharing still reconstruct.
    let mesh = mesh(3, 5, 100);
    let key = key(7);
    let a = mesh
        .for_key(&key, HW)
        .and_then(|keyed| keyed.shard_metadata_generation(b"same", 4))
        .unwrap();
    let b = mesh
        .for_key(&key, HW)
        .and_then(|keyed| keyed.shard_metadata_generation(b"same", 4))
        .unwrap();
    assert_ne!(a[0].share, b[0].share);
    let mixed = [
        (a[0].target_block, a[0].share.as_slice()),
        (a[1].target_block, a[1].share.as_slice()),
        (b[2].target_block, b[2].share.as_slice()),
        (b[3].target_block, b[3].share.as_slice()),
    ];
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, mixed),
        Err(Error::NotEnoughShares)
    ));
    let with_third = [
        mixed[0],
        mixed[1],
        mixed[2],
        (a[4].target_block, a[4].share.as_slice()),
    ];
    assert_eq!(
        mesh.reconstruct_metadata(&key, HW, with_third).unwrap(),
        b"same"
    );
}

#[test]
fn two_keys_on_one_medium_are_independent() {
    // A small medium so that the two keys' positions collide.
    let total = 12;
    let mesh = mesh(2, 5, total);
    let (alice, bob) = (key(8), key(9));
    let a_pos: HashSet<_> = mesh
        .blocks_to_read(&alice, HW)
        .unwrap()
        .into_iter()
        .collect();
    let b_pos: HashSet<_> = mesh.blocks_to_read(&bob, HW).unwrap().into_iter().collect();
    let a_slot0: HashSet<_> = mesh.blocks_to_read(&alice, HW).unwrap()[..5]
        .iter()
        .copied()
        .collect();
    let b_slot0: Vec<_> = mesh.blocks_to_read(&bob, HW).unwrap()[..5].to_vec();
    let clobbered = b_slot0.iter().filter(|id| a_slot0.contains(id)).count();
    assert!(
        a_pos.intersection(&b_pos).count() > 0,
        "test needs colliding positions"
    );
    assert!(
        clobbered <= 3,
        "bob may overwrite at most n - k of alice's shares"
    );

    let mut medium = Medium::new(total, BLOCK, 4);
    medium.write(&mesh.shard_metadata(b"alice's root", &alice, HW).unwrap());
    medium.write(&mesh.shard_metadata(b"bob's root", &bob, HW).unwrap());
    let a_read = medium.read(&mesh.blocks_to_read(&alice, HW).unwrap());
    let b_read = medium.read(&mesh.blocks_to_read(&bob, HW).unwrap());
    assert_eq!(
        mesh.reconstruct_metadata(&alice, HW, &a_read).unwrap(),
        b"alice's root"
    );
    assert_eq!(
        mesh.reconstruct_metadata(&bob, HW, &b_read).unwrap(),
        b"bob's root"
    );
    // Each key's shares are invisible to the other.
    let every: Vec<BlockId> = (0..total).map(BlockId).collect();
    let all = medium.read(&every);
    assert_eq!(
        mesh.reconstruct_metadata(&alice, HW, &all).unwrap(),
        b"alice's root"
    );
    assert_eq!(
        mesh.reconstruct_metadata(&bob, HW, &all).unwrap(),
        b"bob's root"
    );
    // Another medium (hw_entropy) with the same key sees nothing.
    assert!(matches!(
        mesh.reconstruct_metadata(&alice, b"other medium", &all),
        Err(Error::NotEnoughShares)
    ));
}

#[test]
fn metadata_length_boundaries() {
    let mesh = mesh(2, 3, 100);
    let key = key(10);
    let max = mesh.max_metadata_len();
    assert_eq!(max, BLOCK - SEAL_OVERHEAD - SHARE_HEADER_LEN);
    for len in [0, 1, 2, max - 1, max] {
        let metadata: Vec<u8> = (0..len)
            .map(|i| u8::try_from(i * 31 % 251).unwrap())
            .collect();
        let placements = mesh.shard_metadata(&metadata, &key, HW).unwrap();
        assert!(placements.iter().all(|p| p.share.len() == BLOCK));
        let read: Vec<_> = placements[1..]
            .iter()
            .map(|p| (p.target_block, p.share.as_slice()))
            .collect();
        assert_eq!(
            mesh.reconstruct_metadata(&key, HW, &read).unwrap(),
            metadata,
            "len {len}"
        );
    }
    let err = mesh
        .shard_metadata(&vec![0; max + 1], &key, HW)
        .unwrap_err();
    assert!(
        matches!(err, Error::DataTooLarge { max: m, got } if m == max && got == max + 1),
        "{err:?}"
    );
}

#[test]
fn malformed_inputs_never_panic() {
    let mesh = mesh(2, 3, 100);
    let key = key(11);
    let placements = mesh.shard_metadata(b"root", &key, HW).unwrap();
    let good = &placements[0].share;
    let id = placements[0].target_block;
    let mut inputs: Vec<(BlockId, Vec<u8>)> = vec![
        (id, Vec::new()),
        (id, good[..BLOCK - 1].to_vec()),
        (id, [good.as_slice(), &[0]].concat()),
        (id, vec![0; BLOCK]),
        (id, vec![0xff; 4096]),
        (BlockId(u64::MAX), good.clone()),
        (BlockId(100), good.clone()),
    ];
    // Truncations at every length and a few single-bit flips.
    for cut in (0..BLOCK).step_by(37) {
        inputs.push((id, good[..cut].to_vec()));
    }
    for bit in (0..BLOCK * 8).step_by(509) {
        let mut flipped = good.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        inputs.push((id, flipped));
    }
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, &inputs),
        Err(Error::NotEnoughShares)
    ));
    let empty: [(BlockId, Vec<u8>); 0] = [];
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, &empty),
        Err(Error::NotEnoughShares)
    ));
    // Duplicates of one good share are one share, not k.
    let dup = [
        (id, good.as_slice()),
        (id, good.as_slice()),
        (id, good.as_slice()),
    ];
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, dup),
        Err(Error::NotEnoughShares)
    ));
    // Blocks of the wrong size for this mesh (4 KiB shares read by a 512-byte mesh).
    let big = MetadataMesh::new(MeshConfig::new(Threshold::new(2, 3), 100));
    let big_shares = big.shard_metadata(b"root", &key, HW).unwrap();
    let read: Vec<_> = big_shares
        .iter()
        .map(|p| (p.target_block, p.share.as_slice()))
        .collect();
    assert!(matches!(
        mesh.reconstruct_metadata(&key, HW, &read),
        Err(Error::NotEnoughShares)
    ));
}

#[test]
fn invalid_configurations_are_errors() {
    for (k, n) in [(1, 5), (0, 0), (6, 5), (2, 256), (256, 256)] {
        // Accepted by `new`, reported by every operation.
        let mesh = MetadataMesh::new(MeshConfig::new(Threshold::new(k, n), 10_000));
        let key = key(11);
        let errors = [
            mesh.shard_metadata(b"x", &key, HW).unwrap_err(),
            mesh.blocks_to_read(&key, HW).unwrap_err(),
            mesh.for_key(&key, HW).unwrap_err(),
            mesh.reconstruct_metadata(&key, HW, Vec::<Placement>::new())
                .unwrap_err(),
        ];
        for err in errors {
            assert!(
                matches!(err, Error::InvalidThreshold { .. }),
                "{k}-of-{n}: {err:?}"
            );
        }
    }
    for n in [2u64, 5, 255] {
        let t = Threshold::new(2, n);
        for total in [0, 1, 2 * n - 1] {
            let mesh = MetadataMesh::new(MeshConfig::new(t, total));
            let errors = [
                mesh.shard_metadata(b"x", &key(11), HW).unwrap_err(),
                mesh.blocks_to_read(&key(11), HW).unwrap_err(),
                mesh.for_key(&key(11), HW).unwrap_err(),
            ];
            for err in errors {
                assert!(
                    matches!(err, Error::TooFewBlocks { needed, available } if needed == 2 * n && available == total),
                    "{err:?}"
                );
            }
        }
        // Exactly 2n blocks works, end to end.
        let mesh = MetadataMesh::new(MeshConfig::new(t, 2 * n))
            .with_block_size(BlockSize::new(BLOCK).unwrap());
        let key = key(12);
        let placements = mesh.shard_metadata(b"x", &key, HW).unwrap();
        let read: Vec<_> = placements
            .iter()
            .map(|p| (p.target_block, p.share.as_slice()))
            .collect();
        assert_eq!(mesh.reconstruct_metadata(&key, HW, &read).unwrap(), b"x");
    }
    // Block sizes are validated by `BlockSize`; the largest one works end to end.
    let mesh = MetadataMesh::new(MeshConfig::new(Threshold::new(2, 3), 100))
        .with_block_size(BlockSize::MAX);
    assert_eq!(mesh.block_size().get(), 1 << 20);
    let key = key(12);
    let placements = mesh.shard_metadata(b"big blocks", &key, HW).unwrap();
    assert!(placements.iter().all(|p| p.share.len() == 1 << 20));
    assert_eq!(
        mesh.reconstruct_metadata(&key, HW, &placements).unwrap(),
        b"big blocks"
    );
}

#[test]
fn shares_land_on_the_placer_positions() {
    let mesh = mesh(3, 5, 1000);
    let key = key(13);
    let slots = Placer::new(&key, HW)
        .slots(Threshold::new(3, 5), 1000)
        .unwrap();
    for generation in [0u64, 1, 2, 41] {
        let placements = mesh
            .for_key(&key, HW)
            .and_then(|keyed| keyed.shard_metadata_generation(b"m", generation))
            .unwrap();
        let slot = usize::try_from(generation % 2).unwrap();
        let targets: Vec<_> = placements.iter().map(|p| p.target_block).collect();
        assert_eq!(targets, slots.slot(slot));
    }
}

#[test]
fn debug_output_hides_contents() {
    let mesh = mesh(2, 3, 100);
    let key = key(14);
    let placements = mesh.shard_metadata(b"secret root", &key, HW).unwrap();
    let printed = format!("{:?}", placements[0]);
    assert!(printed.contains("share_len: 512"), "{printed}");
    let read: Vec<_> = placements
        .iter()
        .map(|p| (p.target_block, p.share.as_slice()))
        .collect();
    let latest = mesh
        .for_key(&key, HW)
        .and_then(|keyed| keyed.read_latest(&read))
        .unwrap();
    let printed = format!("{latest:?}");
    assert!(!printed.contains("secret"), "{printed}");
    assert!(printed.contains("metadata_len: 11"), "{printed}");
    assert_eq!(latest.into_metadata(), b"secret root");
}

/// Shares forged by a holder of the key through the public qsmm-void API — valid seals with
/// edited headers — are rejected; each case would be accepted if its check were missing.
#[test]
fn forged_headers_are_rejected() {
    let mesh = mesh(2, 3, 100);
    let key = key(15);
    let placements = mesh.shard_metadata(b"root", &key, HW).unwrap();
    let ns = Namespace::with_block_size(
        qsmm_types::derive_subkey(&key, HW, qsmm_types::labels::SHATTER_SHARE),
        HW,
        BlockSize::new(BLOCK).unwrap(),
    )
    .unwrap();
    let plain: Vec<Vec<u8>> = placements
        .iter()
        .map(|p| ns.open_block(&p.share, p.target_block).unwrap().unwrap())
        .collect();
    let ids: Vec<_> = placements.iter().map(|p| p.target_block).collect();
    let forge = |edit: &dyn Fn(usize, &mut Vec<u8>)| -> Vec<(BlockId, Vec<u8>)> {
        plain
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut p = p.clone();
                edit(i, &mut p);
                (ids[i], ns.seal_block(&p, ids[i]).unwrap())
            })
            .collect()
    };
    // Unchanged re-seals still work (the forging itself is sound).
    assert_eq!(
        mesh.reconstruct_metadata(&key, HW, forge(&|_, _| {}))
            .unwrap(),
        b"root"
    );

    type Edit<'a> = &'a dyn Fn(usize, &mut Vec<u8>);
    let cases: [(&str, Edit<'_>); 9] = [
        ("version", &|_, p| p[0] = 2),
        ("slot", &|_, p| p[1] = 1),
        ("index swap", &|i, p| p[2] = [1, 0, 2][i]),
        ("k", &|_, p| p[3] = 3),
        ("n", &|_, p| p[4] = 4),
        ("generation", &|_, p| p[5] = 2),
        ("length", &|_, p| p[29] = 5),
        ("commitment", &|_, p| p[40] ^= 1),
        ("truncated header", &|_, p| p.truncate(SHARE_HEADER_LEN - 1)),
    ];
    for (what, edit) in cases {
        // Index swap: shares 0 and 1 claim each other's index; share 2 is dropped so that only
        // the swapped pair could reach k.
        let mut forged = forge(edit);
        if what == "index swap" {
            forged.truncate(2);
        }
        match mesh
            .for_key(&key, HW)
            .and_then(|keyed| keyed.read_latest(&forged))
        {
            Err(Error::NotEnoughShares) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn keyed_mesh_and_mesh_interoperate() {
    let m = mesh(3, 5, 200);
    let keyed = m.for_key(&key(7), HW).unwrap();
    assert_eq!(keyed.mesh(), &m);
    assert_eq!(
        keyed.blocks_to_read(),
        m.blocks_to_read(&key(7), HW).unwrap().as_slice()
    );
    let ids = keyed.blocks_to_read().to_vec();
    for generation in [0u64, 1, 2, 5] {
        let meta = format!("root {generation}").into_bytes();

        // Keyed writes, plain reads.
        let mut medium = Medium::new(200, BLOCK, generation);
        let placements = keyed.shard_metadata_generation(&meta, generation).unwrap();
        let targets: Vec<BlockId> = placements.iter().map(|p| p.target_block).collect();
        let slot = usize::try_from(generation % 2).unwrap();
        assert_eq!(targets.as_slice(), &ids[slot * 5..slot * 5 + 5]);
        medium.write(&placements);
        let read = medium.read(&ids);
        let got = m
            .for_key(&key(7), HW)
            .and_then(|keyed| keyed.read_latest(&read))
            .unwrap();
        assert_eq!(
            (got.generation, got.metadata.as_slice()),
            (generation, &meta[..])
        );
        assert_eq!(m.reconstruct_metadata(&key(7), HW, &read).unwrap(), meta);

        // Plain writes, keyed reads.
        let mut medium = Medium::new(200, BLOCK, generation + 100);
        let placements = m
            .for_key(&key(7), HW)
            .and_then(|keyed| keyed.shard_metadata_generation(&meta, generation))
            .unwrap();
        let plain_targets: Vec<BlockId> = placements.iter().map(|p| p.target_block).collect();
        assert_eq!(plain_targets, targets);
        medium.write(&placements);
        let read = medium.read(&ids);
        let got = keyed.read_latest(&read).unwrap();
        assert_eq!(
            (got.generation, got.metadata.as_slice()),
            (generation, &meta[..])
        );
        assert_eq!(
            keyed
                .read_latest(&read)
                .map(MeshRead::into_metadata)
                .unwrap(),
            meta
        );
        assert_eq!(
            keyed
                .read_at_least(&read, generation)
                .unwrap()
                .into_metadata(),
            meta
        );
        assert!(matches!(
            keyed.read_at_least(&read, generation + 1),
            Err(Error::NotEnoughShares)
        ));
        assert!(matches!(
            m.for_key(&key(7), HW)
                .and_then(|keyed| keyed.read_at_least(&read, generation + 1)),
            Err(Error::NotEnoughShares)
        ));
    }
}

#[test]
fn keyed_mesh_generation_zero_any_k_and_k_minus_one() {
    let m = mesh(3, 5, 200);
    let keyed = m.for_key(&key(8), HW).unwrap();
    let placements = keyed.shard_metadata_generation(b"first root", 0).unwrap();
    assert_eq!(placements.len(), 5);
    assert!(placements.iter().all(|p| p.share.len() == BLOCK));
    let mut medium = Medium::new(200, BLOCK, 9);
    medium.write(&placements);
    let ids = keyed.blocks_to_read();
    for skip in 0..5 {
        // Slot 0 holds generation 0: keep three of its five shares.
        let kept: Vec<BlockId> = ids[..5]
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip && *i != (skip + 1) % 5)
            .map(|(_, id)| *id)
            .collect();
        let read = medium.read(&kept);
        assert_eq!(
            keyed
                .read_latest(&read)
                .map(MeshRead::into_metadata)
                .unwrap(),
            b"first root"
        );
        assert_eq!(
            m.reconstruct_metadata(&key(8), HW, &read).unwrap(),
            b"first root"
        );
        let read = medium.read(&kept[..2]);
        assert!(matches!(
            keyed.read_latest(&read).map(MeshRead::into_metadata),
            Err(Error::NotEnoughShares)
        ));
    }
    // Empty metadata round-trips too.
    medium.write(&keyed.shard_metadata_generation(b"", 1).unwrap());
    let read = medium.read(ids);
    let got = keyed.read_latest(&read).unwrap();
    assert_eq!((got.generation, got.metadata.len()), (1, 0));
}

#[test]
fn keyed_mesh_is_bound_to_its_key_and_medium() {
    let m = mesh(2, 3, 100);
    let mut medium = Medium::new(100, BLOCK, 3);
    medium.write(
        &m.for_key(&key(1), HW)
            .unwrap()
            .shard_metadata_generation(b"k1", 0)
            .unwrap(),
    );
    let other_key = m.for_key(&key(2), HW).unwrap();
    let other_hw = m.for_key(&key(1), b"medium 0002").unwrap();
    let all: Vec<BlockId> = (0..100).map(BlockId).collect();
    let read = medium.read(&all);
    assert!(matches!(
        other_key.read_latest(&read).map(MeshRead::into_metadata),
        Err(Error::NotEnoughShares)
    ));
    assert!(matches!(
        other_hw.read_latest(&read).map(MeshRead::into_metadata),
        Err(Error::NotEnoughShares)
    ));
    let keyed = m.for_key(&key(1), HW).unwrap();
    assert_eq!(
        keyed
            .read_latest(&read)
            .map(MeshRead::into_metadata)
            .unwrap(),
        b"k1"
    );
    // Too-large metadata is refused exactly as by the plain mesh.
    let too_big = vec![0u8; m.max_metadata_len() + 1];
    assert!(matches!(
        keyed.shard_metadata_generation(&too_big, 0),
        Err(Error::DataTooLarge { max, got }) if max == m.max_metadata_len() && got == too_big.len()
    ));
    let fits = vec![0xa5u8; m.max_metadata_len()];
    medium.write(&keyed.shard_metadata_generation(&fits, 1).unwrap());
    assert_eq!(
        keyed
            .read_latest(medium.read(&all))
            .map(MeshRead::into_metadata)
            .unwrap(),
        fits
    );
    // Debug shows no key material and no positions.
    let debug = format!("{keyed:?}");
    assert!(debug.starts_with("KeyedMesh"));
    for id in keyed.blocks_to_read() {
        assert!(!debug.contains(&format!("BlockId({})", id.0)));
    }
}
