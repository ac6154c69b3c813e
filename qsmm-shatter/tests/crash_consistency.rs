//! Crash consistency of mesh updates: an update interrupted after any number of block writes
//! leaves the old or the new generation readable, never neither.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_types::{BlockId, Error, SecretKey, Threshold};
use qsmm_void::BlockSize;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const HW: &[u8] = b"crash medium";
const BLOCK: usize = 512;
const TOTAL: u64 = 256;

fn noise_medium(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..TOTAL)
        .map(|_| {
            let mut b = vec![0u8; BLOCK];
            rng.fill_bytes(&mut b);
            b
        })
        .collect()
}

fn index(id: BlockId) -> usize {
    usize::try_from(id.0).unwrap()
}

fn read_latest(
    mesh: &MetadataMesh,
    key: &SecretKey,
    medium: &[Vec<u8>],
) -> Result<(u64, Vec<u8>), Error> {
    let read: Vec<(BlockId, &[u8])> = mesh
        .blocks_to_read(key, HW)?
        .into_iter()
        .map(|id| (id, medium[index(id)].as_slice()))
        .collect();
    let latest = mesh
        .for_key(key, HW)
        .and_then(|keyed| keyed.read_latest(&read))?;
    Ok((latest.generation, latest.metadata.clone()))
}

fn root(generation: u64) -> Vec<u8> {
    format!("root of generation {generation}").into_bytes()
}

/// For thresholds including k = n: run generations 0..4; before committing each generation,
/// interrupt its write after every possible number of blocks w (0..=n), on a copy of the
/// durable image, and check which generation a reader sees.
#[test]
fn interrupted_update_leaves_old_or_new() {
    for (k, n) in [(2, 3), (3, 5), (5, 5), (2, 7)] {
        let mesh = MetadataMesh::new(MeshConfig::new(Threshold::new(k, n), TOTAL))
            .with_block_size(BlockSize::new(BLOCK).unwrap());
        let key = SecretKey::from_bytes([u8::try_from(k * 16 + n).unwrap(); 32]);
        let mut durable = noise_medium(u64::try_from(n).unwrap());

        for generation in 0..5u64 {
            let placements = mesh
                .for_key(&key, HW)
                .and_then(|keyed| keyed.shard_metadata_generation(&root(generation), generation))
                .unwrap();
            for written in 0..=n {
                let mut image = durable.clone();
                for p in &placements[..written] {
                    image[index(p.target_block)].clone_from(&p.share);
                }
                let seen = read_latest(&mesh, &key, &image);
                if written >= k {
                    assert_eq!(
                        seen.unwrap(),
                        (generation, root(generation)),
                        "{k}-of-{n} g{generation} w{written}"
                    );
                } else if generation == 0 {
                    assert!(
                        matches!(seen, Err(Error::NotEnoughShares)),
                        "{k}-of-{n} w{written}"
                    );
                } else {
                    assert_eq!(
                        seen.unwrap(),
                        (generation - 1, root(generation - 1)),
                        "{k}-of-{n} g{generation} w{written}"
                    );
                }
            }
            // A first attempt interrupted halfway, then retried with the same generation in a
            // different write order (the retry's shares are a new sharing).
            let half = placements.len() / 2;
            for p in &placements[..half] {
                durable[index(p.target_block)].clone_from(&p.share);
            }
            let retry = mesh
                .for_key(&key, HW)
                .and_then(|keyed| keyed.shard_metadata_generation(&root(generation), generation))
                .unwrap();
            for p in retry.iter().rev() {
                durable[index(p.target_block)].clone_from(&p.share);
            }
            assert_eq!(
                read_latest(&mesh, &key, &durable).unwrap(),
                (generation, root(generation))
            );
        }
    }
}
