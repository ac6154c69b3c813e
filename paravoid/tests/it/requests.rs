//! Request-a-secret (`/api/e2e/requests`) on a store: an answer sealed by the client to the
//! requester's key (here with `qsmm_shield::note`, an implementation of the request-bound key
//! of its own), stored once, claimed once by the requester's token, opened only with the
//! requester's keys and this request's id; an answer's files attached with it, all or none.
//! Each test runs on redb and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use crate::support;

use crate::support::{Backend, call, get, post_json};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use http_body_util::BodyExt as _;
use paravoid::app;
use qsmm_shield::attachment::{self, Bundle, FileEntry};
use qsmm_shield::note::{self, RecipientKeys, StoredNote};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt as _;

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

/// An answer with files as a responder's client makes it: the bundle (message, manifest, file
/// key) sealed to the requester's key for request `id`, and each file's sealed stream.
struct AnswerWithFiles {
    stored: StoredNote,
    files: Vec<(FileEntry, Vec<u8>, Vec<u8>)>,
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i % 251).unwrap() ^ salt)
        .collect()
}

impl Requester {
    fn answer_with_files(&self, id: &str, files: &[(&str, Vec<u8>)]) -> AnswerWithFiles {
        let entries: Vec<FileEntry> = files
            .iter()
            .map(|(name, data)| FileEntry::new(name, "text/plain", data.len() as u64).unwrap())
            .collect();
        let bundle = Bundle::new(b"attached", entries.clone()).unwrap();
        let stored =
            note::seal_note_to(&self.ek(), &self.bound(id), &bundle.to_plaintext()).unwrap();
        let files = entries
            .into_iter()
            .zip(files)
            .enumerate()
            .map(|(index, (entry, (_, data)))| {
                let mut sealed = Vec::new();
                let index = u32::try_from(index).unwrap();
                attachment::seal_file(bundle.key(), index, entry.size(), &data[..], &mut sealed)
                    .unwrap();
                (entry, data.clone(), sealed)
            })
            .collect();
        AnswerWithFiles { stored, files }
    }

    /// Claims the answer: the opened bundle and the claim's `files` member.
    async fn claim_bundle(&self, app: &Router) -> (Bundle, Value) {
        let claimed = post_json(
            app,
            &format!("/api/e2e/notes/{}/claim", self.id),
            &self.claim_body(),
        )
        .await;
        assert_eq!(claimed.status, StatusCode::OK, "{:?}", claimed.body);
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
        let plaintext = note::open_note(&stored, &keys).unwrap();
        let bundle = Bundle::from_plaintext(&plaintext).unwrap().unwrap();
        (bundle, claimed.body["files"].clone())
    }
}

async fn upload(app: &Router, sealed: &[u8]) -> String {
    let answer = call(
        app,
        Method::POST,
        "/api/e2e/files",
        Some("application/octet-stream"),
        sealed.to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body["file_id"].as_str().unwrap().to_owned()
}

async fn upload_all(app: &Router, answer: &AnswerWithFiles) -> Vec<String> {
    let mut ids = Vec::new();
    for (_, _, sealed) in &answer.files {
        ids.push(upload(app, sealed).await);
    }
    ids
}

async fn respond_with_files(
    app: &Router,
    id: &str,
    stored: &StoredNote,
    files: &[String],
) -> StatusCode {
    let mut body = answer_body(stored);
    body["files"] = json!(files);
    let answer = post_json(app, &format!("/api/e2e/requests/{id}/response"), &body).await;
    answer.status
}

async fn download(app: &Router, id: &str, index: usize, token: &str) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("/api/e2e/notes/{id}/files/{index}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

async fn answered(app: &Router, id: &str) -> bool {
    let status = get(app, &format!("/api/e2e/requests/{id}")).await;
    status.body["answered"].as_bool().unwrap()
}

async fn an_answer_with_files_is_downloaded_once_by_the_requester(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let requester = Requester::register(&app, 10, 600).await;
    let answer = requester.answer_with_files(
        &requester.id,
        &[
            ("key.pem", pattern(2 * attachment::CHUNK_LEN + 3, 1)),
            ("empty", Vec::new()),
        ],
    );
    let ids = upload_all(&app, &answer).await;
    let status = respond_with_files(&app, &requester.id, &answer.stored, &ids).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(answered(&app, &requester.id).await);

    let (bundle, files) = requester.claim_bundle(&app).await;
    assert_eq!(bundle.message(), b"attached");
    let token = files["token"].as_str().unwrap().to_owned();
    let sizes: Vec<u64> = serde_json::from_value(files["sealed_sizes"].clone()).unwrap();
    let expected: Vec<u64> = answer.files.iter().map(|f| f.2.len() as u64).collect();
    assert_eq!(sizes, expected);
    for (index, (entry, data, sealed)) in answer.files.iter().enumerate() {
        assert_eq!(&bundle.files()[index], entry);
        let (status, body) = download(&app, &requester.id, index, &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body, sealed);
        let mut opened = Vec::new();
        let position = u32::try_from(index).unwrap();
        attachment::open_file(bundle.key(), position, entry.size(), &body[..], &mut opened)
            .unwrap();
        assert_eq!(&opened, data);
        let (again, _) = download(&app, &requester.id, index, &token).await;
        assert_eq!(again, StatusCode::NOT_FOUND);
    }
}

async fn an_answer_naming_a_used_or_unknown_upload_stores_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    // An upload already attached to the answer of another request.
    let other = Requester::register(&app, 11, 600).await;
    let taken = other.answer_with_files(&other.id, &[("a", pattern(10, 2))]);
    let taken_ids = upload_all(&app, &taken).await;
    let status = respond_with_files(&app, &other.id, &taken.stored, &taken_ids).await;
    assert_eq!(status, StatusCode::CREATED);

    let requester = Requester::register(&app, 12, 600).await;
    let answer = requester.answer_with_files(
        &requester.id,
        &[("b", pattern(20, 3)), ("c", pattern(30, 4))],
    );
    let fresh = upload_all(&app, &answer).await;
    let unknown = uuid::Uuid::new_v4().hyphenated().to_string();
    let refused = [
        vec![fresh[0].clone(), taken_ids[0].clone()],
        vec![fresh[0].clone(), unknown],
        vec![fresh[0].clone(), fresh[0].clone()],
        vec!["not an id".to_owned()],
        vec![fresh[0].clone(); attachment::MAX_FILES + 1],
    ];
    for files in refused {
        let status = respond_with_files(&app, &requester.id, &answer.stored, &files).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{files:?}");
        // Nothing was stored: the request still takes its answer, with the same uploads.
        assert!(!answered(&app, &requester.id).await);
    }
    let status = respond_with_files(&app, &requester.id, &answer.stored, &fresh).await;
    assert_eq!(status, StatusCode::CREATED);
    let (bundle, files) = requester.claim_bundle(&app).await;
    assert_eq!(bundle.files().len(), 2);
    assert_eq!(files["sealed_sizes"].as_array().unwrap().len(), 2);
}

async fn refused_answers_leave_their_uploads_unattached_until_swept(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());
    let requester = Requester::register(&app, 13, 600).await;
    let first = requester.answer_with_files(&requester.id, &[("first", pattern(100, 5))]);
    let first_ids = upload_all(&app, &first).await;
    let status = respond_with_files(&app, &requester.id, &first.stored, &first_ids).await;
    assert_eq!(status, StatusCode::CREATED);

    // A second answer with files: 409, and its upload is attached to nothing.
    let second = requester.answer_with_files(&requester.id, &[("second", pattern(200, 6))]);
    let second_ids = upload_all(&app, &second).await;
    let status = respond_with_files(&app, &requester.id, &second.stored, &second_ids).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (bundle, files) = requester.claim_bundle(&app).await;
    assert_eq!(bundle.files()[0].name(), "first");
    let sizes: Vec<u64> = serde_json::from_value(files["sealed_sizes"].clone()).unwrap();
    assert_eq!(sizes, vec![first.files[0].2.len() as u64]);

    // An expired request refuses an answer with files (410), attaching nothing either.
    let late = Requester::register(&app, 14, 60).await;
    let late_answer = late.answer_with_files(&late.id, &[("late", pattern(300, 7))]);
    let late_ids = upload_all(&app, &late_answer).await;
    clock.advance(60);
    let status = respond_with_files(&app, &late.id, &late_answer.stored, &late_ids).await;
    assert_eq!(status, StatusCode::GONE);

    // Both refused uploads are still unattached: a live request can take them...
    let taker = Requester::register(&app, 15, 600).await;
    let status = respond_with_files(&app, &taker.id, &second.stored, &second_ids).await;
    assert_eq!(status, StatusCode::CREATED);
    // ... and an upload never attached is deleted an hour after its upload.
    clock.advance(60 * 60);
    state.sweep_expired().await.unwrap();
    let last = Requester::register(&app, 16, 600).await;
    let status = respond_with_files(&app, &last.id, &late_answer.stored, &late_ids).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!answered(&app, &last.id).await);
}

crate::on_both_stores!(
    an_answer_with_files_is_downloaded_once_by_the_requester,
    an_answer_naming_a_used_or_unknown_upload_stores_nothing,
    refused_answers_leave_their_uploads_unattached_until_swept,
    one_answer_is_stored_and_claimed_once_by_the_requester,
    expired_requests_refuse_answers_and_are_swept,
    tampered_and_swapped_answers_do_not_open,
    of_concurrent_answers_exactly_one_is_stored,
);
