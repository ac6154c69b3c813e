//! The end-to-end API (`/api/e2e/notes`): notes sealed by the client (here with
//! `qsmm_shield::note`, the reference of the browser code), claimed with tokens, opened by the
//! client. The server stores and returns the sealed bytes unchanged, claims exactly once, counts
//! wrong passphrase tokens, changes nothing for wrong claim tokens, and refuses malformed notes
//! and any field that would hand it a secret.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use crate::support;

use std::sync::Arc;

use crate::support::{Backend, START, get, post_json};
use axum::Router;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use paravoid::{MAX_PASSPHRASE_ATTEMPTS, app};
use qsmm_shield::note::{
    self, PassphraseParams, RecipientKeys, StoredNote, open_note_with_passphrase,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Light Argon2id costs (the smallest the API stores) so the tests stay fast.
const COSTS: (u32, u32, u32) = (128, 1, 1);

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A note sealed on the client side, with everything its sender and reader hold.
struct Sealed {
    stored: StoredNote,
    keys: RecipientKeys,
    passphrase: Option<&'static str>,
}

impl Sealed {
    fn new(message: &str, passphrase: Option<&'static str>) -> Self {
        let (stored, keys) = match passphrase {
            None => note::seal_note(message.as_bytes()).unwrap(),
            Some(passphrase) => note::seal_note_with_passphrase_params(
                message.as_bytes(),
                passphrase.as_bytes(),
                PassphraseParams::with_costs(COSTS.0, COSTS.1, COSTS.2).unwrap(),
            )
            .unwrap(),
        };
        Self {
            stored,
            keys,
            passphrase,
        }
    }

    /// The 96 raw bytes of the link keys.
    fn raw_keys(&self) -> Vec<u8> {
        URL_SAFE_NO_PAD
            .decode(self.keys.to_compact().as_bytes())
            .unwrap()
    }

    fn claim_token(&self) -> [u8; 32] {
        hkdf32(&self.raw_keys(), b"paravoid/v1/e2e/claim")
    }

    fn passphrase_token(&self, passphrase: &str) -> [u8; 32] {
        let params = self.stored.passphrase.as_ref().unwrap();
        let costs =
            argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32)).unwrap();
        let mut pw = [0u8; 32];
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, costs)
            .hash_password_into(passphrase.as_bytes(), &params.salt, &mut pw)
            .unwrap();
        let ikm = [self.raw_keys().as_slice(), &pw].concat();
        hkdf32(&ikm, b"paravoid/v1/e2e/passphrase")
    }

    fn note_json(&self) -> Value {
        let n = &self.stored;
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

    fn create_body(&self) -> Value {
        let mut body = json!({
            "note": self.note_json(),
            "claim_hash": b64(&Sha256::digest(self.claim_token())),
        });
        if let Some(passphrase) = self.passphrase {
            body["passphrase_hash"] =
                json!(b64(&Sha256::digest(self.passphrase_token(passphrase))));
        }
        body
    }

    fn claim_body(&self, passphrase: Option<&str>) -> Value {
        let mut body = json!({ "claim_token": b64(&self.claim_token()) });
        if let Some(passphrase) = passphrase {
            body["passphrase_token"] = json!(b64(&self.passphrase_token(passphrase)));
        }
        body
    }
}

fn hkdf32(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

/// The sealed note of a claim answer, decoded.
fn claimed_note(answer: &Value) -> StoredNote {
    let n = &answer["note"];
    let field = |name: &str| URL_SAFE_NO_PAD.decode(n[name].as_str().unwrap()).unwrap();
    let passphrase = n.get("argon2id").map(|a| PassphraseParams {
        salt: URL_SAFE_NO_PAD
            .decode(a["salt"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
        m_cost_kib: u32::try_from(a["m_cost_kib"].as_u64().unwrap()).unwrap(),
        t_cost: u32::try_from(a["t_cost"].as_u64().unwrap()).unwrap(),
        p_cost: u32::try_from(a["p_cost"].as_u64().unwrap()).unwrap(),
    });
    StoredNote {
        ek: field("ek"),
        ct_kem: field("ct_kem"),
        nonce: field("nonce").try_into().unwrap(),
        ciphertext: field("ciphertext"),
        passphrase,
        key_check: field("key_check").try_into().unwrap(),
    }
}

async fn created_id(app: &Router, sealed: &Sealed) -> String {
    let answer = post_json(app, "/api/e2e/notes", &sealed.create_body()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert_eq!(answer.body["share_path"], format!("/s/{id}"));
    assert_eq!(
        answer.body["passphrase_required"],
        sealed.passphrase.is_some()
    );
    id
}

async fn a_note_sealed_by_the_client_is_claimed_once_and_opens_on_the_client(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let sealed = Sealed::new("the vault code is 4711", None);
    let id = created_id(&app, &sealed).await;

    let peek = get(&app, &format!("/api/e2e/notes/{id}")).await;
    assert_eq!(peek.status, StatusCode::OK);
    assert_eq!(peek.body["exists"], true);
    assert_eq!(peek.body["passphrase_required"], false);
    assert!(peek.body.get("argon2id").is_none());
    assert_eq!(peek.body["expires_at"], START + 86_400);

    // The modes do not mix: the published API does not see (or open) this note.
    assert_eq!(
        get(&app, &format!("/api/secrets/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let compact = json!({ "compact": sealed.keys.to_compact().as_str() });
    let reveal = post_json(&app, &format!("/api/secrets/{id}/reveal"), &compact).await;
    assert_eq!(reveal.status, StatusCode::NOT_FOUND);

    let claim = format!("/api/e2e/notes/{id}/claim");
    let answer = post_json(&app, &claim, &sealed.claim_body(None)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["id"], id.as_str());
    let returned = claimed_note(&answer.body);
    // Byte for byte what the client sent.
    assert_eq!(returned.to_bytes(), sealed.stored.to_bytes());
    let message = note::open_note(&returned, &sealed.keys).unwrap();
    assert_eq!(&message[..], b"the vault code is 4711");

    let again = post_json(&app, &claim, &sealed.claim_body(None)).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.body, json!({ "error": "not found" }));
    assert_eq!(
        get(&app, &format!("/api/e2e/notes/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn wrong_claim_tokens_burn_nothing_and_wrong_passphrases_count(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());
    let sealed = Sealed::new("behind the painting", Some("correct horse"));
    let id = created_id(&app, &sealed).await;
    let claim = format!("/api/e2e/notes/{id}/claim");

    let peek = get(&app, &format!("/api/e2e/notes/{id}")).await;
    let params = sealed.stored.passphrase.as_ref().unwrap();
    assert_eq!(
        peek.body["argon2id"],
        json!({"salt": b64(&params.salt), "m_cost_kib": COSTS.0, "t_cost": COSTS.1, "p_cost": COSTS.2})
    );

    // Someone with the id but not the link keys: 403 any number of times, nothing counted.
    let other = Sealed::new("other", Some("correct horse"));
    for _ in 0..8 {
        let answer = post_json(&app, &claim, &other.claim_body(Some("correct horse"))).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(answer.body, json!({ "error": "wrong link keys" }));
    }
    // The right claim token without the passphrase token: not counted either.
    let answer = post_json(&app, &claim, &sealed.claim_body(None)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.body,
        json!({ "error": "this note needs a passphrase" })
    );

    for left in (1..MAX_PASSPHRASE_ATTEMPTS).rev().take(2) {
        let answer = post_json(&app, &claim, &sealed.claim_body(Some("wrong horse"))).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(
            answer.body,
            json!({ "error": "wrong passphrase", "attempts_left": left })
        );
    }
    let answer = post_json(&app, &claim, &sealed.claim_body(Some("correct horse"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let returned = claimed_note(&answer.body);
    assert_eq!(returned.to_bytes(), sealed.stored.to_bytes());
    let message =
        open_note_with_passphrase(&returned, &sealed.keys, Some(b"correct horse")).unwrap();
    assert_eq!(&message[..], b"behind the painting");
    assert_eq!(state.stored_notes().unwrap(), 0);
}

async fn the_fifth_wrong_passphrase_token_destroys_the_note(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());
    let sealed = Sealed::new("m", Some("pw"));
    let id = created_id(&app, &sealed).await;
    let claim = format!("/api/e2e/notes/{id}/claim");
    for left in (0..MAX_PASSPHRASE_ATTEMPTS).rev() {
        let answer = post_json(&app, &claim, &sealed.claim_body(Some("nope"))).await;
        assert_eq!(answer.body["attempts_left"], left);
    }
    assert_eq!(state.stored_notes().unwrap(), 0);
    let answer = post_json(&app, &claim, &sealed.claim_body(Some("pw"))).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

async fn concurrent_claims_hand_the_note_out_exactly_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let sealed = Arc::new(Sealed::new("once", None));
    let id = created_id(&app, &sealed).await;
    let claim = format!("/api/e2e/notes/{id}/claim");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (app, claim, body) = (app.clone(), claim.clone(), sealed.claim_body(None));
            tokio::spawn(async move { post_json(&app, &claim, &body).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::NOT_FOUND)
            .count(),
        15
    );
}

async fn expired_notes_cannot_be_claimed(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let sealed = Sealed::new("short", None);
    let mut body = sealed.create_body();
    body["ttl_secs"] = json!(60);
    let answer = post_json(&app, "/api/e2e/notes", &body).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.body["expires_at"], START + 60);
    let id = answer.body["id"].as_str().unwrap();
    clock.advance(60);
    let claim = format!("/api/e2e/notes/{id}/claim");
    let answer = post_json(&app, &claim, &sealed.claim_body(None)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

async fn published_notes_are_not_claimable(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let created = support::create(&app, json!({ "message": "server-sealed" })).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        get(&app, &format!("/api/e2e/notes/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let body = json!({ "claim_token": b64(&[0u8; 32]) });
    let answer = post_json(&app, &format!("/api/e2e/notes/{id}/claim"), &body).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

async fn malformed_notes_and_secret_fields_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let max_message = state.config().max_message_bytes;
    let app = app(state.clone());
    let plain = Sealed::new("m", None).create_body();
    let guarded = Sealed::new("m", Some("pw")).create_body();
    // Sets (or adds) the field at a `/`-separated path.
    let with = |base: &Value, pointer: &str, value: Value| {
        let mut body = base.clone();
        let mut at = &mut body;
        for key in pointer.trim_start_matches('/').split('/') {
            at = &mut at[key];
        }
        *at = value;
        body
    };
    let without = |base: &Value, field: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let ek = plain["note"]["ek"].as_str().unwrap();
    let nonce = plain["note"]["nonce"].as_str().unwrap();
    let key_check = plain["note"]["key_check"].as_str().unwrap();
    let cases = [
        (with(&plain, "/note/ek", json!(&ek[1..])), 422),
        (with(&plain, "/note/ek", json!(format!("{ek}A"))), 422),
        (
            with(&plain, "/note/ek", json!(format!("{}=", &ek[1..]))),
            422,
        ),
        (with(&plain, "/note/ct_kem", json!(ek)), 422),
        (
            with(&plain, "/note/nonce", json!(format!("{nonce}AAAA"))),
            422,
        ),
        // 32 bytes with the last character's unused low bits set: not canonical.
        (
            with(
                &plain,
                "/note/key_check",
                json!(format!("{}B", &key_check[..42])),
            ),
            422,
        ),
        (with(&plain, "/note/key_check", json!(b64(&[0; 31]))), 422),
        (with(&plain, "/note/ciphertext", json!(b64(&[0; 16]))), 422),
        (with(&plain, "/note/ciphertext", json!("not base64!")), 422),
        (
            with(
                &plain,
                "/note/ciphertext",
                json!(b64(&vec![0; max_message + 17])),
            ),
            413,
        ),
        (with(&plain, "/claim_hash", json!(b64(&[0; 16]))), 422),
        (with(&plain, "/ttl_secs", json!(0)), 422),
        (without(&plain, "claim_hash"), 422),
        (without(&guarded, "passphrase_hash"), 422),
        (
            with(
                &plain,
                "/passphrase_hash",
                guarded["passphrase_hash"].clone(),
            ),
            422,
        ),
        (with(&guarded, "/note/argon2id/m_cost_kib", json!(127)), 422),
        (
            with(&guarded, "/note/argon2id/m_cost_kib", json!(262_145)),
            422,
        ),
        (with(&guarded, "/note/argon2id/t_cost", json!(0)), 422),
        (with(&guarded, "/note/argon2id/p_cost", json!(17)), 422),
        (
            with(&guarded, "/note/argon2id/salt", json!(b64(&[0; 15]))),
            422,
        ),
        // Nothing that would hand the server a secret is accepted.
        (with(&plain, "/message", json!("the vault code")), 422),
        (with(&plain, "/passphrase", json!("correct horse")), 422),
        (with(&plain, "/note/dk", json!("00")), 422),
        (with(&plain, "/compact", json!("A".repeat(128))), 422),
    ];
    for (body, status) in &cases {
        let answer = post_json(&app, "/api/e2e/notes", body).await;
        assert_eq!(answer.status.as_u16(), *status, "{body:.200}");
        assert!(answer.body["error"].is_string());
    }
    assert_eq!(state.stored_notes().unwrap(), 0);

    let id = uuid::Uuid::new_v4();
    let claim = format!("/api/e2e/notes/{id}/claim");
    for body in [
        json!({}),
        json!({ "claim_token": b64(&[0; 31]) }),
        json!({ "claim_token": b64(&[0; 32]), "passphrase_token": null }),
        json!({ "claim_token": b64(&[0; 32]), "passphrase": "pw" }),
        json!({ "claim_token": b64(&[0; 32]), "compact": "A".repeat(128) }),
    ] {
        let answer = post_json(&app, &claim, &body).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let answer = post_json(&app, &claim, &json!({ "claim_token": b64(&[0; 32]) })).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

crate::on_both_stores!(
    a_note_sealed_by_the_client_is_claimed_once_and_opens_on_the_client,
    wrong_claim_tokens_burn_nothing_and_wrong_passphrases_count,
    the_fifth_wrong_passphrase_token_destroys_the_note,
    concurrent_claims_hand_the_note_out_exactly_once,
    expired_notes_cannot_be_claimed,
    published_notes_are_not_claimable,
    malformed_notes_and_secret_fields_are_refused,
);
