//! `MockProver`: the membership circuit accepts exactly the honest witness.

use halo2_proofs::dev::MockProver;
use qsmm_proof_halo2::circuit::{MembershipCircuit, k_for_depth};
use qsmm_proof_halo2::{MembershipWitness, circuit::Disclosure};
use qsmm_proof_stub::merkle::MerkleTree;
use qsmm_shatter::mimc::Fp;

const DEPTH: u32 = 3;

fn blocks() -> Vec<Vec<u8>> {
    (0u8..7).map(|i| vec![i; 100 + usize::from(i)]).collect()
}

fn tree() -> MerkleTree {
    MerkleTree::build(9, &blocks()).unwrap()
}

fn accepts(circuit: &MembershipCircuit, instance: Vec<Fp>) -> bool {
    MockProver::run(k_for_depth(DEPTH), circuit, vec![instance])
        .unwrap()
        .verify()
        .is_ok()
}

/// The circuit reaches the transparent backend's commitment for every leaf, in both modes.
#[test]
fn honest_witness_passes_and_root_matches_the_transparent_backend() {
    let tree = tree();
    assert_eq!(tree.depth(), DEPTH);
    for index in 0..tree.leaf_count() {
        let w = MembershipWitness::from_tree(&tree, index).unwrap();
        assert_eq!(w.commitment(), tree.commitment());
        let root = tree.commitment().to_field();
        let leaf = tree.leaf_hash(index).unwrap();
        for disclosure in [Disclosure::Hidden, Disclosure::Position] {
            let instance = MembershipCircuit::public_inputs(disclosure, root, leaf, index);
            assert!(accepts(&w.circuit(disclosure), instance), "leaf {index}");
        }
    }
}

#[test]
fn wrong_witnesses_fail() {
    let tree = tree();
    let index = 5;
    let honest = MembershipWitness::from_tree(&tree, index).unwrap();
    let root = tree.commitment().to_field();
    let leaf = honest.leaf();
    let path = tree.prove(index).unwrap();
    let siblings = path.siblings().to_vec();

    for disclosure in [Disclosure::Hidden, Disclosure::Position] {
        let public = |root: Fp, leaf: Fp, position: u64| {
            MembershipCircuit::public_inputs(disclosure, root, leaf, position)
        };
        // Each bit of the position flipped.
        for bit in 0..DEPTH {
            let w =
                MembershipWitness::new(leaf, index ^ (1 << bit), siblings.clone(), 9, 7).unwrap();
            assert!(
                !accepts(&w.circuit(disclosure), public(root, leaf, index)),
                "bit {bit}"
            );
        }
        // Each sibling changed.
        for level in 0..siblings.len() {
            let mut bad = siblings.clone();
            bad[level] += Fp::one();
            let w = MembershipWitness::new(leaf, index, bad, 9, 7).unwrap();
            assert!(
                !accepts(&w.circuit(disclosure), public(root, leaf, index)),
                "sibling {level}"
            );
        }
        // Another leaf (the public input), another root, another generation or leaf count.
        let circuit = honest.circuit(disclosure);
        let other_leaf = tree.leaf_hash(4).unwrap();
        assert!(
            !accepts(&circuit, public(root, other_leaf, index)),
            "wrong leaf"
        );
        assert!(
            !accepts(&circuit, public(root + Fp::one(), leaf, index)),
            "wrong root"
        );
        for (generation, count) in [(8, 7), (9, 8)] {
            let w =
                MembershipWitness::new(leaf, index, siblings.clone(), generation, count).unwrap();
            assert!(!accepts(&w.circuit(disclosure), public(root, leaf, index)));
        }
    }
    // The disclosed position is bound to the path.
    let circuit = honest.circuit(Disclosure::Position);
    let instance = MembershipCircuit::public_inputs(Disclosure::Position, root, leaf, 4);
    assert!(!accepts(&circuit, instance), "wrong position");
}

#[test]
fn witness_bounds_are_checked() {
    let leaf = Fp::one();
    assert!(MembershipWitness::new(leaf, 0, vec![], 0, 1).is_err());
    assert!(MembershipWitness::new(leaf, 0, vec![Fp::one(); 33], 0, 1).is_err());
    assert!(MembershipWitness::new(leaf, 8, vec![Fp::one(); 3], 0, 8).is_err());
    assert!(MembershipWitness::new(leaf, 7, vec![Fp::one(); 3], 0, 8).is_ok());
}
