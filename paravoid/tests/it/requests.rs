//! Request-a-secret (`/api/e2e/requests`) on a store: an answer sealed by the client to the
//! requester's key (here with `qsmm_shield::note`, an implementation of the request-bound key
//! of its own), stored once, claimed once by the requester's token, opened only with the
//! requester's keys and this request's id. Each test runs on redb and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use crate::support;

use crate::support::{Backend, get, post_json};
use axum::Router;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use paravoid::app;
use qsmm_shield::note::{self, RecipientKeys, StoredNote};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A requester: its keys (seed, classical) and the request it registered.
struct Requester {
    seed: [u8; 64],
    classical: [u8; 32],
    id: String,
}

impl Requester {
    async fn register(app: &Router, seed: u8, ttl: u64) -> Self {
        let (seed, classical) = ([seed; 64], [seed.wrapping_add(1); 32]);
        let keys = RecipientKeys::from_seed(seed, classical);
        let raw = [&seed[..], &classical[..]].concat();
        let mut claim = [0u8; 32];
        Hkdf::<Sha256>::new(None, &raw)
            .expand(b"paravoid/v1/e2e/claim", &mut claim)
            .unwrap();
        let created = post_json(
            app,
            "/api/e2e/requests",
            &json!({ "claim_hash": b64(&Sha256::digest(claim)), "ttl_secs": ttl }),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(created.body["respond_path"], format!("/r/{id}"));
        drop(keys);
        Self {
            seed,
            classical,
            id,
        }
    }

    fn ek(&self) -> Vec<u8> {
        RecipientKeys::from_seed(self.seed, self.classical).encapsulation_key()
    }

    /// `HKDF(classical, "paravoid/v1/request" ‖ id ‖ SHA-256(ek))` for request `id`.
    fn bound(&self, id: &str) -> [u8; 32] {
        let id = uuid::Uuid::parse_str(id).unwrap();
        let mut info = b"paravoid/v1/request".to_vec();
        info.extend_from_slice(id.as_bytes());
        info.extend_from_slice(&Sha256::digest(self.ek()));
        let mut out = [0u8; 32];
        Hkdf::<Sha256>::new(None, &self.classical)
            .expand(&info, &mut out)
            .unwrap();
        out
    }

    /// What a responder seals for request `id` with this requester's request link.
    fn answer_for(&self, id: &str, message: &[u8]) -> StoredNote {
        note::seal_note_to(&self.ek(), &self.bound(id), message).unwrap()
    }

    fn claim_body(&self) -> Value {
        let raw = [&self.seed[..], &self.classical[..]].concat();
        let mut claim = [0u8; 32];
        Hkdf::<Sha256>::new(None, &raw)
            .expand(b"paravoid/v1/e2e/claim", &mut claim)
            .unwrap();
        json!({ "claim_token": b64(&claim) })
    }

    /// Claims the answer and opens it with the keys bound to this request.
    async fn open(&self, app: &Router) -> Result<Vec<u8>, StatusCode> {
        let claimed = post_json(
            app,
            &format!("/api/e2e/notes/{}/claim", self.id),
            &self.claim_body(),
        )
        .await;
        if claimed.status != StatusCode::OK {
            return Err(claimed.status);
        }
        let field = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(claimed.body["note"][name].as_str().unwrap())
                .unwrap()
        };
        let stored = StoredNote {
            ek: field("ek"),
            ct_kem: field("ct_kem"),
            nonce: field("nonce").try_into().unwrap(),
            key_check: field("key_check").try_into().unwrap(),
            ciphertext: field("ciphertext"),
            passphrase: None,
        };
        let keys = RecipientKeys::from_seed(self.seed, self.bound(&self.id));
        note::open_note(&stored, &keys)
            .map(|message| message.to_vec())
            .map_err(|_| StatusCode::UNPROCESSABLE_ENTITY)
    }
}

fn answer_body(stored: &StoredNote) -> Value {
    json!({ "note": {
        "ek": b64(&stored.ek), "ct_kem": b64(&stored.ct_kem), "nonce": b64(&stored.nonce),
        "key_check": b64(&stored.key_check), "ciphertext": b64(&stored.ciphertext),
    } })
}

async fn respond(app: &Router, id: &str, stored: &StoredNote) -> StatusCode {
    post_json(
        app,
        &format!("/api/e2e/requests/{id}/response"),
        &answer_body(stored),
    )
    .await
    .status
}

async fn one_answer_is_stored_and_claimed_once_by_the_requester(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let requester = Requester::register(&app, 1, 600).await;
    let status = get(&app, &format!("/api/e2e/requests/{}", requester.id)).await;
    assert_eq!(status.body["answered"], false);
    assert_eq!(requester.open(&app).await, Err(StatusCode::NOT_FOUND));

    let answer = requester.answer_for(&requester.id, b"hunter2");
    assert_eq!(
        respond(&app, &requester.id, &answer).await,
        StatusCode::CREATED
    );
    let other = requester.answer_for(&requester.id, b"second");
    assert_eq!(
        respond(&app, &requester.id, &other).await,
        StatusCode::CONFLICT
    );
    let status = get(&app, &format!("/api/e2e/requests/{}", requester.id)).await;
    assert_eq!(status.body["answered"], true);

    // Someone else's claim token burns nothing.
    let stranger = Requester::register(&app, 9, 600).await;
    let wrong = post_json(
        &app,
        &format!("/api/e2e/notes/{}/claim", requester.id),
        &stranger.claim_body(),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);

    assert_eq!(requester.open(&app).await.unwrap(), b"hunter2");
    assert_eq!(requester.open(&app).await, Err(StatusCode::NOT_FOUND));
    assert_eq!(
        respond(&app, &requester.id, &other).await,
        StatusCode::CONFLICT
    );
}

async fn expired_requests_refuse_answers_and_are_swept(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());
    let requester = Requester::register(&app, 2, 60).await;
    clock.advance(60);
    let uri = format!("/api/e2e/requests/{}", requester.id);
    assert_eq!(get(&app, &uri).await.status, StatusCode::GONE);
    let answer = requester.answer_for(&requester.id, b"late");
    assert_eq!(
        respond(&app, &requester.id, &answer).await,
        StatusCode::GONE
    );
    state.sweep_expired().await.unwrap();
    assert_eq!(get(&app, &uri).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        respond(&app, &requester.id, &answer).await,
        StatusCode::NOT_FOUND
    );
}

async fn tampered_and_swapped_answers_do_not_open(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);

    let a = Requester::register(&app, 3, 600).await;
    let mut tampered = a.answer_for(&a.id, b"for a");
    tampered.ciphertext[0] ^= 1;
    assert_eq!(respond(&app, &a.id, &tampered).await, StatusCode::CREATED);
    assert_eq!(a.open(&app).await, Err(StatusCode::UNPROCESSABLE_ENTITY));

    // An answer made for request c (same requester keys) stored as the answer to b.
    let b = Requester::register(&app, 4, 600).await;
    let c = Requester::register(&app, 4, 600).await;
    let moved = b.answer_for(&c.id, b"for c");
    assert_eq!(respond(&app, &b.id, &moved).await, StatusCode::CREATED);
    assert_eq!(b.open(&app).await, Err(StatusCode::UNPROCESSABLE_ENTITY));
    // Sealed to another requester's key.
    let d = Requester::register(&app, 5, 600).await;
    let foreign = a.answer_for(&d.id, b"for a's key");
    assert_eq!(respond(&app, &d.id, &foreign).await, StatusCode::CREATED);
    assert_eq!(d.open(&app).await, Err(StatusCode::UNPROCESSABLE_ENTITY));
}

async fn of_concurrent_answers_exactly_one_is_stored(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let requester = Requester::register(&app, 6, 600).await;
    let mut tasks = Vec::new();
    for n in 0..8u8 {
        let app = app.clone();
        let id = requester.id.clone();
        let answer = requester.answer_for(&requester.id, &[b'0' + n]);
        tasks.push(tokio::spawn(
            async move { respond(&app, &id, &answer).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(requester.open(&app).await.unwrap().len(), 1);
}

crate::on_both_stores!(
    one_answer_is_stored_and_claimed_once_by_the_requester,
    expired_requests_refuse_answers_and_are_swept,
    tampered_and_swapped_answers_do_not_open,
    of_concurrent_answers_exactly_one_is_stored,
);
