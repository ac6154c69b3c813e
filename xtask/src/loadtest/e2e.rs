//! `--mode e2e`: the clients loop create → peek → claim on the end-to-end API
//! (`/api/e2e/notes`), where the client seals and opens the note and the server only stores the
//! sealed bytes and checks a claim token's hash: no note crypto runs in the server.
//!
//! Each client seals one note before the run (the sealing is the browser's work, not the
//! server's, and would otherwise take the load generator's share of the cores) and stores it
//! again every round under a new id; every claim must hand back exactly the sealed note sent,
//! which the client has checked to open to its message.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use qsmm_shield::note::{self, StoredNote};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::*;

/// HKDF info of the claim token (paravoid's `routes::e2e`).
const CLAIM_INFO: &[u8] = b"paravoid/v1/e2e/claim";

/// One client's sealed note and the bodies that store and claim it.
#[derive(Debug)]
pub(super) struct E2eNote {
    /// `POST /api/e2e/notes`: the sealed note and the hash of its claim token.
    create: Value,
    /// `POST /api/e2e/notes/{id}/claim`: the claim token.
    claim: Value,
    /// The sealed note as the claim must hand it back.
    note: Value,
}

/// Seals `message` as the browser does and checks that it opens.
pub(super) fn prepare(message: &str) -> Result<E2eNote, String> {
    let (stored, keys) =
        note::seal_note(message.as_bytes()).map_err(|e| format!("seal_note: {e}"))?;
    let opened = note::open_note(&stored, &keys).map_err(|e| format!("open_note: {e}"))?;
    if opened.as_slice() != message.as_bytes() {
        return Err("open_note returned another message".into());
    }
    let raw_keys = URL_SAFE_NO_PAD
        .decode(keys.to_compact().as_bytes())
        .map_err(|e| format!("link keys: {e}"))?;
    let mut claim = [0u8; 32];
    Hkdf::<Sha256>::new(None, &raw_keys)
        .expand(CLAIM_INFO, &mut claim)
        .map_err(|e| format!("claim token: {e}"))?;
    let note = note_json(&stored);
    Ok(E2eNote {
        create: json!({ "note": note, "claim_hash": b64(&Sha256::digest(claim)) }),
        claim: json!({ "claim_token": b64(&claim) }),
        note,
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The sealed note's JSON, as the create request sends it and a claim answers it.
fn note_json(stored: &StoredNote) -> Value {
    json!({
        "ek": b64(&stored.ek),
        "ct_kem": b64(&stored.ct_kem),
        "nonce": b64(&stored.nonce),
        "key_check": b64(&stored.key_check),
        "ciphertext": b64(&stored.ciphertext),
    })
}

/// One create → peek → claim round of the end-to-end API.
pub(super) async fn one_round(
    client: &reqwest::Client,
    base: &str,
    note: &E2eNote,
    tally: &mut Tally,
) -> Result<(), String> {
    let created = timed(
        tally,
        Endpoint::Create,
        client
            .post(format!("{base}/api/e2e/notes"))
            .json(&note.create)
            .send(),
    )
    .await?;
    let created = json_body(created, "create").await?;
    let id = field(&created, "id")?;
    let peeked = timed(
        tally,
        Endpoint::Peek,
        client.get(format!("{base}/api/e2e/notes/{id}")).send(),
    )
    .await?;
    json_body(peeked, "peek").await?;
    let claimed = timed(
        tally,
        Endpoint::Reveal,
        client
            .post(format!("{base}/api/e2e/notes/{id}/claim"))
            .json(&note.claim)
            .send(),
    )
    .await?;
    let claimed = json_body(claimed, "claim").await?;
    if claimed.get("note") != Some(&note.note) {
        return Err(format!("note {id}: the claim handed back another note"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_hash_is_the_hash_of_the_claim_token() {
        let note = prepare("a message").unwrap();
        let token = URL_SAFE_NO_PAD
            .decode(note.claim["claim_token"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            note.create["claim_hash"].as_str().unwrap(),
            b64(&Sha256::digest(&token))
        );
        assert_eq!(note.create["note"], note.note);
        assert!(note.note.get("argon2id").is_none());
    }
}
