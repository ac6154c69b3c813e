//! Property tests of the mesh: any k of n reconstruct, up to n − k shares replaced by noise or
//! by another key's shares are tolerated, fewer than k fail cleanly.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use proptest::prelude::*;
use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_types::{BlockId, Error, SecretKey, Threshold};
use qsmm_void::BlockSize;

const HW: &[u8] = b"prop medium";
const BLOCK: usize = 512;

fn mesh(k: usize, n: usize) -> MetadataMesh {
    MetadataMesh::new(MeshConfig::new(Threshold::new(k, n), 2 * n as u64 + 64))
        .with_block_size(BlockSize::new(BLOCK).unwrap())
}

/// (k, n, a shuffled list of share indices) with 2 ≤ k ≤ n ≤ 12, plus the edges k = n and
/// n = 255.
fn threshold() -> impl Strategy<Value = (usize, usize, Vec<usize>)> {
    prop_oneof![
        8 => (2usize..=12).prop_flat_map(|n| (2usize..=n, Just(n))),
        1 => (2usize..=12).prop_map(|n| (n, n)),
        1 => (prop_oneof![Just(2usize), Just(128), Just(255)], Just(255usize)),
    ]
    .prop_flat_map(|(k, n)| {
        (
            Just(k),
            Just(n),
            Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn any_k_reconstruct_and_damage_up_to_n_minus_k_is_tolerated(
        (k, n, order) in threshold(),
        metadata in proptest::collection::vec(any::<u8>(), 0..=BLOCK - 44 - 65),
        damaged in any::<prop::sample::Index>(),
        noise_seed in any::<[u8; 32]>(),
        key in any::<[u8; 32]>(),
    ) {
        // Keep n = 255 cases cheap: Shamir cost is n·k per byte.
        let metadata = if n > 12 { metadata[..metadata.len().min(16)].to_vec() } else { metadata };
        let mesh = mesh(k, n);
        let key = SecretKey::from_bytes(key);
        let placements = mesh.shard_metadata(&metadata, &key, HW).unwrap();

        // Any k shares (a random subset, random order).
        let subset: Vec<(BlockId, &[u8])> = order[..k]
            .iter()
            .map(|&i| (placements[i].target_block, placements[i].share.as_slice()))
            .collect();
        prop_assert_eq!(mesh.reconstruct_metadata(&key, HW, &subset).unwrap(), metadata.as_slice());

        // All n, with up to n − k replaced by noise or by another key's sealed shares.
        let other_key = SecretKey::from_bytes(noise_seed);
        let other = mesh.shard_metadata(b"someone else", &other_key, HW).unwrap();
        let bad = damaged.index(n - k + 1);
        let mut blocks: Vec<(BlockId, Vec<u8>)> = placements
            .iter()
            .map(|p| (p.target_block, p.share.clone()))
            .collect();
        for (j, &i) in order[..bad].iter().enumerate() {
            blocks[i].1 = if j % 2 == 0 {
                let mut noise = other[j % n].share.clone();
                noise.reverse();
                noise
            } else {
                other[j % n].share.clone()
            };
        }
        prop_assert_eq!(mesh.reconstruct_metadata(&key, HW, &blocks).unwrap(), metadata.as_slice());

        // Fewer than k: a clean NotEnoughShares.
        let few: Vec<(BlockId, &[u8])> = order[..k - 1]
            .iter()
            .map(|&i| (placements[i].target_block, placements[i].share.as_slice()))
            .collect();
        prop_assert!(matches!(mesh.reconstruct_metadata(&key, HW, &few), Err(Error::NotEnoughShares)));
    }

    /// Arbitrary bytes at arbitrary block ids never panic and never reconstruct.
    #[test]
    fn garbage_never_panics(
        blocks in proptest::collection::vec((0u64..100, proptest::collection::vec(any::<u8>(), 0..600)), 0..12),
    ) {
        let mesh = mesh(2, 3);
        let key = SecretKey::from_bytes([1; 32]);
        let blocks: Vec<(BlockId, Vec<u8>)> = blocks.into_iter().map(|(id, b)| (BlockId(id), b)).collect();
        prop_assert!(matches!(mesh.reconstruct_metadata(&key, HW, &blocks), Err(Error::NotEnoughShares)));
    }
}
