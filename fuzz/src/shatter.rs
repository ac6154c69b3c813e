//! Target for `qsmm-shatter`: reconstructing metadata from arbitrary blocks.

use qsmm_types::{BlockId, Error};

use crate::fixtures::{BLOCK_SIZE, HW_ENTROPY, MESH_METADATA, mesh, mesh_key, namespace_key};

/// Length of one block record in the input: one id byte and one block.
const RECORD_LEN: usize = 1 + BLOCK_SIZE;

/// `KeyedMesh::read_latest` on arbitrary blocks. The input is a list of records, each one id
/// byte followed by [`BLOCK_SIZE`] bytes; a shorter last record is a block of the wrong size.
///
/// - the answer is `Err(NotEnoughShares)` — no other error — or the generation and metadata of
///   one of the two generations ever sharded under the fixed key ([`MESH_METADATA`]);
/// - asking for a newer generation than the one found gives `NotEnoughShares`;
/// - under another key the same blocks give `NotEnoughShares`.
///
/// # Panics
///
/// When a property fails.
pub fn mesh_reconstruct(data: &[u8]) {
    let blocks: Vec<(BlockId, &[u8])> = data
        .chunks(RECORD_LEN)
        .filter_map(|record| record.split_first())
        .map(|(&id, block)| (BlockId(u64::from(id)), block))
        .collect();
    let mesh = mesh();
    #[allow(
        clippy::expect_used,
        reason = "the fixed 2-of-3 mesh on 64 blocks is valid"
    )]
    let keyed = mesh
        .for_key(&mesh_key(), HW_ENTROPY)
        .expect("mesh configuration");
    match keyed.read_latest(&blocks) {
        Err(err) => assert!(matches!(err, Error::NotEnoughShares), "{err:?}"),
        Ok(read) => {
            let expected = usize::try_from(read.generation)
                .ok()
                .and_then(|generation| MESH_METADATA.get(generation));
            assert_eq!(expected, Some(&read.metadata.as_slice()), "forged metadata");
            let newer = read.generation.saturating_add(1);
            let newer = keyed.read_at_least(&blocks, newer);
            assert!(matches!(newer, Err(Error::NotEnoughShares)), "{newer:?}");
        }
    }
    let foreign = mesh
        .for_key(&namespace_key(), HW_ENTROPY)
        .and_then(|keyed| keyed.read_latest(&blocks));
    assert!(
        matches!(foreign, Err(Error::NotEnoughShares)),
        "{foreign:?}"
    );
}

/// [`RECORD_LEN`], for corpus writers.
#[must_use]
pub const fn record_len() -> usize {
    RECORD_LEN
}
