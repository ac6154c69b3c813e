//! Files of end-to-end notes (`/api/e2e/files`, `/api/e2e/notes/{id}/files/{index}`): sealed on
//! the client with `qsmm_shield::attachment`, uploaded as streams, attached to a note, handed a
//! download token by the claim, downloaded exactly once, and gone after download or expiry.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use crate::support;

use crate::support::{Answer, Backend, call, post_json};
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

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i % 251).unwrap() ^ salt)
        .collect()
}

/// A note with files, sealed on the client: the note, its keys, and each file's sealed stream.
struct Sent {
    stored: StoredNote,
    keys: RecipientKeys,
    files: Vec<(FileEntry, Vec<u8>, Vec<u8>)>,
}

fn seal(files: &[(&str, Vec<u8>)]) -> Sent {
    let entries: Vec<FileEntry> = files
        .iter()
        .map(|(name, data)| {
            FileEntry::new(name, "application/octet-stream", data.len() as u64).unwrap()
        })
        .collect();
    let bundle = Bundle::new(b"see attached", entries.clone()).unwrap();
    let (stored, keys) = note::seal_note(&bundle.to_plaintext()).unwrap();
    let files = entries
        .into_iter()
        .zip(files)
        .enumerate()
        .map(|(index, (entry, (_, data)))| {
            let mut sealed = Vec::new();
            let index = u32::try_from(index).unwrap();
            attachment::seal_file(
                bundle.key(),
                index,
                data.len() as u64,
                &data[..],
                &mut sealed,
            )
            .unwrap();
            (entry, data.clone(), sealed)
        })
        .collect();
    Sent {
        stored,
        keys,
        files,
    }
}

fn claim_token(keys: &RecipientKeys) -> [u8; 32] {
    let raw = URL_SAFE_NO_PAD.decode(keys.to_compact()).unwrap();
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(None, &raw)
        .expand(b"paravoid/v1/e2e/claim", &mut out)
        .unwrap();
    out
}

fn create_body(sent: &Sent, file_ids: &[String]) -> Value {
    let n = &sent.stored;
    json!({
        "note": {
            "ek": b64(&n.ek),
            "ct_kem": b64(&n.ct_kem),
            "nonce": b64(&n.nonce),
            "key_check": b64(&n.key_check),
            "ciphertext": b64(&n.ciphertext),
        },
        "claim_hash": b64(&Sha256::digest(claim_token(&sent.keys))),
        "files": file_ids,
    })
}

async fn upload(app: &Router, sealed: &[u8]) -> Answer {
    call(
        app,
        Method::POST,
        "/api/e2e/files",
        Some("application/octet-stream"),
        sealed.to_vec(),
    )
    .await
}

async fn upload_ok(app: &Router, sealed: &[u8]) -> String {
    let answer = upload(app, sealed).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    assert_eq!(answer.body["sealed_size"], sealed.len());
    answer.body["file_id"].as_str().unwrap().to_owned()
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

/// Uploads, creates and claims `sent`; returns the note id and the claim's answer.
async fn send_and_claim(app: &Router, sent: &Sent) -> (String, Value) {
    let mut ids = Vec::new();
    for (_, _, sealed) in &sent.files {
        ids.push(upload_ok(app, sealed).await);
    }
    let created = post_json(app, "/api/e2e/notes", &create_body(sent, &ids)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let claim = json!({ "claim_token": b64(&claim_token(&sent.keys)) });
    let claimed = post_json(app, &format!("/api/e2e/notes/{id}/claim"), &claim).await;
    assert_eq!(claimed.status, StatusCode::OK, "{:?}", claimed.body);
    (id, claimed.body)
}

async fn files_round_trip_once_through_the_server(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let sent = seal(&[
        ("big.bin", pattern(2 * attachment::CHUNK_LEN + 77, 1)),
        ("empty", Vec::new()),
        ("one-chunk.bin", pattern(attachment::CHUNK_LEN, 2)),
    ]);
    let (id, claimed) = send_and_claim(&app, &sent).await;

    let token = claimed["files"]["token"].as_str().unwrap().to_owned();
    let sizes: Vec<u64> = serde_json::from_value(claimed["files"]["sealed_sizes"].clone()).unwrap();
    assert_eq!(
        sizes,
        sent.files
            .iter()
            .map(|f| f.2.len() as u64)
            .collect::<Vec<_>>()
    );
    // The recipient opens the note, reads the manifest and opens each download with it.
    let stored = StoredNote {
        ciphertext: URL_SAFE_NO_PAD
            .decode(claimed["note"]["ciphertext"].as_str().unwrap())
            .unwrap(),
        ..sent.stored.clone()
    };
    let plaintext = note::open_note(&stored, &sent.keys).unwrap();
    let bundle = Bundle::from_plaintext(&plaintext).unwrap().unwrap();
    for (index, (entry, data, sealed)) in sent.files.iter().enumerate() {
        assert_eq!(&bundle.files()[index], entry);
        let (status, body) = download(&app, &id, index, &token).await;
        assert_eq!(status, StatusCode::OK, "file {index}");
        assert_eq!(&body, sealed, "file {index}");
        let mut opened = Vec::new();
        let index = u32::try_from(index).unwrap();
        attachment::open_file(bundle.key(), index, entry.size(), &body[..], &mut opened).unwrap();
        assert_eq!(&opened, data);
    }
    // Exactly once: every second download is refused.
    for index in 0..sent.files.len() {
        let (status, _) = download(&app, &id, index, &token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "second download of {index}");
    }
}

async fn a_wrong_token_or_index_is_refused_and_changes_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let sent = seal(&[("a.txt", b"hello".to_vec())]);
    let (id, claimed) = send_and_claim(&app, &sent).await;
    let token = claimed["files"]["token"].as_str().unwrap().to_owned();

    for bad in [b64(&[0u8; 32]), "not base64".to_owned(), b64(&[1u8; 31])] {
        assert_eq!(download(&app, &id, 0, &bad).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        download(&app, &id, 1, &token).await.0,
        StatusCode::NOT_FOUND
    );
    let other = uuid::Uuid::new_v4().hyphenated().to_string();
    assert_eq!(
        download(&app, &other, 0, &token).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = download(&app, &id, 0, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, sent.files[0].2);
}

async fn a_note_without_files_claims_as_before(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let sent = seal(&[]);
    let (_, claimed) = send_and_claim(&app, &sent).await;
    assert!(claimed.get("files").is_none(), "{claimed}");
}

async fn too_large_uploads_are_refused_with_413_and_not_kept(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config_on(backend, dir.path());
    config.max_file_bytes = 100_000;
    let state = paravoid::AppState::open(config).unwrap();
    let app = app(state);
    let data = pattern(100_001, 0);
    let key = attachment::FileKey::from_bytes([3; 32]);
    let mut sealed = Vec::new();
    attachment::seal_file(&key, 0, data.len() as u64, &data[..], &mut sealed).unwrap();

    // Streamed without a length: refused once the stream passes the limit.
    let answer = upload(&app, &sealed).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        answer.body
    );
    assert_eq!(answer.body["error"], "file too large: at most 100000 bytes");
    // With a Content-Length: refused before reading.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/e2e/files")
        .header(header::CONTENT_LENGTH, sealed.len())
        .body(Body::from(sealed.clone()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The largest allowed file is accepted.
    let data = pattern(100_000, 0);
    let mut sealed = Vec::new();
    attachment::seal_file(&key, 0, data.len() as u64, &data[..], &mut sealed).unwrap();
    upload_ok(&app, &sealed).await;
}

async fn bodies_that_cannot_be_sealed_files_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    for len in [0, 15, attachment::SEALED_CHUNK_LEN + 15] {
        let answer = upload(&app, &vec![0u8; len]).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "length {len}"
        );
    }
    for len in [
        16,
        attachment::SEALED_CHUNK_LEN,
        attachment::SEALED_CHUNK_LEN + 16,
    ] {
        upload_ok(&app, &vec![0u8; len]).await;
    }
}

async fn uploads_attach_to_one_note_only_and_must_exist(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let sent = seal(&[("a", b"a".to_vec())]);
    let file = upload_ok(&app, &sent.files[0].2).await;
    let unknown = uuid::Uuid::new_v4().hyphenated().to_string();
    for files in [
        vec![unknown],
        vec!["nope".to_owned()],
        vec![file.clone(), file.clone()],
    ] {
        let answer = post_json(&app, "/api/e2e/notes", &create_body(&sent, &files)).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{files:?}");
    }
    let first = post_json(
        &app,
        "/api/e2e/notes",
        &create_body(&sent, std::slice::from_ref(&file)),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = post_json(&app, "/api/e2e/notes", &create_body(&sent, &[file])).await;
    assert_eq!(second.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn files_expire_unclaimed_undownloaded_or_unattached(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());
    let sent = seal(&[("a", pattern(1000, 5))]);
    let (id, claimed) = send_and_claim(&app, &sent).await;
    let token = claimed["files"]["token"].as_str().unwrap().to_owned();
    let unattached = upload_ok(&app, &sent.files[0].2).await;

    // An hour later the claimed file is gone, swept or not, and so is the unattached upload.
    clock.advance(60 * 60 + 1);
    assert_eq!(
        download(&app, &id, 0, &token).await.0,
        StatusCode::NOT_FOUND
    );
    state.sweep_expired().await.unwrap();
    let answer = post_json(&app, "/api/e2e/notes", &create_body(&sent, &[unattached])).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn of_two_downloads_at_once_exactly_one_gets_the_file(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let sent = seal(&[("both.bin", pattern(3 * attachment::CHUNK_LEN + 5, 9))]);
    let (id, claimed) = send_and_claim(&app, &sent).await;
    let token = claimed["files"]["token"].as_str().unwrap().to_owned();

    let (first, second) = tokio::join!(
        download(&app, &id, 0, &token),
        download(&app, &id, 0, &token)
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::NOT_FOUND]);
    let body = if first.0 == StatusCode::OK {
        first.1
    } else {
        second.1
    };
    assert_eq!(body, sent.files[0].2);
}

async fn max_notes_caps_the_files_stored(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config_on(backend, dir.path());
    config.max_notes = 2;
    let app = app(paravoid::AppState::open(config).unwrap());
    let sealed = seal(&[("a", b"a".to_vec())]).files[0].2.clone();
    upload_ok(&app, &sealed).await;
    upload_ok(&app, &sealed).await;
    let answer = upload(&app, &sealed).await;
    assert_eq!(
        answer.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{answer:?}"
    );
}

crate::on_both_stores!(
    files_round_trip_once_through_the_server,
    a_wrong_token_or_index_is_refused_and_changes_nothing,
    a_note_without_files_claims_as_before,
    too_large_uploads_are_refused_with_413_and_not_kept,
    bodies_that_cannot_be_sealed_files_are_refused,
    uploads_attach_to_one_note_only_and_must_exist,
    files_expire_unclaimed_undownloaded_or_unattached,
    of_two_downloads_at_once_exactly_one_gets_the_file,
    max_notes_caps_the_files_stored,
);
