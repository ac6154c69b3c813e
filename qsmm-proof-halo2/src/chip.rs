//! The MiMC-7 chip: `qsmm_shatter::mimc::compress` as a Halo2 region of 92 rows.
//!
//! # Layout
//!
//! Four advice columns — the state `x`, the square `t²`, the key `k` and the message `m` — and one
//! fixed column holding the round constant `c_i`. Row `i` (`0 ≤ i < 91`) is round `i`:
//!
//! ```text
//! t_i     = x_i + k + c_i
//! t²_i    = t_i · t_i                      (gate "square",        degree 2)
//! x_{i+1} = t²_i · t²_i · t²_i · t_i       (gate "seventh power", degree 4)
//! k_{i+1} = k_i,  m_{i+1} = m_i            (the key and message are carried down)
//! ```
//!
//! so one round costs one row and the highest gate degree is 5 with its selector, which keeps
//! the prover's extended domain at 4× the rows. Row 0 holds `x_0 = m` (a copy constraint) and
//! row 91 the output `E_k(m) + m + k = x_91 + 2k + m` in the square column (gate "output").
//!
//! The permutation is keyed exactly as the native one: the key is added before every round and
//! once after the last, with the same 91 round constants (`c_0 = 0`), so the chip's output equals
//! [`qsmm_shatter::mimc::compress`] for every input.

use halo2_proofs::{
    circuit::{AssignedCell, Layouter, Region, Value},
    plonk::{
        Advice, Column, ConstraintSystem, Constraints, Error as PlonkError, Fixed, Instance,
        Selector,
    },
    poly::Rotation,
};
use qsmm_shatter::mimc::{self, Fp};

/// A cell holding a field element inside the circuit.
pub type Cell = AssignedCell<Fp, Fp>;

/// Rows one compression occupies: 91 rounds and the output row.
pub const ROWS_PER_COMPRESSION: usize = mimc::ROUNDS + 1;

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
    /// The state `x_i`.
    pub state: Column<Advice>,
    /// `t_i²`; the output on the last row.
    pub square: Column<Advice>,
    /// The key, constant down the region.
    pub key: Column<Advice>,
    /// The message, constant down the region (for the feed-forward).
    pub message: Column<Advice>,
    /// The round constant `c_i`.
    pub round_constant: Column<Fixed>,
    round: Selector,
    output: Selector,
}

impl MimcConfig {
    /// Creates the chip's gates over the given columns (equality is enabled on the advice
    /// columns).
    pub fn configure(
        meta: &mut ConstraintSystem<Fp>,
        advice: [Column<Advice>; 4],
        round_constant: Column<Fixed>,
    ) -> Self {
        let [state, square, key, message] = advice;
        for column in advice {
            meta.enable_equality(column);
        }
        let round = meta.selector();
        let output = meta.selector();

        meta.create_gate("mimc-7 round", |meta| {
            let s = meta.query_selector(round);
            let x = meta.query_advice(state, Rotation::cur());
            let t2 = meta.query_advice(square, Rotation::cur());
            let k = meta.query_advice(key, Rotation::cur());
            let m = meta.query_advice(message, Rotation::cur());
            let c = meta.query_fixed(round_constant);
            let x_next = meta.query_advice(state, Rotation::next());
            let k_next = meta.query_advice(key, Rotation::next());
            let m_next = meta.query_advice(message, Rotation::next());
            let t = x + k.clone() + c;
            Constraints::with_selector(
                s,
                [
                    ("square", t2.clone() - t.clone() * t.clone()),
                    ("seventh power", x_next - t2.clone() * t2.clone() * t2 * t),
                    ("key carried", k_next - k),
                    ("message carried", m_next - m),
                ],
            )
        });

        meta.create_gate("mimc-7 output", |meta| {
            let s = meta.query_selector(output);
            let x = meta.query_advice(state, Rotation::cur());
            let out = meta.query_advice(square, Rotation::cur());
            let k = meta.query_advice(key, Rotation::cur());
            let m = meta.query_advice(message, Rotation::cur());
            Constraints::with_selector(s, [("feed-forward", out - (x + k.clone() + k + m))])
        });

        Self {
            state,
            square,
            key,
            message,
            round_constant,
            round,
            output,
        }
    }
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
        mut layouter: impl Layouter<Fp>,
        key: Input<'_>,
        message: Input<'_>,
    ) -> Result<Cell, PlonkError> {
        let c = &self.config;
        layouter.assign_region(
            || "mimc-7 compress",
            |mut region| {
                let key_cell = key.assign(&mut region, "key", c.key)?;
                let message_cell = message.assign(&mut region, "message", c.message)?;
                let k = key_cell.value().copied();
                let m = message_cell.value().copied();
                let state_cell = region.assign_advice(|| "x_0", c.state, 0, || m)?;
                region.constrain_equal(state_cell.cell(), message_cell.cell())?;

                let mut x = m;
                for (row, constant) in mimc::round_constants().iter().enumerate() {
                    c.round.enable(&mut region, row)?;
                    region.assign_fixed(
                        || "c_i",
                        c.round_constant,
                        row,
                        || Value::known(*constant),
                    )?;
                    let t = x.zip(k).map(|(x, k)| x + k + constant);
                    region.assign_advice(|| "t^2", c.square, row, || t.map(|t| t.square()))?;
                    x = t.map(pow7);
                    let next = row + 1;
                    region.assign_advice(|| "x", c.state, next, || x)?;
                    region.assign_advice(|| "key", c.key, next, || k)?;
                    region.assign_advice(|| "message", c.message, next, || m)?;
                }
                let last = mimc::ROUNDS;
                c.output.enable(&mut region, last)?;
                let out = x.zip(k).zip(m).map(|((x, k), m)| x + k + k + m);
                region.assign_advice(|| "output", c.square, last, || out)
            },
        )
    }
}

/// `x^7` as the native code computes it.
fn pow7(x: Fp) -> Fp {
    let x2 = x.square();
    let x4 = x2.square();
    x4 * x2 * x
}
