//! The MiMC-7 chip: `qsmm_shatter::mimc::compress` as a Halo2 region of 10 rows.
//!
//! # Layout
//!
//! Each row holds [`ROUNDS_PER_ROW`] `= 10` rounds. Twenty-two advice columns — the state `x`,
//! the key `k`, the message `m`, ten squares `t²_0 … t²_9` and nine intermediate states
//! `y_1 … y_9` — and ten fixed columns holding the round constants `c_0 … c_9` of the row's
//! rounds. On a full row, with `y_0 = x` (this row) and `y_10 = x` (next row):
//!
//! ```text
//! t_j     = y_j + k + c_j
//! t²_j    = t_j · t_j                      (gate "square j",        degree 2)
//! y_{j+1} = t²_j · t²_j · t²_j · t_j       (gate "seventh power j", degree 4)
//! k_next  = k,  m_next = m                 (the key and message are carried down)
//! ```
//!
//! so ten rounds cost one row and the highest gate degree is 5 with its selector, which keeps
//! the prover's extended domain at 4× the rows. The 91 rounds take 9 full rows (rounds 0–89)
//! and a last row holding round 90 (`t²_0`, `y_1`) and the output
//! `E_k(m) + m + k = y_1 + 2k + m` in the second square column (gate "output"). Row 0 holds
//! `x_0 = m` (a copy constraint).
//!
//! Fewer rows per compression make the circuits fit a smaller domain (`2^k` rows): proving and
//! verifying costs grow with `2^k` far more than with the number of columns (ten rounds per
//! row make a depth-20 membership circuit fit `k = 9`; one round per row needed `k = 12`).
//!
//! The permutation is keyed exactly as the native one: the key is added before every round and
//! once after the last, with the same 91 round constants (`c_0 = 0`), so the chip's output equals
//! [`qsmm_shatter::mimc::compress`] for every input.

use halo2_proofs::{
    circuit::{AssignedCell, Layouter, Region, Value},
    plonk::{
        Advice, Column, ConstraintSystem, Constraints, Error as PlonkError, Expression, Fixed,
        Instance, Selector,
    },
    poly::Rotation,
};
use qsmm_shatter::mimc::{self, Fp};

/// A cell holding a field element inside the circuit.
pub type Cell = AssignedCell<Fp, Fp>;

/// Rounds one row of the chip computes.
pub const ROUNDS_PER_ROW: usize = 10;

/// Rows one compression occupies: the full rows of [`ROUNDS_PER_ROW`] rounds and the last row
/// with the remaining rounds and the output.
pub const ROWS_PER_COMPRESSION: usize = FULL_ROWS + 1;

/// Advice columns the chip needs: state, key, message, one square per round of a row and one
/// intermediate state between two rounds of a row.
pub const ADVICE_COLUMNS: usize = 3 + ROUNDS_PER_ROW + (ROUNDS_PER_ROW - 1);

/// Rows with [`ROUNDS_PER_ROW`] rounds.
const FULL_ROWS: usize = mimc::ROUNDS / ROUNDS_PER_ROW;
/// Rounds on the last row (at least one, so that the output has a row with the state in it).
const LAST_ROUNDS: usize = mimc::ROUNDS % ROUNDS_PER_ROW;
const _: () = assert!(
    LAST_ROUNDS >= 1,
    "the last row must hold at least one round"
);

/// An input of [`MimcChip::compress`]: a cell of an earlier region, a fresh private witness, a
/// public input, or a constant fixed by the circuit.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Input<'a> {
    /// A value already in the circuit; bound to it by a copy constraint.
    Cell(&'a Cell),
    /// A private witness assigned here.
    Witness(Value<Fp>),
    /// A constant of the circuit (a domain tag), fixed in the verifying key.
    Constant(Fp),
    /// A public input: the given row of an instance column, bound to it by a copy constraint.
    Instance(Column<Instance>, usize),
}

impl Input<'_> {
    /// Assigns the input to row 0 of `column` in `region`.
    pub(crate) fn assign(
        &self,
        region: &mut Region<'_, Fp>,
        name: &'static str,
        column: Column<Advice>,
    ) -> Result<Cell, PlonkError> {
        match self {
            Self::Cell(cell) => cell.copy_advice(|| name, region, column, 0),
            Self::Witness(value) => region.assign_advice(|| name, column, 0, || *value),
            Self::Constant(constant) => {
                region.assign_advice_from_constant(|| name, column, 0, *constant)
            }
            Self::Instance(instance, row) => {
                region.assign_advice_from_instance(|| name, *instance, *row, column, 0)
            }
        }
    }
}

/// The columns and selectors of the chip. The circuit owns the columns and may reuse them in
/// its own gates, on rows where the chip's selectors are off.
#[derive(Clone, Debug)]
pub struct MimcConfig {
    /// The state `x` at the start of a row.
    pub state: Column<Advice>,
    /// The key, constant down the region.
    pub key: Column<Advice>,
    /// The message, constant down the region (for the feed-forward).
    pub message: Column<Advice>,
    /// `t_j²` of the row's round `j`; on the last row the second one holds the output.
    pub squares: [Column<Advice>; ROUNDS_PER_ROW],
    /// The state after the row's round `j` (`j < ROUNDS_PER_ROW − 1`; the state after the last
    /// round of a row is the next row's `state`).
    pub intermediates: [Column<Advice>; ROUNDS_PER_ROW - 1],
    /// The round constants `c_j` of the row's rounds.
    pub round_constants: [Column<Fixed>; ROUNDS_PER_ROW],
    round: Selector,
    last: Selector,
}

impl MimcConfig {
    /// Creates the chip's gates over the given advice columns (in the order state, key,
    /// message, squares, intermediate states) and fixed columns. Equality is enabled on the
    /// state, key, message and the first two square columns (the output's column).
    pub fn configure(
        meta: &mut ConstraintSystem<Fp>,
        advice: [Column<Advice>; ADVICE_COLUMNS],
        round_constants: [Column<Fixed>; ROUNDS_PER_ROW],
    ) -> Self {
        let [state, key, message, rest @ ..] = advice;
        let squares: [Column<Advice>; ROUNDS_PER_ROW] = std::array::from_fn(|j| rest[j]);
        let intermediates: [Column<Advice>; ROUNDS_PER_ROW - 1] =
            std::array::from_fn(|j| rest[ROUNDS_PER_ROW + j]);
        for column in [state, key, message, squares[0], squares[LAST_ROUNDS]] {
            meta.enable_equality(column);
        }
        let round = meta.selector();
        let last = meta.selector();

        meta.create_gate("mimc-7 rounds", |meta| {
            let s = meta.query_selector(round);
            let k = meta.query_advice(key, Rotation::cur());
            let m = meta.query_advice(message, Rotation::cur());
            let mut y = meta.query_advice(state, Rotation::cur());
            let mut constraints = Vec::with_capacity(2 * ROUNDS_PER_ROW + 2);
            for j in 0..ROUNDS_PER_ROW {
                let next = if j + 1 < ROUNDS_PER_ROW {
                    meta.query_advice(intermediates[j], Rotation::cur())
                } else {
                    meta.query_advice(state, Rotation::next())
                };
                let (square, power) =
                    round_constraints(meta, &y, &k, squares[j], round_constants[j], &next);
                constraints.push(("square", square));
                constraints.push(("seventh power", power));
                y = next;
            }
            let k_next = meta.query_advice(key, Rotation::next());
            let m_next = meta.query_advice(message, Rotation::next());
            constraints.push(("key carried", k_next - k));
            constraints.push(("message carried", m_next - m));
            Constraints::with_selector(s, constraints)
        });

        meta.create_gate("mimc-7 last rounds and output", |meta| {
            let s = meta.query_selector(last);
            let k = meta.query_advice(key, Rotation::cur());
            let m = meta.query_advice(message, Rotation::cur());
            let mut y = meta.query_advice(state, Rotation::cur());
            let mut constraints = Vec::with_capacity(2 * LAST_ROUNDS + 1);
            for j in 0..LAST_ROUNDS {
                let next = meta.query_advice(intermediates[j], Rotation::cur());
                let (square, power) =
                    round_constraints(meta, &y, &k, squares[j], round_constants[j], &next);
                constraints.push(("square", square));
                constraints.push(("seventh power", power));
                y = next;
            }
            let out = meta.query_advice(squares[LAST_ROUNDS], Rotation::cur());
            constraints.push(("feed-forward", out - (y + k.clone() + k + m)));
            Constraints::with_selector(s, constraints)
        });

        Self {
            state,
            key,
            message,
            squares,
            intermediates,
            round_constants,
            round,
            last,
        }
    }
}

/// The two constraints of one round from `y` to `next`: `t² = t·t` and `next = (t²)³·t`, with
/// `t = y + k + c`.
fn round_constraints(
    meta: &mut halo2_proofs::plonk::VirtualCells<'_, Fp>,
    y: &Expression<Fp>,
    k: &Expression<Fp>,
    square: Column<Advice>,
    constant: Column<Fixed>,
    next: &Expression<Fp>,
) -> (Expression<Fp>, Expression<Fp>) {
    let c = meta.query_fixed(constant);
    let t2 = meta.query_advice(square, Rotation::cur());
    let t = y.clone() + k.clone() + c;
    (
        t2.clone() - t.clone() * t.clone(),
        next.clone() - t2.clone() * t2.clone() * t2 * t,
    )
}

/// The MiMC-7 chip.
#[derive(Clone, Debug)]
pub struct MimcChip {
    config: MimcConfig,
}

impl MimcChip {
    /// A chip over a configuration made by [`MimcConfig::configure`].
    #[must_use]
    pub const fn construct(config: MimcConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &MimcConfig {
        &self.config
    }

    /// `compress(key, message) = E_key(message) + message + key`, in one region of
    /// [`ROWS_PER_COMPRESSION`] rows; returns the output cell.
    ///
    /// # Errors
    ///
    /// A [`PlonkError`] from the layouter (for example when the circuit has too few rows).
    pub fn compress(
        &self,
        layouter: impl Layouter<Fp>,
        key: Input<'_>,
        message: Input<'_>,
    ) -> Result<Cell, PlonkError> {
        self.compress_with(layouter, key, message, &|_, value| value)
    }

    /// [`compress`](Self::compress) with every computed cell passed through `tweak` before it
    /// is assigned and used further: the identity gives the honest witness; the tests of the
    /// constraints change one cell and keep the rest consistent with it.
    fn compress_with(
        &self,
        mut layouter: impl Layouter<Fp>,
        key: Input<'_>,
        message: Input<'_>,
        tweak: &dyn Fn(Slot, Value<Fp>) -> Value<Fp>,
    ) -> Result<Cell, PlonkError> {
        let c = &self.config;
        layouter.assign_region(
            || "mimc-7 compress",
            |mut region| {
                let key_cell = key.assign(&mut region, "key", c.key)?;
                let message_cell = message.assign(&mut region, "message", c.message)?;
                let mut k = key_cell.value().copied();
                let mut m = message_cell.value().copied();
                let state_cell = region.assign_advice(|| "x_0", c.state, 0, || m)?;
                region.constrain_equal(state_cell.cell(), message_cell.cell())?;

                let mut x = m;
                for (row, constants) in mimc::round_constants().chunks(ROUNDS_PER_ROW).enumerate() {
                    let full = constants.len() == ROUNDS_PER_ROW;
                    if full {
                        c.round.enable(&mut region, row)?;
                    } else {
                        c.last.enable(&mut region, row)?;
                    }
                    for (j, constant) in constants.iter().enumerate() {
                        let round = row * ROUNDS_PER_ROW + j;
                        region.assign_fixed(
                            || "c_j",
                            c.round_constants[j],
                            row,
                            || Value::known(*constant),
                        )?;
                        let t = x.zip(k).map(|(x, k)| x + k + constant);
                        let square = tweak(Slot::Square(round), t.map(|t| t.square()));
                        region.assign_advice(|| "t^2", c.squares[j], row, || square)?;
                        // x^7 = (t²)³·t, as the gate states it.
                        x = tweak(
                            Slot::State(round),
                            square.zip(t).map(|(s, t)| s.square() * s * t),
                        );
                        if let Some(column) = c.intermediates.get(j) {
                            region.assign_advice(|| "y", *column, row, || x)?;
                        }
                    }
                    if full {
                        let next = row + 1;
                        k = tweak(Slot::Key(next), k);
                        m = tweak(Slot::Message(next), m);
                        region.assign_advice(|| "x", c.state, next, || x)?;
                        region.assign_advice(|| "key", c.key, next, || k)?;
                        region.assign_advice(|| "message", c.message, next, || m)?;
                    }
                }
                let out = tweak(
                    Slot::Output,
                    x.zip(k).zip(m).map(|((x, k), m)| x + k + k + m),
                );
                region.assign_advice(|| "output", c.squares[LAST_ROUNDS], FULL_ROWS, || out)
            },
        )
    }
}

/// A cell of the compression region [`MimcChip::compress_with`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// `t²` of round `i`.
    Square(usize),
    /// The state after round `i`.
    State(usize),
    /// The key carried to row `r ≥ 1`.
    Key(usize),
    /// The message carried to row `r ≥ 1`.
    Message(usize),
    /// The output.
    Output,
}

#[cfg(test)]
mod tests {
    //! Each cell of the region is pinned by a constraint: a witness that changes one computed
    //! cell and stays consistent downstream (as a cheating prover would make it) fails.

    use halo2_proofs::{
        circuit::{Layouter, SimpleFloorPlanner, Value},
        dev::MockProver,
        plonk::{Circuit, ConstraintSystem, Error as PlonkError},
    };

    use super::{ADVICE_COLUMNS, FULL_ROWS, Input, MimcChip, MimcConfig, ROUNDS_PER_ROW, Slot};
    use qsmm_shatter::mimc::{self, Fp};

    /// One compression of fixed inputs with the cell `slot` (if any) increased by one.
    #[derive(Clone, Default)]
    struct Tampered {
        slot: Option<Slot>,
    }

    impl Circuit<Fp> for Tampered {
        type Config = MimcConfig;
        type FloorPlanner = SimpleFloorPlanner;

        fn without_witnesses(&self) -> Self {
            Self::default()
        }

        fn configure(meta: &mut ConstraintSystem<Fp>) -> MimcConfig {
            let advice = [(); ADVICE_COLUMNS].map(|()| meta.advice_column());
            let round_constants = [(); ROUNDS_PER_ROW].map(|()| meta.fixed_column());
            MimcConfig::configure(meta, advice, round_constants)
        }

        fn synthesize(
            &self,
            config: MimcConfig,
            layouter: impl Layouter<Fp>,
        ) -> Result<(), PlonkError> {
            let slot = self.slot;
            MimcChip::construct(config).compress_with(
                layouter,
                Input::Witness(Value::known(Fp::from(3))),
                Input::Witness(Value::known(Fp::from(5))),
                &move |at, value| {
                    if Some(at) == slot {
                        value.map(|v| v + Fp::one())
                    } else {
                        value
                    }
                },
            )?;
            Ok(())
        }
    }

    fn satisfied(slot: Option<Slot>) -> bool {
        MockProver::run(7, &Tampered { slot }, vec![])
            .unwrap()
            .verify()
            .is_ok()
    }

    #[test]
    fn honest_witness_is_satisfied() {
        assert!(satisfied(None));
    }

    #[test]
    fn every_computed_cell_is_constrained() {
        let rounds = (0..mimc::ROUNDS).flat_map(|i| [Slot::Square(i), Slot::State(i)]);
        let carried = (1..=FULL_ROWS).flat_map(|r| [Slot::Key(r), Slot::Message(r)]);
        for slot in rounds.chain(carried).chain([Slot::Output]) {
            assert!(!satisfied(Some(slot)), "{slot:?} changed, still satisfied");
        }
    }
}
