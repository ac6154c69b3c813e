//! The held-block circuit: the prover knows the whole content of the block at a public position
//! of the tree committed to by a public commitment — the statement one sample of a
//! retrievability [`challenge`](crate::challenge) proves.
//!
//! # Statement
//!
//! Public inputs (the instance column, in this order):
//!
//! 0. the commitment `R`;
//! 1. the leaf count `n` (bound into `R`);
//! 2. the position `i`.
//!
//! Private witness: the 4096-byte content as its [`CHUNKS`] `= 133` chunk field elements
//! `x_1 … x_133`, the siblings, the position bits and the generation `g`. The circuit proves
//!
//! ```text
//! H = c(…c(c(c(LEAF_TAG, 4096), x_1), x_2)…, x_133)     = qsmm_proof_stub::hash::leaf(content)
//! (the path of the membership circuit from H with bits b_j)
//! i = Σ b_j 2^j,   R = root(g, n, top)
//! ```
//!
//! The leaf hash is computed in the circuit from the content, so a valid proof shows knowledge
//! of field elements whose leaf chain reaches the committed leaf; since the chain is collision
//! resistant (see `qsmm_proof_stub::hash`), those are the block's own chunks. The chunks need no
//! range check: different field elements reaching the same leaf hash would be a collision of
//! the compression `c`. A padding position holds `EMPTY_LEAF`, which is not the hash of any
//! content, so no proof exists for a position at or above `n`.
//!
//! # Rows
//!
//! The leaf chain is `1 + 133 = 134` compressions of 10 rows, the path and root as in the
//! membership circuit: `rows(D) = 1,340 + 22·D + 30`. Depth 20 needs 1,810 rows and fits
//! `k = 11`, as every depth up to 30; depths 31 and 32 need `k = 12`. See [`k_for_held_block`].

use halo2_proofs::{
    circuit::{Layouter, SimpleFloorPlanner, Value},
    plonk::{Circuit, ConstraintSystem, Error as PlonkError},
};
use qsmm_proof_stub::hash;
use qsmm_shatter::mimc::Fp;

use crate::chip::{Input, ROWS_PER_COMPRESSION};
use crate::circuit::{MembershipConfig, RESERVED_ROWS, ROWS_PER_SWAP, k_for_rows};

/// Bytes of a block: the unit a medium is committed in.
pub const BLOCK_LEN: usize = 4096;
/// Field elements a block is absorbed as (`⌈4096 / 31⌉`).
pub const CHUNKS: usize = BLOCK_LEN.div_ceil(hash::LEAF_CHUNK_LEN);

/// Instance row of the leaf count.
pub(crate) const COUNT_ROW: usize = 1;
/// Instance row of the position.
pub(crate) const POSITION_ROW: usize = 2;

/// Rows the held-block circuit of depth `depth` uses: `22·depth + 1,370`.
#[must_use]
pub const fn rows_for_held_block(depth: u32) -> usize {
    let depth = depth as usize;
    (1 + CHUNKS) * ROWS_PER_COMPRESSION
        + depth * (ROWS_PER_SWAP + 2 * ROWS_PER_COMPRESSION)
        + 3 * ROWS_PER_COMPRESSION
}

/// The smallest `k` that fits the held-block circuit of depth `depth`.
///
/// ```
/// use qsmm_proof_halo2::held::k_for_held_block;
///
/// assert_eq!(k_for_held_block(1), 11);
/// assert_eq!(k_for_held_block(20), 11);
/// assert_eq!(k_for_held_block(30), 11);
/// assert_eq!(k_for_held_block(31), 12);
/// ```
#[must_use]
pub const fn k_for_held_block(depth: u32) -> u32 {
    k_for_rows(rows_for_held_block(depth) + RESERVED_ROWS)
}

/// The content of a block as the field elements the leaf hash absorbs after its length: 31-byte
/// little-endian chunks, the last one zero-padded.
#[must_use]
pub fn block_chunks(block: &[u8; BLOCK_LEN]) -> Vec<Fp> {
    block
        .chunks(hash::LEAF_CHUNK_LEN)
        .map(|chunk| {
            let mut repr = [0u8; 32];
            repr[..chunk.len()].copy_from_slice(chunk);
            // Below 2^248 < p: always a canonical encoding.
            Option::from(ff::PrimeField::from_repr(repr)).unwrap_or(Fp::zero())
        })
        .collect()
}

/// The held-block circuit for one depth. Without a witness (for key generation) every private
/// value is unknown.
#[derive(Clone, Debug)]
pub struct HeldBlockCircuit {
    depth: u32,
    chunks: Vec<Value<Fp>>,
    bits: Vec<Value<bool>>,
    siblings: Vec<Value<Fp>>,
    generation: Value<Fp>,
}

impl HeldBlockCircuit {
    /// A circuit without witness, as key generation needs it.
    #[must_use]
    pub fn shape(depth: u32) -> Self {
        let levels = depth as usize;
        Self {
            depth,
            chunks: vec![Value::unknown(); CHUNKS],
            bits: vec![Value::unknown(); levels],
            siblings: vec![Value::unknown(); levels],
            generation: Value::unknown(),
        }
    }

    /// A circuit with its witness: the block's content, its position, the siblings of its path
    /// (bottom up; their number is the depth) and the generation.
    ///
    /// The content is not checked against the tree here: a wrong witness gives a circuit whose
    /// constraints fail.
    #[must_use]
    pub fn with_witness(
        block: &[u8; BLOCK_LEN],
        position: u64,
        siblings: &[Fp],
        generation: u64,
    ) -> Self {
        let depth = u32::try_from(siblings.len()).unwrap_or(u32::MAX);
        Self {
            depth,
            chunks: block_chunks(block).into_iter().map(Value::known).collect(),
            bits: (0..siblings.len())
                .map(|j| {
                    let bit = u32::try_from(j)
                        .ok()
                        .and_then(|j| position.checked_shr(j))
                        .is_some_and(|p| p & 1 == 1);
                    Value::known(bit)
                })
                .collect(),
            siblings: siblings.iter().copied().map(Value::known).collect(),
            generation: Value::known(Fp::from(generation)),
        }
    }

    /// The tree depth.
    #[must_use]
    pub const fn depth(&self) -> u32 {
        self.depth
    }

    /// The public inputs of the statement, in instance-column order.
    #[must_use]
    pub fn public_inputs(root: Fp, leaf_count: u64, position: u64) -> Vec<Fp> {
        vec![root, Fp::from(leaf_count), Fp::from(position)]
    }
}

impl Circuit<Fp> for HeldBlockCircuit {
    type Config = MembershipConfig;
    type FloorPlanner = SimpleFloorPlanner;

    fn without_witnesses(&self) -> Self {
        Self::shape(self.depth)
    }

    fn configure(meta: &mut ConstraintSystem<Fp>) -> MembershipConfig {
        MembershipConfig::configure(meta)
    }

    fn synthesize(
        &self,
        config: MembershipConfig,
        mut layouter: impl Layouter<Fp>,
    ) -> Result<(), PlonkError> {
        let chip = config.chip();
        let length = Fp::from(BLOCK_LEN as u64);
        let mut leaf = chip.compress(
            layouter.namespace(|| "leaf, length"),
            Input::Constant(hash::leaf_tag()),
            Input::Constant(length),
        )?;
        for chunk in &self.chunks {
            leaf = chip.compress(
                layouter.namespace(|| "leaf, chunk"),
                Input::Cell(&leaf),
                Input::Witness(*chunk),
            )?;
        }
        let (top, position) = config.path(
            &mut layouter,
            Input::Cell(&leaf),
            &self.bits,
            &self.siblings,
        )?;
        config.root(
            &mut layouter,
            Input::Witness(self.generation),
            Input::Instance(config.instance(), COUNT_ROW),
            &top,
        )?;
        layouter.constrain_instance(position.cell(), config.instance(), POSITION_ROW)
    }
}
