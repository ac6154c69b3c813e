//! The fixed keys, messages and parameters every target checks against.
//!
//! Everything is derived from constants, so the seed corpus written by `examples/seed_corpus.rs`
//! stays valid across runs: a valid encoding in the corpus was made under exactly these keys.

use std::sync::LazyLock;

use qsmm_proof_stub::merkle::MerkleTree;
use qsmm_shatter::mesh::{MeshConfig, MetadataMesh};
use qsmm_shield::dsa::{DsaKeypair, DsaLevel, DsaSignature};
use qsmm_shield::hybrid::XWingKeypair;
use qsmm_shield::kem::{KemKeypair, KemLevel};
use qsmm_types::{SecretKey, Threshold};
use qsmm_void::Namespace;

/// The only key ever wrapped under the fixed KEM and X-Wing keys.
pub const WRAPPED_SECRET: [u8; 32] = [0x5a; 32];

/// The message signed by the fixed ML-DSA keys.
pub const SIGNED_MESSAGE: &[u8] = b"qsmm fuzz: the one signed message";

/// The only plaintext ever sealed by [`namespace`].
pub const BLOCK_PLAINTEXT: &[u8] = b"qsmm fuzz: the one sealed block";

/// Block size used by the void and shatter targets: the smallest supported, to keep inputs small.
pub const BLOCK_SIZE: usize = 512;

/// Hardware entropy of the fixed namespace and mesh.
pub const HW_ENTROPY: &[u8] = b"qsmm-fuzz-hw";

/// Metadata of generations 0 and 1 of the fixed mesh: the only metadata ever sharded.
pub const MESH_METADATA: [&[u8]; 2] = [b"fuzz mesh root, generation 0", b"generation 1"];

/// Blocks of the fixed Merkle tree (generation [`TREE_GENERATION`]).
pub const TREE_BLOCKS: [&[u8]; 5] = [b"alpha", b"beta", b"gamma", b"delta", b""];

/// Generation of the fixed Merkle tree.
pub const TREE_GENERATION: u64 = 7;

/// The only plaintext ever sealed into a stored note by the seed corpus.
pub const NOTE_PLAINTEXT: &[u8] = b"qsmm fuzz: the one note";

/// Compact recipient keys are exactly this long (seed form).
pub const COMPACT_SEED_CHARS: usize = 128;

/// The fixed ML-KEM key pair of `level` (seed `[level byte; 64]`).
#[must_use]
pub fn kem_keypair(level: KemLevel) -> &'static KemKeypair {
    static KEYS: LazyLock<[KemKeypair; 3]> = LazyLock::new(|| {
        KemLevel::ALL.map(|level| KemKeypair::from_seed(level, &[kem_tag(level); 64]))
    });
    &KEYS[kem_index(level)]
}

/// A second ML-KEM key pair of `level`: never used to wrap, so it must never unwrap anything.
#[must_use]
pub fn wrong_kem_keypair(level: KemLevel) -> &'static KemKeypair {
    static KEYS: LazyLock<[KemKeypair; 3]> = LazyLock::new(|| {
        KemLevel::ALL.map(|level| KemKeypair::from_seed(level, &[kem_tag(level) ^ 0xff; 64]))
    });
    &KEYS[kem_index(level)]
}

/// The fixed X-Wing key pair.
#[must_use]
pub fn xwing_keypair() -> &'static XWingKeypair {
    static KEY: LazyLock<XWingKeypair> = LazyLock::new(|| XWingKeypair::from_seed(&[0x58; 32]));
    &KEY
}

/// A second X-Wing key pair that never wraps anything.
#[must_use]
pub fn wrong_xwing_keypair() -> &'static XWingKeypair {
    static KEY: LazyLock<XWingKeypair> = LazyLock::new(|| XWingKeypair::from_seed(&[0xa7; 32]));
    &KEY
}

/// The fixed ML-DSA key pair of `level`.
#[must_use]
pub fn dsa_keypair(level: DsaLevel) -> &'static DsaKeypair {
    static KEYS: LazyLock<[DsaKeypair; 3]> = LazyLock::new(|| {
        DsaLevel::ALL.map(|level| DsaKeypair::from_seed(level, &[dsa_tag(level); 32]))
    });
    &KEYS[dsa_index(level)]
}

/// The deterministic signature of [`SIGNED_MESSAGE`] under [`dsa_keypair`] (empty context).
///
/// # Panics
///
/// Never: deterministic signing with an empty context cannot fail.
#[must_use]
pub fn dsa_signature(level: DsaLevel) -> &'static DsaSignature {
    #[allow(clippy::expect_used, reason = "empty context: signing cannot fail")]
    static SIGS: LazyLock<[DsaSignature; 3]> = LazyLock::new(|| {
        DsaLevel::ALL.map(|level| {
            dsa_keypair(level)
                .secret_key()
                .sign_deterministic(SIGNED_MESSAGE, b"")
                .expect("deterministic signing")
        })
    });
    &SIGS[dsa_index(level)]
}

/// The fixed namespace (block size [`BLOCK_SIZE`]).
///
/// # Panics
///
/// Never: the block size is valid.
#[must_use]
pub fn namespace() -> &'static Namespace {
    #[allow(clippy::expect_used, reason = "a valid constant block size")]
    static NAMESPACE: LazyLock<Namespace> = LazyLock::new(|| {
        Namespace::with_block_size(
            namespace_key(),
            HW_ENTROPY,
            qsmm_void::BlockSize::new(BLOCK_SIZE).expect("block size"),
        )
        .expect("block size")
    });
    &NAMESPACE
}

/// A namespace under another key: must never open anything.
///
/// # Panics
///
/// Never: the block size is valid.
#[must_use]
pub fn wrong_namespace() -> &'static Namespace {
    #[allow(clippy::expect_used, reason = "a valid constant block size")]
    static NAMESPACE: LazyLock<Namespace> = LazyLock::new(|| {
        Namespace::with_block_size(
            SecretKey::from_bytes([0x4e; 32]),
            HW_ENTROPY,
            qsmm_void::BlockSize::new(BLOCK_SIZE).expect("block size"),
        )
        .expect("block size")
    });
    &NAMESPACE
}

/// The key of [`namespace`].
#[must_use]
pub const fn namespace_key() -> SecretKey {
    SecretKey::from_bytes([0x76; 32])
}

/// The key of [`mesh`].
#[must_use]
pub const fn mesh_key() -> SecretKey {
    SecretKey::from_bytes([0x6d; 32])
}

/// The fixed mesh: 2-of-3 on 64 blocks of [`BLOCK_SIZE`] bytes.
///
/// # Panics
///
/// Never: the configuration is valid.
#[must_use]
pub fn mesh() -> &'static MetadataMesh {
    #[allow(clippy::expect_used, reason = "a valid constant configuration")]
    static MESH: LazyLock<MetadataMesh> = LazyLock::new(|| {
        MetadataMesh::new(MeshConfig::new(Threshold::new(2, 3), MESH_TOTAL_BLOCKS))
            .with_block_size(qsmm_void::BlockSize::new(BLOCK_SIZE).expect("block size"))
    });
    &MESH
}

/// Blocks on the medium of [`mesh`].
pub const MESH_TOTAL_BLOCKS: u64 = 64;

/// The fixed Merkle tree over [`TREE_BLOCKS`].
///
/// # Panics
///
/// Never: the tree is not empty.
#[must_use]
pub fn tree() -> &'static MerkleTree {
    #[allow(clippy::expect_used, reason = "five constant blocks")]
    static TREE: LazyLock<MerkleTree> =
        LazyLock::new(|| MerkleTree::build(TREE_GENERATION, &TREE_BLOCKS).expect("tree"));
    &TREE
}

fn kem_index(level: KemLevel) -> usize {
    KemLevel::ALL.iter().position(|l| *l == level).unwrap_or(0)
}

fn kem_tag(level: KemLevel) -> u8 {
    [0x11, 0x22, 0x33][kem_index(level)]
}

fn dsa_index(level: DsaLevel) -> usize {
    DsaLevel::ALL.iter().position(|l| *l == level).unwrap_or(0)
}

fn dsa_tag(level: DsaLevel) -> u8 {
    [0x44, 0x65, 0x87][dsa_index(level)]
}
