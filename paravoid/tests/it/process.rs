//! The built `paravoid` binary as a child process: durability under SIGKILL during a create load,
//! and what reaches the disk and the log (no plaintext, keys or passphrases).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qsmm_test_support::server_process::ServerProcess;
use serde_json::{Value, json};

/// Starts the binary on `db` with a free port and waits for its "listening on" line; its log
/// lines are collected.
fn start(db: &Path) -> ServerProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paravoid"));
    command
        .args(["--bind", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("RUST_LOG", "debug");
    ServerProcess::start(command, Duration::from_secs(30))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One note whose create was answered.
#[derive(Clone, Debug)]
struct Created {
    message: String,
    passphrase: Option<String>,
    answer: Value,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answered_create_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.redb");
    let mut server = start(&db);
    let answered = Arc::new(Mutex::new(Vec::<Created>::new()));

    // Eight clients create notes as fast as they can until the server dies under them.
    let mut workers = Vec::new();
    for worker in 0..8 {
        let (url, answered) = (server.url("/api/secrets"), answered.clone());
        workers.push(tokio::spawn(async move {
            let http = client();
            for i in 0.. {
                let message = format!("load note {worker}/{i}");
                let Ok(response) = http
                    .post(&url)
                    .json(&json!({ "message": message }))
                    .send()
                    .await
                else {
                    return;
                };
                if response.status() != reqwest::StatusCode::CREATED {
                    return;
                }
                let Ok(answer) = response.json::<Value>().await else {
                    return;
                };
                answered.lock().unwrap().push(Created {
                    message,
                    passphrase: None,
                    answer,
                });
            }
        }));
    }
    // Kill in the middle of the load, once a good number of creates were answered.
    for _ in 0..600 {
        if answered.lock().unwrap().len() >= 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    for worker in workers {
        worker.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= 20,
        "only {} creates answered",
        answered.len()
    );

    // Restart on the same file: every answered note reveals, with either key form.
    let mut server = start(&db);
    let http = client();
    for (n, note) in answered.iter().enumerate() {
        let body = if n % 2 == 0 {
            json!({ "dk": note.answer["dk"], "classical_secret": note.answer["classical_secret"] })
        } else {
            json!({ "compact": note.answer["compact"] })
        };
        let link = note.answer["link"].as_str().unwrap();
        let response = http
            .post(server.url(link))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "note {n} of {}",
            answered.len()
        );
        let revealed: Value = response.json().await.unwrap();
        assert_eq!(revealed["message"], json!(note.message));
    }
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_disk_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.redb");
    let mut server = start(&db);
    let http = client();
    let mut notes = Vec::new();
    for i in 0..12 {
        let message = format!(
            "PLAINTEXT-{i:02}-{}-the-vault-code-is-8271",
            uuid::Uuid::new_v4()
        );
        let passphrase =
            (i % 3 == 0).then(|| format!("PASSPHRASE-{i:02}-{}", uuid::Uuid::new_v4()));
        let mut body = json!({ "message": message });
        if let Some(passphrase) = &passphrase {
            body["passphrase"] = json!(passphrase);
        }
        let response = http
            .post(server.url("/api/secrets"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let answer: Value = response.json().await.unwrap();
        notes.push(Created {
            message,
            passphrase,
            answer,
        });
    }
    // Reveal half of them (with a wrong passphrase first where there is one), keep the rest.
    for note in notes.iter().step_by(2) {
        let link = note.answer["link"].as_str().unwrap();
        let mut body =
            json!({ "dk": note.answer["dk"], "classical_secret": note.answer["classical_secret"] });
        if let Some(passphrase) = &note.passphrase {
            body["passphrase"] = json!(format!("{passphrase}-wrong"));
            let response = http
                .post(server.url(link))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
            body["passphrase"] = json!(passphrase);
        }
        let response = http
            .post(server.url(link))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }
    let log = server.kill().join("\n");
    assert!(log.contains("listening on"), "the log was captured");
    assert!(log.contains("/api/secrets"), "requests are logged: {log}");
    let disk = std::fs::read(&db).unwrap();
    assert!(disk.len() > 4096);

    for (n, note) in notes.iter().enumerate() {
        // Who read which note when is metadata worth keeping out of the log: no note ids.
        let id = note.answer["id"].as_str().unwrap();
        assert!(!log.contains(id), "note {n}: the log holds its id");
        let forbidden = secrets_of(note);
        for (what, needle) in &forbidden {
            assert!(
                !contains(&disk, needle),
                "note {n}: the database holds its {what}"
            );
            assert!(
                !contains(log.as_bytes(), needle),
                "note {n}: the log holds its {what}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.redb");
    let mut server = start(&db);
    let http = client();
    let response = http
        .post(server.url("/api/secrets"))
        .json(&json!({ "message": "kept" }))
        .send()
        .await
        .unwrap();
    let created: Value = response.json().await.unwrap();

    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.wait(Duration::from_secs(10));
    assert!(exit.success(), "{exit:?}");
    // The reader threads see the pipes close after the exit; give them a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log().join("\n");
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("paravoid stopped"), "{log}");

    let mut server = start(&db);
    let response = http
        .post(server.url(created["link"].as_str().unwrap()))
        .json(&json!({ "compact": created["compact"] }))
        .send()
        .await
        .unwrap();
    let revealed: Value = response.json().await.unwrap();
    assert_eq!(revealed["message"], json!("kept"));
    server.kill();
}

/// Every byte string of `note` that must stay off the disk and out of the log, with a name.
fn secrets_of(note: &Created) -> Vec<(String, Vec<u8>)> {
    let answer = &note.answer;
    let dk_hex = answer["dk"].as_str().unwrap();
    let dk = hex::decode(dk_hex).unwrap();
    let classical_hex = answer["classical_secret"].as_str().unwrap();
    let compact = answer["compact"].as_str().unwrap();
    let raw = URL_SAFE_NO_PAD.decode(compact).unwrap();
    let seed = &raw[..64];
    let mut out = vec![
        ("message".to_owned(), note.message.as_bytes().to_vec()),
        (
            "message prefix".to_owned(),
            note.message.as_bytes()[..16].to_vec(),
        ),
        (
            "classical secret".to_owned(),
            hex::decode(classical_hex).unwrap(),
        ),
        (
            "classical secret hex".to_owned(),
            classical_hex.as_bytes().to_vec(),
        ),
        (
            "classical secret HEX".to_owned(),
            classical_hex.to_uppercase().into_bytes(),
        ),
        ("compact keys".to_owned(), compact.as_bytes()[..32].to_vec()),
        ("seed".to_owned(), seed.to_vec()),
        ("seed d".to_owned(), seed[..32].to_vec()),
        ("seed z".to_owned(), seed[32..].to_vec()),
        ("seed hex".to_owned(), hex::encode(seed).into_bytes()),
    ];
    // The expanded key is dk_PKE (1152) ‖ ek (1184) ‖ H(ek) (32) ‖ z (32). The embedded ek is
    // public and stored by design; every other part is secret.
    for start in (0..1152).step_by(96).chain([2336, 2368]) {
        let window = &dk[start..start + 32];
        out.push((format!("dk bytes at {start}"), window.to_vec()));
        out.push((
            format!("dk hex at {start}"),
            hex::encode(window).into_bytes(),
        ));
        out.push((
            format!("dk HEX at {start}"),
            hex::encode_upper(window).into_bytes(),
        ));
    }
    if let Some(passphrase) = &note.passphrase {
        out.push(("passphrase".to_owned(), passphrase.as_bytes().to_vec()));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
