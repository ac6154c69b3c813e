//! `paravoid-cli status` against a real paravoid server: a note created with a read receipt
//! reads `pending`, then `revealed` once claimed, with the minute of the change; a wrong token
//! is exit code 3 and a malformed one exit code 2, before any request; `send --receipt` prints
//! the token on a second line, `send --webhook` the webhook's id and secret on a third.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

#[path = "support/harness.rs"]
mod harness;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qsmm_shield::note;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::harness::{START, Server, client, run};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_a_receipt_from_pending_to_revealed() {
    let server = Server::start().await;
    let http = client();
    let (stored, _keys) = note::seal_note(b"never in a receipt").unwrap();
    let claim = [5u8; 32];
    let created: Value = http
        .post(format!("{}/api/e2e/notes", server.base))
        .json(&json!({
            "note": {
                "ek": b64(&stored.ek),
                "ct_kem": b64(&stored.ct_kem),
                "nonce": b64(&stored.nonce),
                "key_check": b64(&stored.key_check),
                "ciphertext": b64(&stored.ciphertext),
            },
            "claim_hash": b64(&Sha256::digest(claim)),
            "receipt": true,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["receipt_token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();

    let pending = run(&["status", "--server", &server.base, &token], b"").await;
    assert_eq!(pending.code, 0, "{pending:?}");
    assert_eq!(pending.line(), "pending 2027-01-15 08:00:00 UTC");

    server.clock.advance(150);
    let claimed = http
        .post(format!("{}/api/e2e/notes/{id}/claim", server.base))
        .json(&json!({ "claim_token": b64(&claim) }))
        .send()
        .await
        .unwrap();
    assert_eq!(claimed.status(), 200);
    let revealed = run(&["status", "--server", &server.base, &token], b"").await;
    assert_eq!(revealed.code, 0, "{revealed:?}");
    assert_eq!(
        revealed.line(),
        "revealed 2027-01-15 08:02:00 UTC",
        "the minute of the claim ({})",
        START + 150
    );

    let wrong = b64(&[9u8; 32]);
    run(&["status", "--server", &server.base, &wrong], b"")
        .await
        .assert_failed(3, "no receipt answers to this status token");
    let requests = server.received.lock().unwrap().len();
    run(&["status", "--server", &server.base, "not-a-token"], b"")
        .await
        .assert_failed(2, "43 base64url characters");
    assert_eq!(
        server.received.lock().unwrap().len(),
        requests,
        "refused before any request"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_a_receipt_prints_the_token_that_follows_the_note() {
    let server = Server::start().await;
    let sent = run(
        &["send", "--server", &server.base, "--receipt"],
        b"read me once",
    )
    .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let lines = sent.line();
    let (link, token) = lines.split_once('\n').expect("the link, then the token");
    assert!(link.contains("/s/"), "{link}");
    assert_eq!(token.len(), 43, "{token}");
    assert!(sent.stderr.contains("paravoid-cli status"), "{sent:?}");
    assert!(
        !link.contains(token) && !sent.stderr.contains(token),
        "the token is printed once"
    );

    let pending = run(&["status", "--server", &server.base, token], b"").await;
    assert_eq!(pending.code, 0, "{pending:?}");
    assert!(pending.line().starts_with("pending "), "{pending:?}");

    let opened = run(&["open", link], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert_eq!(opened.stdout, b"read me once");
    let revealed = run(&["status", "--server", &server.base, token], b"").await;
    assert_eq!(revealed.code, 0, "{revealed:?}");
    assert!(revealed.line().starts_with("revealed "), "{revealed:?}");

    // Without --receipt: the link alone.
    let plain = run(&["send", "--server", &server.base], b"no receipt").await;
    assert_eq!(plain.code, 0, "{plain:?}");
    assert!(!plain.line().contains('\n'), "{plain:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_a_webhook_prints_its_id_and_secret_on_a_third_line() {
    let server = Server::start_with(|config| {
        config.webhook_allow = vec!["127.0.0.1".to_owned()];
        config.webhook_allow_http_loopback = true;
    })
    .await;
    let hook = "http://127.0.0.1:9/hook";
    // --webhook implies --receipt.
    let sent = run(
        &["send", "--server", &server.base, "--webhook", hook],
        b"hooked",
    )
    .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let lines = sent.line();
    let lines: Vec<&str> = lines.split('\n').collect();
    assert_eq!(lines.len(), 3, "{sent:?}");
    assert!(lines[0].contains("/s/"), "{sent:?}");
    assert_eq!(lines[1].len(), 43, "{sent:?}");
    let (id, secret) = lines[2].split_once(' ').expect("the id, then the secret");
    assert_eq!(URL_SAFE_NO_PAD.decode(id).unwrap().len(), 16, "{id}");
    assert_eq!(
        URL_SAFE_NO_PAD.decode(secret).unwrap().len(),
        32,
        "{secret}"
    );
    assert!(sent.stderr.contains("signing secret"), "{sent:?}");
    assert!(!sent.stderr.contains(secret), "the secret is printed once");
    let created = server
        .received
        .lock()
        .unwrap()
        .iter()
        .find(|(line, _)| line == "POST /api/e2e/notes")
        .map(|(_, body)| serde_json::from_slice::<Value>(body).unwrap())
        .unwrap();
    assert_eq!(created["webhook"], hook);
    assert_eq!(created["receipt"], true);

    // A host the server does not allow: its refusal, in one sentence, and no link.
    let refused = run(
        &[
            "send",
            "--server",
            &server.base,
            "--webhook",
            "https://elsewhere.example/",
        ],
        b"hooked",
    )
    .await;
    refused.assert_failed(6, "webhook host is not allowed on this server");
    assert!(refused.stdout.is_empty(), "{refused:?}");
    server.stop().await;

    let plain = Server::start().await;
    let off = run(
        &["send", "--server", &plain.base, "--webhook", hook],
        b"hooked",
    )
    .await;
    off.assert_failed(6, "webhooks are not enabled on this server");
    plain.stop().await;
}
