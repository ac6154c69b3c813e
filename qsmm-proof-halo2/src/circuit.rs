//! The membership circuit: a leaf hash sits at some position of the MiMC-Merkle tree committed
//! to by a public [`Commitment`](qsmm_proof_stub::Commitment).
//!
//! # Statement
//!
//! Public inputs (the instance column, in this order):
//!
//! 0. the commitment `R` (the root field element);
//! 1. the leaf hash `H` (`qsmm_proof_stub::hash::leaf` of the block);
//! 2. only in [`Disclosure::Position`]: the position `i`.
//!
//! Private witness: the position bits `b_0 … b_{D−1}`, the siblings `s_0 … s_{D−1}`, the
//! generation `g` and the leaf count `n`. The circuit proves
//!
//! ```text
//! cur_0 = H
//! (l_j, r_j) = b_j ? (s_j, cur_j) : (cur_j, s_j),   b_j ∈ {0, 1}
//! cur_{j+1} = node(l_j, r_j) = c(c(NODE_TAG, l_j), r_j)
//! R = root(g, n, cur_D) = c(c(c(ROOT_TAG, g), n), cur_D)
//! i = Σ b_j 2^j                                       (exposed only with Disclosure::Position)
//! ```
//!
//! with `c` the MiMC-7 compression of [`chip`](crate::chip) and the tags of
//! `qsmm_proof_stub::hash`, so the circuit computes the same root as the transparent backend.
//!
//! # Rows
//!
//! Each level takes a swap region of 2 rows and two compressions of 10 rows; the root takes three
//! compressions: `rows(D) = 22·D + 30`. Depth 20 needs 470 rows and fits `k = 9` (512 rows minus
//! the blinding rows), as every depth up to 21; depth 32 needs 734 rows, `k = 10`. See
//! [`k_for_depth`].

use halo2_proofs::{
    circuit::{Layouter, SimpleFloorPlanner, Value},
    plonk::{
        Circuit, Column, ConstraintSystem, Constraints, Error as PlonkError, Expression, Instance,
        Selector,
    },
    poly::Rotation,
};
use qsmm_proof_stub::hash;
use qsmm_shatter::mimc::Fp;

use crate::chip::{
    ADVICE_COLUMNS, Cell, Input, MimcChip, MimcConfig, ROUNDS_PER_ROW, ROWS_PER_COMPRESSION,
};

/// The smallest supported tree depth.
pub const MIN_DEPTH: u32 = 1;
/// The largest supported tree depth (`2^32` blocks of 4096 bytes: 16 TiB).
pub const MAX_DEPTH: u32 = 32;
/// The default depth: `2^20` blocks, a 4 GiB medium of 4096-byte blocks.
pub const DEFAULT_DEPTH: u32 = 20;

/// Instance row of the commitment.
pub(crate) const ROOT_ROW: usize = 0;
/// Instance row of the leaf hash.
pub(crate) const LEAF_ROW: usize = 1;
/// Instance row of the position (only with [`Disclosure::Position`]).
pub(crate) const POSITION_ROW: usize = 2;

/// Rows of one swap region.
pub(crate) const ROWS_PER_SWAP: usize = 2;
/// Rows the proof system reserves for blinding at the end of the domain (`blinding_factors + 1`
/// of this circuit, whose most-queried advice column is queried at two rotations).
pub(crate) const RESERVED_ROWS: usize = 6;

/// What a proof discloses besides the commitment and the leaf hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Disclosure {
    /// The position stays private: the proof says the leaf is *somewhere* in the tree.
    Hidden,
    /// The position is a public input: the proof says the leaf is *at* that position (the
    /// statement of [`qsmm_proof_stub::IntegrityVerifier`]).
    Position,
}

/// Rows the circuit of depth `depth` uses: `22·depth + 30`.
#[must_use]
pub const fn rows_for_depth(depth: u32) -> usize {
    let depth = depth as usize;
    depth * (ROWS_PER_SWAP + 2 * ROWS_PER_COMPRESSION) + 3 * ROWS_PER_COMPRESSION
}

/// The smallest `k` (the circuit has `2^k` rows) that fits a tree of depth `depth`.
///
/// ```
/// use qsmm_proof_halo2::circuit::k_for_depth;
///
/// assert_eq!(k_for_depth(20), 9);
/// assert_eq!(k_for_depth(21), 9);
/// assert_eq!(k_for_depth(22), 10);
/// assert_eq!(k_for_depth(32), 10);
/// ```
#[must_use]
pub const fn k_for_depth(depth: u32) -> u32 {
    k_for_rows(rows_for_depth(depth) + RESERVED_ROWS)
}

/// The smallest `k` with `2^k ≥ needed`.
pub(crate) const fn k_for_rows(needed: usize) -> u32 {
    let mut k = 4;
    while (1usize << k) < needed {
        k += 1;
    }
    k
}

/// The private witness of a membership proof.
#[derive(Clone, Debug)]
pub(crate) struct Witness {
    pub(crate) position: u64,
    pub(crate) siblings: Vec<Fp>,
    pub(crate) generation: u64,
    pub(crate) leaf_count: u64,
}

/// The membership circuit for one depth and one [`Disclosure`].
///
/// Without a witness (for key generation) every private value is unknown.
#[derive(Clone, Debug)]
pub struct MembershipCircuit {
    depth: u32,
    disclosure: Disclosure,
    bits: Vec<Value<bool>>,
    siblings: Vec<Value<Fp>>,
    generation: Value<Fp>,
    leaf_count: Value<Fp>,
}

impl MembershipCircuit {
    /// A circuit without witness, as key generation needs it.
    #[must_use]
    pub fn shape(depth: u32, disclosure: Disclosure) -> Self {
        let levels = depth as usize;
        Self {
            depth,
            disclosure,
            bits: vec![Value::unknown(); levels],
            siblings: vec![Value::unknown(); levels],
            generation: Value::unknown(),
            leaf_count: Value::unknown(),
        }
    }

    /// A circuit with its witness. `witness.siblings` must have `depth` entries (checked by the
    /// caller). The leaf hash is not part of the witness: the circuit reads it from the public
    /// inputs.
    pub(crate) fn with_witness(depth: u32, disclosure: Disclosure, witness: &Witness) -> Self {
        let levels = depth as usize;
        Self {
            depth,
            disclosure,
            bits: (0..levels)
                .map(|j| Value::known((witness.position >> j) & 1 == 1))
                .collect(),
            siblings: witness.siblings.iter().copied().map(Value::known).collect(),
            generation: Value::known(Fp::from(witness.generation)),
            leaf_count: Value::known(Fp::from(witness.leaf_count)),
        }
    }

    /// The tree depth.
    #[must_use]
    pub const fn depth(&self) -> u32 {
        self.depth
    }

    /// The public inputs of the statement, in instance-column order.
    #[must_use]
    pub fn public_inputs(disclosure: Disclosure, root: Fp, leaf: Fp, position: u64) -> Vec<Fp> {
        match disclosure {
            Disclosure::Hidden => vec![root, leaf],
            Disclosure::Position => vec![root, leaf, Fp::from(position)],
        }
    }
}

/// The circuit's columns and gates, shared with the held-block circuit of
/// [`challenge`](crate::challenge).
#[derive(Clone, Debug)]
pub struct MembershipConfig {
    mimc: MimcConfig,
    instance: Column<Instance>,
    swap: Selector,
}

impl MembershipConfig {
    /// The columns, the MiMC-7 gates and the swap gate.
    pub(crate) fn configure(meta: &mut ConstraintSystem<Fp>) -> Self {
        let advice = [(); ADVICE_COLUMNS].map(|()| meta.advice_column());
        let round_constants = [(); ROUNDS_PER_ROW].map(|()| meta.fixed_column());
        let constants = meta.fixed_column();
        meta.enable_constant(constants);
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let mimc = MimcConfig::configure(meta, advice, round_constants);

        // Swap region, two rows:
        //   row 0: state = cur,  square 0 = sibling, key = bit, message = position so far,
        //          round constant 0 = 2^j
        //   row 1: state = left, square 0 = right,   message = position so far + bit·2^j
        let swap = meta.selector();
        meta.create_gate("conditional swap", |meta| {
            let s = meta.query_selector(swap);
            let cur = meta.query_advice(mimc.state, Rotation::cur());
            let sibling = meta.query_advice(mimc.squares[0], Rotation::cur());
            let bit = meta.query_advice(mimc.key, Rotation::cur());
            let acc = meta.query_advice(mimc.message, Rotation::cur());
            let weight = meta.query_fixed(mimc.round_constants[0]);
            let left = meta.query_advice(mimc.state, Rotation::next());
            let right = meta.query_advice(mimc.squares[0], Rotation::next());
            let acc_next = meta.query_advice(mimc.message, Rotation::next());
            let one = Expression::Constant(Fp::one());
            Constraints::with_selector(
                s,
                [
                    ("bit is boolean", bit.clone() * (one - bit.clone())),
                    (
                        "left",
                        left.clone() - cur.clone() - bit.clone() * (sibling.clone() - cur.clone()),
                    ),
                    ("right", left + right - cur - sibling),
                    ("position", acc_next - acc - bit * weight),
                ],
            )
        });

        Self {
            mimc,
            instance,
            swap,
        }
    }

    /// The MiMC-7 chip over these columns.
    pub(crate) fn chip(&self) -> MimcChip {
        MimcChip::construct(self.mimc.clone())
    }

    /// The instance column.
    pub(crate) const fn instance(&self) -> Column<Instance> {
        self.instance
    }

    /// Climbs from `leaf` along the path given by `bits` (bottom up) and `siblings`; returns the
    /// top of the tree and the position `Σ b_j 2^j`.
    pub(crate) fn path(
        &self,
        layouter: &mut impl Layouter<Fp>,
        leaf: Input<'_>,
        bits: &[Value<bool>],
        siblings: &[Value<Fp>],
    ) -> Result<(Cell, Cell), PlonkError> {
        let chip = self.chip();
        let c = &self.mimc;
        let node_tag = hash::node_tag();
        let mut cur: Option<Cell> = None;
        let mut acc: Option<Cell> = None;
        let mut weight = Fp::one();
        for (bit, sibling) in bits.iter().zip(siblings) {
            let (left, right, next_acc) = layouter.assign_region(
                || "conditional swap",
                |mut region| {
                    self.swap.enable(&mut region, 0)?;
                    let cur_cell = match &cur {
                        Some(cell) => cell.copy_advice(|| "cur", &mut region, c.state, 0)?,
                        None => leaf.assign(&mut region, "leaf", c.state)?,
                    };
                    let acc_cell = match &acc {
                        Some(cell) => cell.copy_advice(|| "position", &mut region, c.message, 0)?,
                        None => region.assign_advice_from_constant(
                            || "position",
                            c.message,
                            0,
                            Fp::zero(),
                        )?,
                    };
                    region.assign_advice(|| "sibling", c.squares[0], 0, || *sibling)?;
                    let bit_value = bit.map(|b| if b { Fp::one() } else { Fp::zero() });
                    region.assign_advice(|| "bit", c.key, 0, || bit_value)?;
                    region.assign_fixed(
                        || "2^j",
                        c.round_constants[0],
                        0,
                        || Value::known(weight),
                    )?;

                    let cur_value = cur_cell.value().copied();
                    let (left, right) = cur_value
                        .zip(*sibling)
                        .zip(*bit)
                        .map(|((cur, sib), b)| if b { (sib, cur) } else { (cur, sib) })
                        .unzip();
                    let left = region.assign_advice(|| "left", c.state, 1, || left)?;
                    let right = region.assign_advice(|| "right", c.squares[0], 1, || right)?;
                    let next_acc = acc_cell
                        .value()
                        .copied()
                        .zip(bit_value)
                        .map(|(a, b)| a + b * weight);
                    let next_acc =
                        region.assign_advice(|| "position", c.message, 1, || next_acc)?;
                    Ok((left, right, next_acc))
                },
            )?;
            let half = chip.compress(
                layouter.namespace(|| "node, left"),
                Input::Constant(node_tag),
                Input::Cell(&left),
            )?;
            let node = chip.compress(
                layouter.namespace(|| "node, right"),
                Input::Cell(&half),
                Input::Cell(&right),
            )?;
            cur = Some(node);
            acc = Some(next_acc);
            weight = weight.double();
        }
        cur.zip(acc).ok_or(PlonkError::Synthesis)
    }

    /// `root(g, n, top) = c(c(c(ROOT_TAG, g), n), top)`, constrained to equal the commitment
    /// (instance row [`ROOT_ROW`]).
    pub(crate) fn root(
        &self,
        layouter: &mut impl Layouter<Fp>,
        generation: Input<'_>,
        leaf_count: Input<'_>,
        top: &Cell,
    ) -> Result<(), PlonkError> {
        let chip = self.chip();
        let state = chip.compress(
            layouter.namespace(|| "root, generation"),
            Input::Constant(hash::root_tag()),
            generation,
        )?;
        let state = chip.compress(
            layouter.namespace(|| "root, leaf count"),
            Input::Cell(&state),
            leaf_count,
        )?;
        let root = chip.compress(
            layouter.namespace(|| "root, top"),
            Input::Cell(&state),
            Input::Cell(top),
        )?;
        layouter.constrain_instance(root.cell(), self.instance, ROOT_ROW)
    }
}

impl Circuit<Fp> for MembershipCircuit {
    type Config = MembershipConfig;
    type FloorPlanner = SimpleFloorPlanner;

    fn without_witnesses(&self) -> Self {
        Self::shape(self.depth, self.disclosure)
    }

    fn configure(meta: &mut ConstraintSystem<Fp>) -> MembershipConfig {
        MembershipConfig::configure(meta)
    }

    fn synthesize(
        &self,
        config: MembershipConfig,
        mut layouter: impl Layouter<Fp>,
    ) -> Result<(), PlonkError> {
        let leaf = Input::Instance(config.instance, LEAF_ROW);
        let (top, position) = config.path(&mut layouter, leaf, &self.bits, &self.siblings)?;
        config.root(
            &mut layouter,
            Input::Witness(self.generation),
            Input::Witness(self.leaf_count),
            &top,
        )?;
        if self.disclosure == Disclosure::Position {
            layouter.constrain_instance(position.cell(), config.instance, POSITION_ROW)?;
        }
        Ok(())
    }
}
