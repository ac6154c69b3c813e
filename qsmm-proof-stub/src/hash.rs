//! The MiMC-Merkle tree hash: the exact functions that define a [`Commitment`].
//!
//! Every backend — the transparent [`MimcMerkle`](crate::merkle::MimcMerkle) of this crate and a future
//! zk-SNARK circuit — commits to the same tree, so these functions are the specification a
//! circuit must reproduce constraint for constraint. All of them are built from one primitive,
//! the MiMC-7 Miyaguchi–Preneel compression `c(l, r) = E_l(r) + r + l` of
//! [`qsmm_shatter::mimc::compress`], chained from a domain tag:
//!
//! ```text
//! chain(T, [x_1, …, x_m]) = c(…c(c(T, x_1), x_2)…, x_m)
//!
//! leaf(bytes)        = chain(LEAF_TAG, [len, b_1, …, b_k])   len = byte length as a field element
//! node(left, right)  = chain(NODE_TAG, [left, right])
//! root(g, n, top)    = chain(ROOT_TAG, [g, n, top])           g = generation, n = leaf count
//! empty_subtree(0)   = EMPTY_LEAF
//! empty_subtree(h+1) = node(empty_subtree(h), empty_subtree(h))
//! ```
//!
//! # Leaves
//!
//! The content is cut into chunks of [`LEAF_CHUNK_LEN`] `= 31` bytes; each chunk, read as a
//! little-endian integer, is below `2^248 < p` and so is a field element without reduction. The
//! last chunk is zero-padded on the right. The padding is unambiguous because the byte length is
//! absorbed first: two contents of different lengths differ in the first absorbed element, two
//! of the same length differ in some chunk. An empty content absorbs only its length (`0`).
//! A 4096-byte block costs `1 + ⌈4096 / 31⌉ = 134` compressions.
//!
//! # The tree
//!
//! A tree of `n ≥ 1` leaves has depth `d = ⌈log₂ n⌉` ([`depth`]) and is the complete binary tree
//! of `2^d` leaves whose positions `n … 2^d − 1` hold [`EMPTY_LEAF`](empty_leaf): a tag that is
//! not the hash of any content (finding content that hashes to it is a preimage attack on the
//! chain). Whole subtrees of padding are the constants [`empty_subtree`], so padding costs no
//! hashing. Every authentication path therefore has exactly `d` siblings. The top of the tree
//! is then bound with the generation and the leaf count into the [`root`]: a proof cannot move
//! a leaf into a tree of another size or generation.
//!
//! # Domain separation
//!
//! Each role starts its chain from its own tag, so a leaf, an inner node and a root can never be
//! mistaken for one another without a collision of `c` itself:
//!
//! ```text
//! tag(label, role) = SHAKE256(label ‖ 0x00 ‖ role), 64 bytes, read little-endian, reduced mod p
//!
//! LEAF_TAG   = tag(PROOF_LEAF, "leaf")     EMPTY_LEAF = tag(PROOF_LEAF, "empty")
//! NODE_TAG   = tag(PROOF_NODE, "node")     ROOT_TAG   = tag(PROOF_NODE, "root")
//! ```
//!
//! with the labels `qsmm_types::labels::PROOF_LEAF` (`"qsmm/v1/proof/leaf"`) and `PROOF_NODE`
//! (`"qsmm/v1/proof/node"`). The `0x00` separator cannot occur in a label, so the encoding is
//! injective. Inside a circuit the four tags are fixed constants.
//!
//! # Security argument, in one paragraph
//!
//! Every chain has a fixed IV and absorbs a prefix-free sequence (fixed arity for nodes and
//! roots, length first for leaves), so a collision of any of these functions, traced back from
//! the output, yields a collision of `c` or a preimage of a tag. A forged opening of a leaf at
//! an index needs, at some level, two distinct inputs with the same node hash or leaf hash — again
//! a collision of `c`.
//!
//! ```
//! use qsmm_proof_stub::hash;
//!
//! let a = hash::leaf(b"block a");
//! let b = hash::leaf(b"block b");
//! let commitment = hash::root(7, 2, hash::node(a, b));
//! assert_eq!(hash::depth(2), Some(1));
//! assert_ne!(commitment, hash::root(8, 2, hash::node(a, b)));
//! ```

use std::sync::OnceLock;

use ff::FromUniformBytes;
use qsmm_shatter::mimc::{self, Fp};
use qsmm_types::labels::{self, Label};
use shake::{ExtendableOutput, Shake256, Update, XofReader};

use crate::Commitment;

/// Bytes of leaf content per absorbed field element: the largest whole number of bytes that is
/// always below the Pallas modulus (`2^248 < p < 2^255`).
pub const LEAF_CHUNK_LEN: usize = 31;

/// The largest tree depth: `⌈log₂ n⌉ ≤ 64` for every `n ≤ u64::MAX`.
pub const MAX_DEPTH: u32 = 64;

/// The hash of one leaf's content: `chain(LEAF_TAG, [len, chunk_1, …, chunk_k])`.
///
/// See the [module documentation](self) for the chunking and padding rule.
#[must_use]
pub fn leaf(content: &[u8]) -> Fp {
    // A usize always fits in a u64 on the platforms Rust supports; saturating keeps the function
    // total without a panic path.
    let len = u64::try_from(content.len()).unwrap_or(u64::MAX);
    let mut state = mimc::compress(tags().leaf, Fp::from(len));
    for chunk in content.chunks(LEAF_CHUNK_LEN) {
        state = mimc::compress(state, chunk_to_field(chunk));
    }
    state
}

/// The hash of an inner node: `chain(NODE_TAG, [left, right])`.
#[must_use]
pub fn node(left: Fp, right: Fp) -> Fp {
    mimc::compress(mimc::compress(tags().node, left), right)
}

/// The commitment to a tree: `chain(ROOT_TAG, [generation, leaf_count, top])`, where `top` is
/// the hash at the top of the (padded) tree.
#[must_use]
pub fn root(generation: u64, leaf_count: u64, top: Fp) -> Commitment {
    let state = mimc::compress(tags().root, Fp::from(generation));
    let state = mimc::compress(state, Fp::from(leaf_count));
    Commitment::from_field(mimc::compress(state, top))
}

/// The value of a padding leaf, `tag(PROOF_LEAF, "empty")`.
#[must_use]
pub fn empty_leaf() -> Fp {
    tags().empty
}

/// The hash of a subtree of height `height` made only of padding leaves:
/// `empty_subtree(0) = empty_leaf()`, `empty_subtree(h + 1) = node(e_h, e_h)`.
///
/// Returns `None` for `height > MAX_DEPTH`. The 65 values are computed once (130 compressions)
/// and cached.
#[must_use]
pub fn empty_subtree(height: u32) -> Option<Fp> {
    static EMPTY: OnceLock<Vec<Fp>> = OnceLock::new();
    let table = EMPTY.get_or_init(|| {
        let mut table = Vec::with_capacity(65);
        let mut current = empty_leaf();
        table.push(current);
        for _ in 0..MAX_DEPTH {
            current = node(current, current);
            table.push(current);
        }
        table
    });
    table.get(usize::try_from(height).ok()?).copied()
}

/// The depth `⌈log₂ n⌉` of a tree of `leaf_count` leaves, which is also the number of siblings
/// in every authentication path; `None` for an empty tree.
///
/// ```
/// use qsmm_proof_stub::hash::depth;
///
/// assert_eq!(depth(0), None);
/// assert_eq!(depth(1), Some(0));
/// assert_eq!(depth(5), Some(3));
/// assert_eq!(depth(1 << 16), Some(16));
/// assert_eq!(depth(u64::MAX), Some(64));
/// ```
#[must_use]
pub const fn depth(leaf_count: u64) -> Option<u32> {
    match leaf_count {
        0 => None,
        n => Some(u64::BITS - (n - 1).leading_zeros()),
    }
}

/// The domain tag that starts every leaf chain, `tag(PROOF_LEAF, "leaf")`.
#[must_use]
pub fn leaf_tag() -> Fp {
    tags().leaf
}

/// The domain tag that starts every inner-node chain, `tag(PROOF_NODE, "node")`.
#[must_use]
pub fn node_tag() -> Fp {
    tags().node
}

/// The domain tag that starts the root chain, `tag(PROOF_NODE, "root")`.
#[must_use]
pub fn root_tag() -> Fp {
    tags().root
}

/// The four domain constants, derived once.
#[derive(Debug)]
struct Tags {
    leaf: Fp,
    empty: Fp,
    node: Fp,
    root: Fp,
}

fn tags() -> &'static Tags {
    static TAGS: OnceLock<Tags> = OnceLock::new();
    TAGS.get_or_init(|| Tags {
        leaf: tag(labels::PROOF_LEAF, b"leaf"),
        empty: tag(labels::PROOF_LEAF, b"empty"),
        node: tag(labels::PROOF_NODE, b"node"),
        root: tag(labels::PROOF_NODE, b"root"),
    })
}

/// `SHAKE256(label ‖ 0x00 ‖ role)`, 64 bytes, read little-endian and reduced mod `p`.
fn tag(label: Label, role: &[u8]) -> Fp {
    let mut xof = Shake256::default();
    xof.update(label.as_bytes());
    xof.update(&[0]);
    xof.update(role);
    let mut wide = [0u8; 64];
    xof.finalize_xof().read(&mut wide);
    Fp::from_uniform_bytes(&wide)
}

/// A chunk of at most 31 bytes as the little-endian integer it spells, zero-padded.
fn chunk_to_field(chunk: &[u8]) -> Fp {
    let mut wide = [0u8; 64];
    for (dst, src) in wide.iter_mut().zip(chunk.iter().take(LEAF_CHUNK_LEN)) {
        *dst = *src;
    }
    // Below 2^248 < p: the reduction inside `from_uniform_bytes` is the identity here.
    Fp::from_uniform_bytes(&wide)
}

#[cfg(test)]
mod tests {
    use ff::{Field, PrimeField};

    use super::*;

    #[test]
    fn tags_are_distinct_and_follow_the_rule() {
        let t = tags();
        let all = [t.leaf, t.empty, t.node, t.root];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Regenerate one by hand from the label text.
        let mut xof = Shake256::default();
        xof.update(b"qsmm/v1/proof/node\0root");
        let mut wide = [0u8; 64];
        xof.finalize_xof().read(&mut wide);
        assert_eq!(root_tag(), Fp::from_uniform_bytes(&wide));
        assert_eq!(leaf_tag(), t.leaf);
        assert_eq!(node_tag(), t.node);
        assert_eq!(empty_leaf(), t.empty);
    }

    #[test]
    fn chunks_are_little_endian_integers() {
        assert_eq!(chunk_to_field(&[]), Fp::ZERO);
        assert_eq!(chunk_to_field(&[1, 2]), Fp::from(0x0201));
        let full = [0xff; LEAF_CHUNK_LEN];
        let mut repr = [0u8; 32];
        repr[..LEAF_CHUNK_LEN].copy_from_slice(&full);
        assert_eq!(chunk_to_field(&full).to_repr(), repr);
    }

    #[test]
    fn leaf_is_the_documented_chain() {
        let content: Vec<u8> = (0..70u8).collect();
        let mut expected = mimc::compress(leaf_tag(), Fp::from(70));
        expected = mimc::compress(expected, chunk_to_field(&content[..31]));
        expected = mimc::compress(expected, chunk_to_field(&content[31..62]));
        expected = mimc::compress(expected, chunk_to_field(&content[62..]));
        assert_eq!(leaf(&content), expected);
        assert_eq!(leaf(&[]), mimc::compress(leaf_tag(), Fp::ZERO));
    }

    #[test]
    fn padding_and_length_are_unambiguous() {
        // Same chunks after zero padding, different lengths.
        let contents: [&[u8]; 8] = [
            &[],
            &[0],
            &[0, 0],
            &[0; 31],
            &[0; 32],
            &[1],
            &[1, 0],
            &[0, 1],
        ];
        for (i, a) in contents.iter().enumerate() {
            for b in &contents[i + 1..] {
                assert_ne!(leaf(a), leaf(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn roles_are_separated() {
        let (a, b) = (Fp::from(1), Fp::from(2));
        assert_ne!(node(a, b), node(b, a));
        // A one-chunk leaf absorbs two elements like a node, from another tag.
        assert_ne!(leaf(&[2]), node(Fp::from(1), Fp::from(2)));
        assert_ne!(empty_leaf(), leaf(&[]));
        assert_ne!(root(0, 1, a).to_field(), node(Fp::ZERO, Fp::ONE));
    }

    #[test]
    fn empty_subtrees_chain() {
        assert_eq!(empty_subtree(0), Some(empty_leaf()));
        let e1 = node(empty_leaf(), empty_leaf());
        assert_eq!(empty_subtree(1), Some(e1));
        assert_eq!(empty_subtree(2), Some(node(e1, e1)));
        assert!(empty_subtree(MAX_DEPTH).is_some());
        assert_eq!(empty_subtree(MAX_DEPTH + 1), None);
        assert_eq!(empty_subtree(u32::MAX), None);
    }

    #[test]
    fn depth_boundaries() {
        let cases = [
            (1, 0),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 3),
            (7, 3),
            (8, 3),
            (9, 4),
            (13, 4),
            ((1 << 16) - 1, 16),
            (1 << 16, 16),
            ((1 << 16) + 1, 17),
            (1 << 63, 63),
            ((1 << 63) + 1, 64),
            (u64::MAX, 64),
        ];
        for (n, d) in cases {
            assert_eq!(depth(n), Some(d), "n = {n}");
        }
        assert_eq!(depth(0), None);
    }

    #[test]
    fn root_binds_every_input() {
        let top = Fp::from(9);
        let base = root(7, 3, top);
        assert_ne!(base, root(8, 3, top));
        assert_ne!(base, root(7, 4, top));
        assert_ne!(base, root(7, 3, top + Fp::ONE));
        // Generation and count are not interchangeable.
        assert_ne!(root(3, 7, top), root(7, 3, top));
    }
}
