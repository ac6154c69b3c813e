//! Target for `qsmm-void`: opening arbitrary blocks.

use qsmm_types::{BlockId, Error};

use crate::fixtures::{BLOCK_PLAINTEXT, BLOCK_SIZE, namespace, wrong_namespace};

/// `Namespace::open_block` on arbitrary bytes: the first 8 bytes are the block id
/// (little-endian), the rest the block.
///
/// - a block of the wrong size is `Err(InvalidLength)`, never anything else;
/// - a block of the right size is `Ok(None)`, or `Ok(Some(BLOCK_PLAINTEXT))` (the only plaintext
///   ever sealed under the fixed key), and then the same block at another id, or with its last
///   bit flipped, is `Ok(None)`;
/// - a namespace under another key opens nothing.
///
/// # Panics
///
/// When a property fails.
pub fn open_block(data: &[u8]) {
    let Some((id, block)) = data.split_first_chunk::<8>() else {
        return;
    };
    let id = BlockId(u64::from_le_bytes(*id));
    let opened = namespace().open_block(block, id);
    let foreign = wrong_namespace().open_block(block, id);
    if block.len() != BLOCK_SIZE {
        assert!(
            matches!(opened, Err(Error::InvalidLength { .. })),
            "{opened:?}"
        );
        assert!(
            matches!(foreign, Err(Error::InvalidLength { .. })),
            "{foreign:?}"
        );
        return;
    }
    assert!(matches!(foreign, Ok(None)), "another key opened a block");
    match opened {
        Ok(None) => {}
        Ok(Some(plaintext)) => {
            assert_eq!(plaintext, BLOCK_PLAINTEXT, "opened a forged block");
            let moved = namespace().open_block(block, BlockId(id.0 ^ 1));
            assert!(matches!(moved, Ok(None)), "a block opened at another id");
            let mut flipped = block.to_vec();
            if let Some(last) = flipped.last_mut() {
                *last ^= 0x80;
            }
            let flipped = namespace().open_block(&flipped, id);
            assert!(matches!(flipped, Ok(None)), "a modified block opened");
        }
        Err(err) => panic!("a block of the right size gave an error: {err:?}"),
    }
}
