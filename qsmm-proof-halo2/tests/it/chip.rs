//! The MiMC-7 chip computes `qsmm_shatter::mimc::compress`.

use ff::{FromUniformBytes, PrimeField};
use halo2_proofs::{
    circuit::{Layouter, SimpleFloorPlanner, Value},
    dev::MockProver,
    plonk::{Circuit, Column, ConstraintSystem, Error as PlonkError, Instance},
};
use proptest::prelude::*;
use qsmm_proof_halo2::chip::{ADVICE_COLUMNS, Input, MimcChip, MimcConfig, ROUNDS_PER_ROW};
use qsmm_shatter::mimc::{self, Fp};

/// One compression with a witnessed key and message; the output is the public input.
#[derive(Clone, Default)]
struct CompressCircuit {
    key: Value<Fp>,
    message: Value<Fp>,
}

impl Circuit<Fp> for CompressCircuit {
    type Config = (MimcConfig, Column<Instance>);
    type FloorPlanner = SimpleFloorPlanner;

    fn without_witnesses(&self) -> Self {
        Self::default()
    }

    fn configure(meta: &mut ConstraintSystem<Fp>) -> Self::Config {
        let advice = [(); ADVICE_COLUMNS].map(|()| meta.advice_column());
        let round_constants = [(); ROUNDS_PER_ROW].map(|()| meta.fixed_column());
        let constants = meta.fixed_column();
        meta.enable_constant(constants);
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        (
            MimcConfig::configure(meta, advice, round_constants),
            instance,
        )
    }

    fn synthesize(
        &self,
        (config, instance): Self::Config,
        mut layouter: impl Layouter<Fp>,
    ) -> Result<(), PlonkError> {
        let chip = MimcChip::construct(config);
        let out = chip.compress(
            layouter.namespace(|| "compress"),
            Input::Witness(self.key),
            Input::Witness(self.message),
        )?;
        layouter.constrain_instance(out.cell(), instance, 0)
    }
}

fn run(key: Fp, message: Fp, claimed: Fp) -> bool {
    let circuit = CompressCircuit {
        key: Value::known(key),
        message: Value::known(message),
    };
    MockProver::run(7, &circuit, vec![vec![claimed]])
        .unwrap()
        .verify()
        .is_ok()
}

fn from_hex_be(s: &str) -> Fp {
    let mut bytes: [u8; 32] = (0..32)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    bytes.reverse();
    Fp::from_repr(bytes).unwrap()
}

/// The compression known answers of `qsmm_shatter::mimc` (big-endian hex: key, message, output).
#[test]
fn known_answers() {
    let vectors = [
        (
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "05704e4019dd0fc4c309be1b022c29418175deb86df217375487457b7b4c82ce",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000001",
            "0000000000000000000000000000000000000000000000000000000000000002",
            "14070f94db1998d617aacf9831cec63d92ad47c888fb6b89972565a97272cc48",
        ),
        (
            "40000000000000000000000000000000224698fc094cf91b992d30ed00000000",
            "40000000000000000000000000000000224698fc094cf91b992d30ecffffffff",
            "37b10d62d78cf409eb300e526183422ed9d6e307c6d279873200906440de27d3",
        ),
        (
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "000000000000000000000000000000000000000000000000000000000000002a",
            "265a770e0fba4706b886d025b85adf3c2f573909e5b8a2f3cfbe3db00a4b0b30",
        ),
    ];
    for (i, (k, m, out)) in vectors.into_iter().enumerate() {
        let (k, m, out) = (from_hex_be(k), from_hex_be(m), from_hex_be(out));
        assert_eq!(mimc::compress(k, m), out, "native, vector {i}");
        assert!(run(k, m, out), "chip, vector {i}");
        assert!(
            !run(k, m, out + Fp::one()),
            "wrong output accepted, vector {i}"
        );
    }
}

fn any_fp() -> impl Strategy<Value = Fp> {
    any::<[u8; 64]>().prop_map(|b| Fp::from_uniform_bytes(&b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn chip_equals_native(key in any_fp(), message in any_fp()) {
        let out = mimc::compress(key, message);
        prop_assert!(run(key, message, out));
        // Swapping key and message is another function: the chip must not accept it.
        if key != message {
            prop_assert!(!run(key, message, mimc::compress(message, key)));
        }
    }
}
