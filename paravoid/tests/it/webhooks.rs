//! Signed webhooks of read receipts on a store: a local receiver on 127.0.0.1 gets exactly one
//! signed POST per settled receipt (revealed, destroyed, expired), retried with backoff on the
//! test clock after an error status or a redirect (never followed), refused at delivery when an
//! unlisted host resolves to loopback, and sent once after a restart; creation refuses what the
//! allow list does not admit. Each test runs on redb and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use paravoid::{AppState, Config, MAX_PASSPHRASE_ATTEMPTS, ManualClock, app};
use qsmm_shield::note::{self, PassphraseParams};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;

use crate::support::{self, Backend, START, TestServer, post_json};

/// The message every note of this suite holds: no call may contain it.
const MESSAGE: &str = "the webhook never carries this";

/// One call the receiver got.
#[derive(Clone, Debug)]
struct Call {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A local HTTP receiver that records every call and answers the scripted statuses (then 200).
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    /// Answers only after this long (a slow receiver).
    delay: Arc<Mutex<Duration>>,
}

impl Receiver {
    /// Starts a receiver answering `script` first; returns it and its port.
    async fn start(script: &[u16]) -> (Self, u16) {
        let receiver = Self::default();
        receiver.script.lock().unwrap().extend(script);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let router = Router::new().fallback(record).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (receiver, port)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits (a few seconds at most) until `count` calls arrived; then a little more, so that a
    /// call too many would show.
    async fn wait_for(&self, count: usize) -> Vec<Call> {
        for _ in 0..200 {
            if self.calls.lock().unwrap().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let calls = self.calls();
        assert_eq!(calls.len(), count, "{calls:?}");
        calls
    }
}

async fn record(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    receiver.calls.lock().unwrap().push(Call {
        path: uri.to_string(),
        headers,
        body: body.to_vec(),
    });
    let delay = *receiver.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let status = receiver.script.lock().unwrap().pop_front().unwrap_or(200);
    let status = StatusCode::from_u16(status).unwrap();
    if status.is_redirection() {
        return (status, [("location", "/elsewhere")]).into_response();
    }
    status.into_response()
}

/// A state on `backend` in `dir` whose allow list is `allow`, with plain http to loopback.
fn state_with(backend: Backend, dir: &Path, allow: &[&str]) -> (AppState, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START));
    let mut config: Config = support::config_on(backend, dir);
    config.webhook_allow = allow.iter().map(|host| (*host).to_owned()).collect();
    config.webhook_allow_http_loopback = true;
    let state = AppState::open_with_clock(config, clock.clone()).unwrap();
    (state, clock)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A note created with a webhook.
struct Created {
    id: String,
    receipt: String,
    webhook_id: String,
    secret: Vec<u8>,
}

/// The create body of a note (with a passphrase: argon2id parameters) with `webhook`.
fn create_body(with_passphrase: bool, ttl: u64, webhook: &str) -> Value {
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
    let mut json = json!({
        "note": {
            "ek": b64(&stored.ek),
            "ct_kem": b64(&stored.ct_kem),
            "nonce": b64(&stored.nonce),
            "key_check": b64(&stored.key_check),
            "ciphertext": b64(&stored.ciphertext),
        },
        "claim_hash": b64(&Sha256::digest([7u8; 32])),
        "ttl_secs": ttl,
        "webhook": webhook,
    });
    if let Some(params) = &stored.passphrase {
        json["note"]["argon2id"] = json!({
            "salt": b64(&params.salt),
            "m_cost_kib": params.m_cost_kib,
            "t_cost": params.t_cost,
            "p_cost": params.p_cost,
        });
        json["passphrase_hash"] = json!(b64(&Sha256::digest([8u8; 32])));
    }
    json
}

async fn create(app: &Router, with_passphrase: bool, ttl: u64, webhook: &str) -> Created {
    let answer = post_json(
        app,
        "/api/e2e/notes",
        &create_body(with_passphrase, ttl, webhook),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    let text = |field: &str| answer.body[field].as_str().unwrap().to_owned();
    let secret = URL_SAFE_NO_PAD.decode(text("webhook_secret")).unwrap();
    assert_eq!(secret.len(), paravoid::WEBHOOK_SECRET_LEN);
    let created = Created {
        id: text("id"),
        receipt: text("receipt_token"),
        webhook_id: text("webhook_id"),
        secret,
    };
    assert_eq!(
        URL_SAFE_NO_PAD.decode(&created.webhook_id).unwrap().len(),
        16
    );
    assert_ne!(created.webhook_id, created.receipt);
    created
}

async fn claim(app: &Router, created: &Created, passphrase: Option<[u8; 32]>) -> StatusCode {
    let mut body = json!({ "claim_token": b64(&[7u8; 32]) });
    if let Some(token) = passphrase {
        body["passphrase_token"] = json!(b64(&token));
    }
    post_json(app, &format!("/api/e2e/notes/{}/claim", created.id), &body)
        .await
        .status
}

/// Whether `header` is a valid `Paravoid-Signature` of `body` under `secret`.
fn verifies(header: &str, secret: &[u8], body: &[u8]) -> bool {
    let Some((t, v1)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let Ok(tag) = hex::decode(v1) else {
        return false;
    };
    mac.verify_slice(&tag).is_ok()
}

/// Checks one call: signed with `created`'s secret (and not with another), the headers, and a
/// body of exactly the three fields, naming neither the note nor the receipt.
fn check_call(call: &Call, created: &Created, status: &str, at: u64) {
    assert_eq!(call.path, "/hook?n=1");
    let header = call.headers["paravoid-signature"].to_str().unwrap();
    assert!(verifies(header, &created.secret, &call.body), "{header}");
    assert!(!verifies(header, &[0u8; 32], &call.body));
    let mut tampered = call.body.clone();
    tampered[2] ^= 1;
    assert!(!verifies(header, &created.secret, &tampered));
    assert_eq!(call.headers["content-type"], "application/json");
    assert!(
        call.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("paravoid-webhook/")
    );
    let text = String::from_utf8(call.body.clone()).unwrap();
    assert!(!text.contains(MESSAGE), "{text}");
    assert!(!text.contains(&created.id), "{text}");
    assert!(!text.contains(&created.receipt), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let mut fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["at", "status", "token"], "{text}");
    assert_eq!(body["token"], created.webhook_id.as_str());
    assert_eq!(body["status"], status);
    assert_eq!(body["at"], at - at % 60);
}

async fn each_ending_is_delivered_once_signed(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = Receiver::start(&[]).await;
    let (state, clock) = state_with(backend, dir.path(), &["127.0.0.1"]);
    let api = app(state.clone());
    let server = TestServer::start(state.clone()).await;
    let hook = format!("http://127.0.0.1:{port}/hook?n=1");

    let revealed = create(&api, false, 3600, &hook).await;
    let destroyed = create(&api, true, 3600, &hook).await;
    let expired = create(&api, false, 600, &hook).await;
    // Nothing is sent while the notes live.
    state.sweep_expired().await.unwrap();
    receiver.wait_for(0).await;

    clock.advance(100);
    assert_eq!(claim(&api, &revealed, None).await, StatusCode::OK);
    let calls = receiver.wait_for(1).await;
    check_call(&calls[0], &revealed, "revealed", START + 100);
    assert_eq!(
        state.danger_webhook_state(&revealed.receipt).await.unwrap(),
        Some(("delivered", 1))
    );

    for _ in 0..MAX_PASSPHRASE_ATTEMPTS {
        assert_eq!(
            claim(&api, &destroyed, Some([0xee; 32])).await,
            StatusCode::FORBIDDEN
        );
    }
    let calls = receiver.wait_for(2).await;
    check_call(&calls[1], &destroyed, "destroyed", START + 100);

    clock.advance(600);
    state.sweep_expired().await.unwrap();
    let calls = receiver.wait_for(3).await;
    check_call(&calls[2], &expired, "expired", START + 600);

    // Later sweeps and claims send nothing more.
    clock.advance(3600);
    state.sweep_expired().await.unwrap();
    assert_eq!(claim(&api, &revealed, None).await, StatusCode::NOT_FOUND);
    receiver.wait_for(3).await;
    drop((api, state));
    server.stop().await;
}

async fn an_error_status_and_a_redirect_are_retried_with_backoff(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = Receiver::start(&[500, 302]).await;
    let (state, clock) = state_with(backend, dir.path(), &["127.0.0.1"]);
    let api = app(state.clone());
    let server = TestServer::start(state.clone()).await;
    let created = create(
        &api,
        false,
        3600,
        &format!("http://127.0.0.1:{port}/hook?n=1"),
    )
    .await;
    assert_eq!(claim(&api, &created, None).await, StatusCode::OK);
    receiver.wait_for(1).await;
    assert_eq!(
        state.danger_webhook_state(&created.receipt).await.unwrap(),
        Some(("active", 1))
    );
    // Not before the first backoff (30 s).
    clock.advance(29);
    state.sweep_expired().await.unwrap();
    receiver.wait_for(1).await;
    clock.advance(2);
    state.sweep_expired().await.unwrap();
    // The second answer is a redirect: not followed, counted as a failure.
    let calls = receiver.wait_for(2).await;
    assert!(
        calls.iter().all(|call| call.path == "/hook?n=1"),
        "{calls:?}"
    );
    clock.advance(119);
    state.sweep_expired().await.unwrap();
    receiver.wait_for(2).await;
    clock.advance(2);
    state.sweep_expired().await.unwrap();
    let calls = receiver.wait_for(3).await;
    for call in &calls {
        check_call(call, &created, "revealed", START);
    }
    // The same body each time: the receiver deduplicates by token.
    assert_eq!(calls[0].body, calls[2].body);
    assert_eq!(
        state.danger_webhook_state(&created.receipt).await.unwrap(),
        Some(("delivered", 3))
    );
    drop((api, state));
    server.stop().await;
}

async fn an_unlisted_host_at_a_loopback_address_is_refused_then_abandoned(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = Receiver::start(&[]).await;
    // `localhost` is admitted only by the dotted entry: public addresses only.
    let (state, clock) = state_with(backend, dir.path(), &[".localhost"]);
    let api = app(state.clone());
    let server = TestServer::start(state.clone()).await;
    let created = create(
        &api,
        false,
        3600,
        &format!("http://localhost:{port}/hook?n=1"),
    )
    .await;
    assert_eq!(claim(&api, &created, None).await, StatusCode::OK);
    for attempt in 1..=6u8 {
        let mut seen = None;
        for _ in 0..200 {
            seen = state.danger_webhook_state(&created.receipt).await.unwrap();
            if seen.is_some_and(|(_, attempts)| attempts >= attempt) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, attempts) = seen.unwrap();
        assert_eq!(attempts, attempt);
        clock.advance(7200);
        state.sweep_expired().await.unwrap();
    }
    let mut last = None;
    for _ in 0..200 {
        last = state.danger_webhook_state(&created.receipt).await.unwrap();
        if last == Some(("failed", 6)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, Some(("failed", 6)));
    receiver.wait_for(0).await;
    drop((api, state));
    server.stop().await;
}

async fn creation_refuses_what_the_allow_list_does_not_admit(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(backend, dir.path(), &["hooks.example.com"]);
    let api = app(state.clone());
    for (url, message) in [
        (
            "https://evil.example.com/",
            "webhook host is not allowed on this server",
        ),
        ("http://hooks.example.com/", "webhook must be an https URL"),
        (
            "https://u:p@hooks.example.com/",
            "webhook must not carry a user name or password",
        ),
        ("hooks.example.com", "webhook must be an absolute https URL"),
    ] {
        let answer = post_json(&api, "/api/e2e/notes", &create_body(false, 60, url)).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert_eq!(answer.body["error"], message, "{url}");
    }
    assert_eq!(state.stored_notes().unwrap(), 0);
    drop((api, state));

    let other = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, other.path());
    let answer = post_json(
        &app(state.clone()),
        "/api/e2e/notes",
        &create_body(false, 60, "https://hooks.example.com/"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answer.body["error"],
        "webhooks are not enabled on this server"
    );
    assert_eq!(state.stored_notes().unwrap(), 0);
}

async fn a_due_delivery_survives_a_restart_and_is_sent_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = Receiver::start(&[]).await;
    let created = {
        // No server, so no worker: the delivery stays due in the store.
        let (state, _clock) = state_with(backend, dir.path(), &["127.0.0.1"]);
        let api = app(state.clone());
        let created = create(
            &api,
            false,
            3600,
            &format!("http://127.0.0.1:{port}/hook?n=1"),
        )
        .await;
        assert_eq!(claim(&api, &created, None).await, StatusCode::OK);
        assert_eq!(
            state.danger_webhook_state(&created.receipt).await.unwrap(),
            Some(("active", 0))
        );
        created
    };
    let (state, _clock) = state_with(backend, dir.path(), &["127.0.0.1"]);
    let server = TestServer::start(state.clone()).await;
    let calls = receiver.wait_for(1).await;
    check_call(&calls[0], &created, "revealed", START);
    state.sweep_expired().await.unwrap();
    receiver.wait_for(1).await;
    drop(state);
    server.stop().await;
}

crate::on_both_stores!(
    each_ending_is_delivered_once_signed,
    an_error_status_and_a_redirect_are_retried_with_backoff,
    an_unlisted_host_at_a_loopback_address_is_refused_then_abandoned,
    creation_refuses_what_the_allow_list_does_not_admit,
    a_due_delivery_survives_a_restart_and_is_sent_once,
);

/// The README's shell check of a call (between its `webhook-verify` markers).
fn readme_check() -> String {
    let readme = include_str!("../../README.md");
    let start = readme.find("<!-- webhook-verify:start -->").unwrap();
    let end = readme.find("<!-- webhook-verify:end -->").unwrap();
    let block = &readme[start..end];
    let body = &block[block.find("```sh\n").unwrap() + "```sh\n".len()..];
    body[..body.find("```").unwrap()].to_owned()
}

/// Runs the README's check on `body` with `secret` and `signature` in `dir`; its output.
fn run_readme_check(dir: &Path, secret: &str, signature: &str, body: &[u8]) -> String {
    std::fs::write(dir.join("body.json"), body).unwrap();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(readme_check())
        .current_dir(dir)
        .env("SECRET", secret)
        .env("SIGNATURE", signature)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn the_readme_check_accepts_a_real_call_and_refuses_a_forged_one() {
    if !qsmm_test_support::external::programs(
        &["sh", "openssl", "base64", "od"],
        "apt install openssl coreutils",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = Receiver::start(&[]).await;
    let (state, _clock) = state_with(Backend::Redb, dir.path(), &["127.0.0.1"]);
    let api = app(state.clone());
    let server = TestServer::start(state.clone()).await;
    let created = create(
        &api,
        false,
        3600,
        &format!("http://127.0.0.1:{port}/hook?n=1"),
    )
    .await;
    assert_eq!(claim(&api, &created, None).await, StatusCode::OK);
    let call = receiver.wait_for(1).await.remove(0);
    let signature = call.headers["paravoid-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let secret = b64(&created.secret);
    assert_eq!(
        run_readme_check(dir.path(), &secret, &signature, &call.body),
        "valid"
    );
    let mut forged = call.body.clone();
    forged[2] ^= 1;
    assert_eq!(
        run_readme_check(dir.path(), &secret, &signature, &forged),
        "forged"
    );
    let other = b64(&[1u8; 32]);
    assert_eq!(
        run_readme_check(dir.path(), &other, &signature, &call.body),
        "forged"
    );
    drop((api, state));
    server.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_postgres_database_deliver_once() {
    if !support::postgres_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (receiver, port) = Receiver::start(&[]).await;
    *receiver.delay.lock().unwrap() = Duration::from_millis(400);
    let (first, _clock) = state_with(Backend::Postgres, dir.path(), &["127.0.0.1"]);
    let (second, _other_clock) = state_with(Backend::Postgres, dir.path(), &["127.0.0.1"]);
    let servers = [
        TestServer::start(first.clone()).await,
        TestServer::start(second.clone()).await,
    ];
    let api = app(first.clone());
    let hook = format!("http://127.0.0.1:{port}/hook?n=1");
    let mut created = Vec::new();
    for _ in 0..4 {
        created.push(create(&api, false, 3600, &hook).await);
    }
    for note in &created {
        assert_eq!(claim(&api, note, None).await, StatusCode::OK);
        // The other instance's worker looks while the first one's call is under way: the
        // lease keeps it from claiming the same delivery.
        tokio::time::sleep(Duration::from_millis(100)).await;
        second.sweep_expired().await.unwrap();
    }
    let calls = receiver.wait_for(4).await;
    for note in &created {
        let matching: Vec<&Call> = calls
            .iter()
            .filter(|call| {
                serde_json::from_slice::<Value>(&call.body).unwrap()["token"]
                    == note.webhook_id.as_str()
            })
            .collect();
        assert_eq!(matching.len(), 1);
        check_call(matching[0], note, "revealed", START);
    }
    first.sweep_expired().await.unwrap();
    second.sweep_expired().await.unwrap();
    receiver.wait_for(4).await;
    drop((api, first, second));
    for server in servers {
        server.stop().await;
    }
}
