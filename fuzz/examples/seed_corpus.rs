//! Writes the seed corpus: valid encodings under the fixed keys of `qsmm_fuzz::fixtures`, one
//! directory per target, into `corpus/` (or the directory given as the first argument).
//!
//! Run from the fuzz crate: `cargo run --example seed_corpus`. Sealing draws fresh randomness,
//! so each run writes different (equally valid) files.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use qsmm_fuzz::fixtures::{
    BLOCK_PLAINTEXT, HW_ENTROPY, MESH_METADATA, NOTE_PLAINTEXT, TREE_BLOCKS, dsa_keypair,
    dsa_signature, kem_keypair, mesh, mesh_key, namespace, tree, xwing_keypair,
};
use qsmm_shield::attachment;
use qsmm_shield::dsa::DsaLevel;
use qsmm_shield::kem::KemLevel;
use qsmm_shield::note::{self, PassphraseParams, RecipientKeys};
use qsmm_shield::wrap;
use qsmm_types::{BlockId, SecretKey};

type Result<T = (), E = Box<dyn Error>> = std::result::Result<T, E>;

fn main() -> Result {
    let root = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("corpus"), PathBuf::from);
    let secret = SecretKey::from_bytes(qsmm_fuzz::fixtures::WRAPPED_SECRET);

    let dir = target(&root, "wrapped_key")?;
    for level in KemLevel::ALL {
        let wrapped = wrap::wrap_key(kem_keypair(level).public_key(), &secret)?;
        write(&dir, level.name(), &wrapped.to_bytes())?;
    }
    write(
        &dir,
        "x-wing",
        &wrap::wrap_key(xwing_keypair().public_key(), &secret)?.to_bytes(),
    )?;

    let dir = target(&root, "kem_decoders")?;
    for (i, level) in (0u8..).zip(KemLevel::ALL) {
        let keys = kem_keypair(level);
        let seed = keys.secret_key().to_seed().ok_or("no seed")?;
        let (ct, _) = keys.public_key().encapsulate()?;
        write(
            &dir,
            &format!("{}-pk", level.name()),
            &[&[i][..], &keys.public_key().to_bytes()].concat(),
        )?;
        write(
            &dir,
            &format!("{}-seed", level.name()),
            &[&[i + 3][..], &seed[..]].concat(),
        )?;
        let expanded = keys.secret_key().to_expanded();
        write(
            &dir,
            &format!("{}-expanded", level.name()),
            &[&[i + 3][..], &expanded[..]].concat(),
        )?;
        write(
            &dir,
            &format!("{}-ct", level.name()),
            &[&[i + 6][..], ct.as_bytes()].concat(),
        )?;
        write(
            &dir,
            &format!("{}-decaps", level.name()),
            &[&[i + 9][..], ct.as_bytes()].concat(),
        )?;
    }

    let dir = target(&root, "dsa_decoders_verify")?;
    for (i, level) in (0u8..).zip(DsaLevel::ALL) {
        let keys = dsa_keypair(level);
        let seed = keys.secret_key().to_seed();
        write(
            &dir,
            &format!("{}-sig", level.name()),
            &[&[i][..], dsa_signature(level).as_bytes()].concat(),
        )?;
        write(
            &dir,
            &format!("{}-pk", level.name()),
            &[&[i + 3][..], &keys.public_key().to_bytes()].concat(),
        )?;
        write(
            &dir,
            &format!("{}-seed", level.name()),
            &[&[i + 6][..], &seed[..]].concat(),
        )?;
    }

    let dir = target(&root, "xwing_decoders")?;
    let keys = xwing_keypair();
    let (ct, _) = keys.public_key().encapsulate()?;
    write(
        &dir,
        "pk",
        &[&[0][..], &keys.public_key().to_bytes()].concat(),
    )?;
    write(
        &dir,
        "seed",
        &[&[1][..], &keys.secret_key().to_bytes()[..]].concat(),
    )?;
    write(&dir, "ct", &[&[2][..], ct.as_bytes()].concat())?;
    write(&dir, "decaps", &[&[3][..], ct.as_bytes()].concat())?;

    let dir = target(&root, "open_block")?;
    for id in [0, 7, u64::MAX] {
        let sealed = namespace().seal_block(BLOCK_PLAINTEXT, BlockId(id))?;
        write(
            &dir,
            &format!("block-{id}"),
            &[&id.to_le_bytes()[..], &sealed].concat(),
        )?;
    }

    let dir = target(&root, "volume_open")?;
    write(&dir, "root-index-leaf", &qsmm_fuzz::volume_open_seed())?;

    let dir = target(&root, "mesh_reconstruct")?;
    let mut records = [Vec::new(), Vec::new()];
    let keyed = mesh().for_key(&mesh_key(), HW_ENTROPY)?;
    for (generation, (metadata, out)) in (0u64..).zip(MESH_METADATA.iter().zip(&mut records)) {
        for placement in keyed.shard_metadata_generation(metadata, generation)? {
            out.push(u8::try_from(placement.target_block.0)?);
            out.extend_from_slice(&placement.share);
        }
    }
    let [generation0, generation1] = &records;
    let record = qsmm_fuzz::shatter_record_len();
    write(&dir, "generation-0", generation0)?;
    write(
        &dir,
        "generation-0-two-shares",
        generation0.get(record..).ok_or("short")?,
    )?;
    write(
        &dir,
        "generations-0-1",
        &[&generation0[..], generation1].concat(),
    )?;

    let dir = target(&root, "proof_decode_verify")?;
    for index in (0u64..).take(TREE_BLOCKS.len()) {
        write(
            &dir,
            &format!("proof-{index}"),
            &qsmm_proof_stub::ProofEncoding::to_bytes(&tree().prove(index)?),
        )?;
    }

    // Two honest zero-knowledge proofs (position hidden, and disclosed) of leaf 1.
    let dir = target(&root, "halo2_proof_decode_verify")?;
    let witness = qsmm_proof_halo2::MembershipWitness::from_tree(tree(), 1)?;
    for (name, disclosure) in [
        ("hidden-1", qsmm_proof_halo2::circuit::Disclosure::Hidden),
        (
            "position-1",
            qsmm_proof_halo2::circuit::Disclosure::Position,
        ),
    ] {
        let proof = qsmm_proof_halo2::prove(&witness, disclosure)?;
        write(
            &dir,
            name,
            &qsmm_proof_stub::ProofEncoding::to_bytes(&proof),
        )?;
    }

    let dir = target(&root, "attachment_bundle")?;
    let key = attachment::FileKey::from_bytes(qsmm_fuzz::ATTACHMENT_FILE_KEY);
    let entries = vec![
        attachment::FileEntry::new("report.pdf", "application/pdf", 70_000)?,
        attachment::FileEntry::new("empty", "", 0)?,
    ];
    let bundle = attachment::Bundle::with_key(b"see attached", entries, key)?;
    write(&dir, "bundle", &[&[0][..], &bundle.to_plaintext()].concat())?;
    write(&dir, "bare", b"\0just a message")?;
    for (name, index, size) in [("stream-short", 0u8, 5u32), ("stream-two-chunks", 1, 65_537)] {
        let plain = vec![0x42u8; usize::try_from(size)?];
        let mut sealed = Vec::new();
        attachment::seal_file(
            &attachment::FileKey::from_bytes(qsmm_fuzz::ATTACHMENT_FILE_KEY),
            u32::from(index),
            u64::from(size),
            &plain[..],
            &mut sealed,
        )?;
        let header = [&[1u8, index][..], &size.to_le_bytes()].concat();
        write(&dir, name, &[&header[..], &sealed].concat())?;
    }

    let dir = target(&root, "note_decoders")?;
    let (stored, keys) = note::seal_note(NOTE_PLAINTEXT)?;
    let compact = keys.to_compact();
    write(&dir, "note", &[&[0][..], &stored.to_bytes()].concat())?;
    write(
        &dir,
        "keys-note",
        &[&[1][..], compact.as_bytes(), &stored.to_bytes()].concat(),
    )?;
    let params = PassphraseParams::with_costs(8, 1, 1)?;
    let (locked, locked_keys) =
        note::seal_note_with_passphrase_params(NOTE_PLAINTEXT, b"pw", params)?;
    let locked_compact = locked_keys.to_compact();
    write(
        &dir,
        "keys-passphrase-note",
        &[&[1][..], locked_compact.as_bytes(), &locked.to_bytes()].concat(),
    )?;
    write(&dir, "compact", &[&[2][..], compact.as_bytes()].concat())?;
    let expanded =
        RecipientKeys::from_expanded(&keys.expanded_decapsulation_key(), keys.classical_secret())?;
    write(
        &dir,
        "compact-expanded",
        &[&[2][..], expanded.to_compact().as_bytes()].concat(),
    )?;

    let dir = target(&root, "paravoid_http")?;
    let json = "content-type: application/json";
    for (name, text) in [
        ("healthz", "GET /healthz\n".to_owned()),
        ("openapi", "GET /api/openapi.json\n".to_owned()),
        ("index", "GET /\n".to_owned()),
        ("reveal-page", "GET /s/@ID@\n".to_owned()),
        ("asset", "GET /assets/create.js\n".to_owned()),
        (
            "create",
            format!("POST /api/secrets\n{json}\n\n{{\"message\":\"hi\",\"ttl_secs\":60}}"),
        ),
        (
            "create-passphrase",
            format!("POST /api/secrets\n{json}\n\n{{\"message\":\"hi\",\"passphrase\":\"pw\"}}"),
        ),
        ("peek", "GET /api/secrets/@ID@\n".to_owned()),
        (
            "reveal-compact",
            format!("POST /api/secrets/@ID@/reveal\n{json}\n\n{{\"compact\":\"@COMPACT@\"}}"),
        ),
        (
            "reveal-dk",
            format!(
                "POST /api/secrets/@ID@/reveal\n{json}\n\n{{\"dk\":\"@DK@\",\"classical_secret\":\"@CS@\"}}"
            ),
        ),
        ("wrong-method", "DELETE /api/secrets\n".to_owned()),
        (
            "request-create",
            format!(
                "POST /api/e2e/requests\n{json}\n\n{{\"claim_hash\":\"{}\",\"ttl_secs\":60}}",
                "A".repeat(43)
            ),
        ),
        ("request-status", "GET /api/e2e/requests/@ID@\n".to_owned()),
        (
            "request-answer",
            format!(
                "POST /api/e2e/requests/@ID@/response\n{json}\n\n{{\"note\":{{\"ek\":\"AAAA\"}}}}"
            ),
        ),
    ] {
        write(&dir, name, text.as_bytes())?;
    }

    age_seeds(&root)?;
    Ok(())
}

/// age files to the fixed identities (both types, binary and armored, several sizes) and the
/// headers, stanzas and key strings in them.
fn age_seeds(root: &Path) -> Result {
    use qsmm_fuzz::{AGE_HYBRID_IDENTITY, AGE_X25519_IDENTITY, age_identities};
    use qsmm_shield::age::{self, Header};

    let decrypt = target(root, "age_decrypt")?;
    let header = target(root, "age_header_stanzas")?;
    for (kind, identity) in ["x25519", "hybrid"].into_iter().zip(age_identities()) {
        for (len, armor) in [(0, false), (5, true), (65_537, false)] {
            let file = age::encrypt(&[identity.to_recipient()], &vec![0x61; len], armor)?;
            write(&decrypt, &format!("{kind}-{len}-{armor}"), &file)?;
            if !armor {
                let (parsed, used) = Header::parse(&file)?;
                write(
                    &header,
                    &format!("{kind}-header"),
                    &[&[0][..], &file[..used]].concat(),
                )?;
                let stanza = &parsed.stanzas()[0];
                let text = format!("{}\n", stanza.args().join(" "));
                write(
                    &header,
                    &format!("{kind}-stanza"),
                    &[&[1][..], text.as_bytes(), stanza.body()].concat(),
                )?;
            }
        }
        write(
            &header,
            &format!("{kind}-recipient"),
            &[&[2][..], identity.to_recipient().to_string().as_bytes()].concat(),
        )?;
    }
    for (kind, text) in [
        ("x25519", AGE_X25519_IDENTITY),
        ("hybrid", AGE_HYBRID_IDENTITY),
    ] {
        write(
            &header,
            &format!("{kind}-identity"),
            &[&[2][..], text.as_bytes()].concat(),
        )?;
    }
    Ok(())
}

fn target(root: &Path, name: &str) -> Result<PathBuf> {
    let dir = root.join(name);
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result {
    fs::write(dir.join(format!("seed-{name}")), bytes)?;
    Ok(())
}
