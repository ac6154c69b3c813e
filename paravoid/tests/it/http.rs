//! The API over real HTTP on 127.0.0.1: concurrency (exactly once), restarts, body limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use std::sync::Arc;

use crate::support::{TestServer, client, config_in, keys_body};
use paravoid::{AppState, MAX_PASSPHRASE_ATTEMPTS};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Barrier;

async fn create(server: &TestServer, body: Value) -> Value {
    let response = client()
        .post(server.url("/api/secrets"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// Fires `count` reveals with `body` at once; returns each status with its body.
async fn reveal_all_at_once(
    server: &TestServer,
    created: &Value,
    body: &Value,
    count: usize,
) -> Vec<(StatusCode, Value)> {
    let url = server.url(created["link"].as_str().unwrap());
    let barrier = Arc::new(Barrier::new(count));
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let (url, body, barrier) = (url.clone(), body.clone(), barrier.clone());
            // One client each: separate connections, so the requests really race.
            let client = client();
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.post(url).json(&body).send().await.unwrap();
                let status = response.status();
                (status, response.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_reveals_yield_exactly_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(config_in(dir.path())).unwrap();
    let server = TestServer::start(state.clone()).await;
    for round in 0..5 {
        let message = format!("round {round}");
        let created = create(&server, json!({ "message": message })).await;
        let body = if round % 2 == 0 {
            keys_body(&created)
        } else {
            json!({ "compact": created["compact"] })
        };
        let results = reveal_all_at_once(&server, &created, &body, 64).await;
        let winners: Vec<_> = results
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert_eq!(winners[0].1["message"], json!(message));
        for (status, body) in &results {
            if *status != StatusCode::OK {
                assert_eq!(*status, StatusCode::NOT_FOUND, "round {round}");
                assert_eq!(*body, json!({ "error": "not found" }));
            }
        }
    }
    assert_eq!(state.stored_notes().unwrap(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passphrases_are_counted_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(config_in(dir.path())).unwrap();
    let server = TestServer::start(state.clone()).await;
    let created = create(&server, json!({ "message": "m", "passphrase": "right" })).await;
    let wrong = json!({ "compact": created["compact"], "passphrase": "wrong" });
    let results = reveal_all_at_once(&server, &created, &wrong, 16).await;
    let mut left: Vec<u64> = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::FORBIDDEN)
        .map(|(_, body)| body["attempts_left"].as_u64().unwrap())
        .collect();
    left.sort_unstable();
    // Exactly MAX attempts were evaluated, each saw a distinct counter; the rest found no note.
    let expected: Vec<u64> = (0..u64::from(MAX_PASSPHRASE_ATTEMPTS)).collect();
    assert_eq!(left, expected, "{results:?}");
    let not_found = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::NOT_FOUND)
        .count();
    assert_eq!(not_found, 16 - usize::from(MAX_PASSPHRASE_ATTEMPTS));
    assert_eq!(state.stored_notes().unwrap(), 0);
    server.stop().await;
}

#[tokio::test]
async fn notes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let state = AppState::open(config.clone()).unwrap();
    let server = TestServer::start(state).await;
    let plain = create(&server, json!({ "message": "plain" })).await;
    let guarded = create(&server, json!({ "message": "guarded", "passphrase": "pw" })).await;
    let read = create(&server, json!({ "message": "read" })).await;
    let http = client();
    let wrong = json!({ "compact": guarded["compact"], "passphrase": "nope" });
    for _ in 0..2 {
        let response = http
            .post(server.url(guarded["link"].as_str().unwrap()))
            .json(&wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let response = http
        .post(server.url(read["link"].as_str().unwrap()))
        .json(&keys_body(&read))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;

    // Reopen the same file in a new state and server.
    let state = AppState::open(config).unwrap();
    assert_eq!(state.stored_notes().unwrap(), 2);
    let server = TestServer::start(state).await;
    let response = http
        .post(server.url(read["link"].as_str().unwrap()))
        .json(&keys_body(&read))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = http
        .post(server.url(guarded["link"].as_str().unwrap()))
        .json(&wrong)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["attempts_left"], json!(MAX_PASSPHRASE_ATTEMPTS - 3));
    let response = http
        .post(server.url(guarded["link"].as_str().unwrap()))
        .json(&json!({ "compact": guarded["compact"], "passphrase": "pw" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], json!("guarded"));
    let response = http
        .post(server.url(plain["link"].as_str().unwrap()))
        .json(&keys_body(&plain))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], json!("plain"));
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_json_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(config_in(dir.path())).unwrap();
    let limit = state.config().max_body_bytes();
    let server = TestServer::start(state).await;
    let http = client();
    // With Content-Length (rejected before the body is read) ...
    let response = http
        .post(server.url("/api/secrets"))
        .header("content-type", "application/json")
        .body(format!("\"{}\"", "a".repeat(limit)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "error": "request body too large" }));
    // ... and chunked, without one (rejected while reading).
    let answer = raw_chunked_post(&server, "/api/secrets", limit + 1).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("{\"error\":\"request body too large\"}"),
        "{answer}"
    );
    server.stop().await;
}

/// Sends a chunked `POST` of `len` spaces by hand and returns the raw answer.
async fn raw_chunked_post(server: &TestServer, path: &str, len: usize) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{len:x}\r\n{}\r\n0\r\n\r\n", " ".repeat(len));
    // The server may answer and close before it has read everything; that is fine.
    let _ignored = stream.write_all(chunk.as_bytes()).await;
    let mut answer = Vec::new();
    let _ignored = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}
