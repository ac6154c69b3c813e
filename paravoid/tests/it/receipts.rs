//! Read receipts (`POST /api/e2e/receipts/status`) on a store: a status token answered once at
//! creation reports `pending`, then exactly the way the note ended (claimed, expired, destroyed by
//! wrong passphrase tokens), with the minute of the change, nothing else; a wrong token is 404;
//! the receipt is swept a week after the note's expiry. Each test runs on redb and on
//! PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use crate::support;

use crate::support::{Backend, START, post_json};
use axum::Router;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paravoid::{MAX_PASSPHRASE_ATTEMPTS, RECEIPT_GRACE_SECS, app};
use qsmm_shield::note::{self, PassphraseParams, StoredNote};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn note_json(n: &StoredNote) -> Value {
    let mut json = json!({
        "ek": b64(&n.ek),
        "ct_kem": b64(&n.ct_kem),
        "nonce": b64(&n.nonce),
        "key_check": b64(&n.key_check),
        "ciphertext": b64(&n.ciphertext),
    });
    if let Some(params) = &n.passphrase {
        json["argon2id"] = json!({
            "salt": b64(&params.salt),
            "m_cost_kib": params.m_cost_kib,
            "t_cost": params.t_cost,
            "p_cost": params.p_cost,
        });
    }
    json
}

/// The message every note of this suite holds: no answer may contain it.
const MESSAGE: &str = "the receipt never carries this";

/// A note created with a receipt: its id, the tokens that claim it, its status token.
struct Created {
    id: String,
    claim: [u8; 32],
    passphrase: Option<[u8; 32]>,
    receipt: String,
}

impl Created {
    async fn new(app: &Router, with_passphrase: bool, ttl: u64) -> Self {
        let (stored, _keys) = if with_passphrase {
            note::seal_note_with_passphrase_params(
                MESSAGE.as_bytes(),
                b"pw",
                PassphraseParams::with_costs(128, 1, 1).unwrap(),
            )
            .unwrap()
        } else {
            note::seal_note(MESSAGE.as_bytes()).unwrap()
        };
        // The server only compares hashes: any tokens do.
        let claim = [7u8; 32];
        let passphrase = with_passphrase.then_some([8u8; 32]);
        let mut body = json!({
            "note": note_json(&stored),
            "claim_hash": b64(&Sha256::digest(claim)),
            "ttl_secs": ttl,
            "receipt": true,
        });
        if let Some(token) = passphrase {
            body["passphrase_hash"] = json!(b64(&Sha256::digest(token)));
        }
        let created = post_json(app, "/api/e2e/notes", &body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let receipt = created.body["receipt_token"].as_str().unwrap().to_owned();
        assert_eq!(URL_SAFE_NO_PAD.decode(&receipt).unwrap().len(), 32);
        Self {
            id: created.body["id"].as_str().unwrap().to_owned(),
            claim,
            passphrase,
            receipt,
        }
    }

    async fn claim(&self, app: &Router, passphrase: Option<[u8; 32]>) -> StatusCode {
        let mut body = json!({ "claim_token": b64(&self.claim) });
        if let Some(token) = passphrase {
            body["passphrase_token"] = json!(b64(&token));
        }
        post_json(app, &format!("/api/e2e/notes/{}/claim", self.id), &body)
            .await
            .status
    }
}

/// The status answer for `token`: `(HTTP status, body)`; the body holds nothing else.
async fn status(app: &Router, token: &str) -> (StatusCode, Value) {
    let answer = post_json(app, "/api/e2e/receipts/status", &json!({ "token": token })).await;
    let text = String::from_utf8_lossy(&answer.raw).into_owned();
    assert!(!text.contains(MESSAGE), "{text}");
    if answer.status == StatusCode::OK {
        let fields: Vec<&String> = answer.body.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["at", "status"], "{text}");
    }
    (answer.status, answer.body)
}

/// Asserts the receipt reads `expected` at the minute of `at`.
async fn assert_status(app: &Router, token: &str, expected: &str, at: u64) {
    let (code, body) = status(app, token).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert_eq!(body["at"], at - at % 60, "{body}");
}

async fn a_claim_turns_the_receipt_revealed_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let note = Created::new(&app, false, 3600).await;
    assert_status(&app, &note.receipt, "pending", START).await;
    clock.advance(125);
    assert_status(&app, &note.receipt, "pending", START).await;
    // A wrong claim token changes nothing.
    let wrong = Created {
        claim: [9; 32],
        ..note
    };
    assert_eq!(wrong.claim(&app, None).await, StatusCode::FORBIDDEN);
    let note = Created {
        claim: [7; 32],
        ..wrong
    };
    assert_status(&app, &note.receipt, "pending", START).await;
    assert_eq!(note.claim(&app, None).await, StatusCode::OK);
    assert_status(&app, &note.receipt, "revealed", START + 125).await;
    clock.advance(600);
    assert_eq!(note.claim(&app, None).await, StatusCode::NOT_FOUND);
    assert_status(&app, &note.receipt, "revealed", START + 125).await;
}

async fn the_last_wrong_passphrase_turns_the_receipt_destroyed(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let note = Created::new(&app, true, 3600).await;
    for used in 1..=MAX_PASSPHRASE_ATTEMPTS {
        clock.advance(61);
        assert_status(&app, &note.receipt, "pending", START).await;
        assert_eq!(
            note.claim(&app, Some([0xee; 32])).await,
            StatusCode::FORBIDDEN,
            "try {used}"
        );
    }
    let end = START + 61 * u64::from(MAX_PASSPHRASE_ATTEMPTS);
    assert_status(&app, &note.receipt, "destroyed", end).await;
    // The right tokens come too late.
    assert_eq!(
        note.claim(&app, note.passphrase).await,
        StatusCode::NOT_FOUND
    );
    assert_status(&app, &note.receipt, "destroyed", end).await;
}

async fn a_right_passphrase_claim_is_revealed(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let note = Created::new(&app, true, 3600).await;
    assert_eq!(
        note.claim(&app, Some([0xee; 32])).await,
        StatusCode::FORBIDDEN
    );
    assert_status(&app, &note.receipt, "pending", START).await;
    assert_eq!(note.claim(&app, note.passphrase).await, StatusCode::OK);
    assert_status(&app, &note.receipt, "revealed", START).await;
}

async fn expiry_reads_expired_before_and_after_the_sweep_and_the_receipt_is_swept_later(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());
    let note = Created::new(&app, false, 600).await;
    clock.advance(599);
    assert_status(&app, &note.receipt, "pending", START).await;
    clock.advance(1);
    // Not yet swept: the note can no longer be claimed, so the receipt reads expired.
    assert_status(&app, &note.receipt, "expired", START + 600).await;
    clock.advance(3600);
    state.sweep_expired().await.unwrap();
    assert_eq!(note.claim(&app, None).await, StatusCode::NOT_FOUND);
    // Settled by the sweep an hour late, dated at the note's expiry.
    assert_status(&app, &note.receipt, "expired", START + 600).await;
    // Kept until a week after the note's expiry, then swept.
    clock.set(START + 600 + RECEIPT_GRACE_SECS - 1);
    state.sweep_expired().await.unwrap();
    assert_eq!(status(&app, &note.receipt).await.1["status"], "expired");
    clock.advance(1);
    assert_eq!(status(&app, &note.receipt).await.0, StatusCode::NOT_FOUND);
    state.sweep_expired().await.unwrap();
    assert_eq!(status(&app, &note.receipt).await.0, StatusCode::NOT_FOUND);
}

async fn an_expired_note_found_by_a_claim_settles_its_receipt(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let note = Created::new(&app, false, 60).await;
    clock.advance(130);
    assert_eq!(note.claim(&app, None).await, StatusCode::NOT_FOUND);
    assert_status(&app, &note.receipt, "expired", START + 60).await;
}

async fn wrong_tokens_are_404_and_the_note_id_is_no_token(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let note = Created::new(&app, false, 600).await;
    let mut wrong = URL_SAFE_NO_PAD.decode(&note.receipt).unwrap();
    wrong[0] ^= 1;
    let id_bytes = uuid::Uuid::parse_str(&note.id).unwrap();
    let id_token = b64(&[id_bytes.as_bytes().as_slice(), &[0; 16]].concat());
    for token in [b64(&wrong), b64(&[0; 32]), id_token] {
        let (code, body) = status(&app, &token).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    }
    // Malformed tokens are refused before any lookup.
    for token in ["", "abc", &note.id, &format!("{}=", note.receipt)] {
        let (code, body) = status(&app, token).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{token}: {body}");
    }
    let extra = post_json(
        &app,
        "/api/e2e/receipts/status",
        &json!({ "token": note.receipt, "id": note.id }),
    )
    .await;
    assert_eq!(extra.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A note without receipt answers no token.
    let (stored, _keys) = note::seal_note(b"x").unwrap();
    let plain = post_json(
        &app,
        "/api/e2e/notes",
        &json!({ "note": note_json(&stored), "claim_hash": b64(&[1; 32]) }),
    )
    .await;
    assert_eq!(plain.status, StatusCode::CREATED);
    assert!(
        plain.body.get("receipt_token").is_none(),
        "{:?}",
        plain.body
    );
    assert_status(&app, &note.receipt, "pending", START).await;
}

async fn receipts_survive_a_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app1 = app(state);
    let revealed = Created::new(&app1, false, 600).await;
    let pending = Created::new(&app1, false, 600).await;
    assert_eq!(revealed.claim(&app1, None).await, StatusCode::OK);
    drop(app1);
    let (state, _clock) = support::state_on(backend, dir.path());
    let app2 = app(state);
    assert_status(&app2, &revealed.receipt, "revealed", START).await;
    assert_status(&app2, &pending.receipt, "pending", START).await;
    assert_eq!(pending.claim(&app2, None).await, StatusCode::OK);
    assert_status(&app2, &pending.receipt, "revealed", START).await;
}

crate::on_both_stores!(
    a_claim_turns_the_receipt_revealed_once,
    the_last_wrong_passphrase_turns_the_receipt_destroyed,
    a_right_passphrase_claim_is_revealed,
    expiry_reads_expired_before_and_after_the_sweep_and_the_receipt_is_swept_later,
    an_expired_note_found_by_a_claim_settles_its_receipt,
    wrong_tokens_are_404_and_the_note_id_is_no_token,
    receipts_survive_a_restart,
);
