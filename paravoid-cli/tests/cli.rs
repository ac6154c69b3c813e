//! The `paravoid-cli` binary against a real paravoid server: round trips, exactly-once,
//! passphrases, damaged links, exit codes, a lying server, and a scan of every request for the
//! message, the passphrase and the keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

#[path = "support/harness.rs"]
mod harness;

use axum::Json;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::{START, Server, client, passphrase_file, run, send, split_link};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_note_opens_once_byte_for_byte() {
    let server = Server::start().await;
    // Not text: every byte value, a NUL and no final line break.
    let message: Vec<u8> = (0..=255u8).chain([0, b'\n', 0xff]).collect();
    let sent = run(&["send", "--server", &server.base], &message).await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let link = sent.line();
    let (id, keys) = split_link(&server.base, &link);
    assert!(
        sent.stderr
            .contains("The link opens once, until 2027-01-16 08:00:00 UTC"),
        "the server's default of one day: {}",
        sent.stderr
    );
    assert!(server.exists(id).await);

    let opened = run(&["open", &link], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert_eq!(opened.stdout, message);
    assert!(!server.exists(id).await, "claimed means deleted");

    let again = run(&["open", &link], b"").await;
    again.assert_failed(3, "has already been read");

    server.assert_no_secret_received(&[
        &message,
        keys.as_bytes(),
        &URL_SAFE_NO_PAD.decode(keys).unwrap(),
    ]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passphrase_guards_the_note_and_wrong_ones_count() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let right = passphrase_file(dir.path(), "right", "correct horse battery staple");
    let wrong = passphrase_file(dir.path(), "wrong", "wrong horse");
    let message = b"the safe is behind the painting\n";
    let link = send(
        &server.base,
        message,
        &["--passphrase-file", &right, "--ttl", "30m"],
    )
    .await;
    let (id, keys) = split_link(&server.base, &link);
    let peek: Value = client()
        .get(format!("{}/api/e2e/notes/{id}", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(peek["passphrase_required"], true);
    assert_eq!(peek["expires_at"], START + 1800, "--ttl 30m");
    assert_eq!(peek["argon2id"]["m_cost_kib"], 19456, "the default costs");

    let refused = run(&["open", &link, "--passphrase-file", &wrong], b"").await;
    refused.assert_failed(4, "wrong passphrase (4 tries left)");
    assert!(server.exists(id).await, "a wrong passphrase keeps the note");

    // Without a terminal and without a file, the passphrase cannot be asked for.
    let silent = tokio::process::Command::new(env!("CARGO_BIN_EXE_paravoid-cli"))
        .args(["open", &link])
        .stdin(std::process::Stdio::null())
        .output();
    // `setsid` would be needed to be sure no terminal is reachable: only check when none is.
    if std::fs::File::open("/dev/tty").is_err() {
        let out = silent.await.unwrap();
        assert_eq!(out.status.code(), Some(4));
        assert!(String::from_utf8_lossy(&out.stderr).contains("needs a passphrase"));
    } else {
        drop(silent);
    }

    let out_dir = dir.path().join("out");
    let opened = run(
        &[
            "open",
            &link,
            "--passphrase-file",
            &right,
            "-o",
            out_dir.to_str().unwrap(),
        ],
        b"",
    )
    .await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert!(opened.stdout.is_empty());
    assert_eq!(std::fs::read(out_dir.join("message.txt")).unwrap(), message);
    assert!(!server.exists(id).await);

    server.assert_no_secret_received(&[
        &message[..],
        b"correct horse battery staple",
        b"wrong horse",
        keys.as_bytes(),
    ]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_or_foreign_links_are_refused_and_burn_nothing() {
    let server = Server::start().await;
    let link = send(&server.base, b"still here", &[]).await;
    let other = send(&server.base, b"another note", &[]).await;
    let (id, keys) = split_link(&server.base, &link);
    let (_, other_keys) = split_link(&server.base, &other);

    let cases = [
        (
            link[..link.len() - 1].to_owned(),
            5,
            "damaged or incomplete",
        ),
        (link.replace("#e2e.", "#"), 5, "not end to end"),
        (
            link.split('#').next().unwrap().to_owned(),
            5,
            "keys) is missing",
        ),
        (link.replace(id, "not-an-id"), 5, "note id"),
        // Another note's keys: well-formed, so only the server can tell.
        (
            link.replace(keys, other_keys),
            5,
            "refuses this link's keys",
        ),
        (
            link.replace(id, "00000000-0000-4000-8000-000000000000"),
            3,
            "does not exist",
        ),
    ];
    for (bad, code, phrase) in &cases {
        run(&["open", bad], b"").await.assert_failed(*code, phrase);
    }
    assert!(server.exists(id).await, "no bad link burned the note");
    let opened = run(&["open", &link], b"").await;
    assert_eq!(opened.stdout, b"still here");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_servers_get_their_exit_codes() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let base = server.base.as_str();
    let cases: Vec<(Vec<&str>, &[u8], i32, &str)> = vec![
        (
            vec!["send", "--server", base],
            b"",
            2,
            "the message is empty",
        ),
        (
            vec!["send", "--server", "notes.example"],
            b"x",
            2,
            "--server must be a URL",
        ),
        (
            vec!["send", "--server", base, "--ttl", "1w"],
            b"x",
            2,
            "--ttl \"1w\"",
        ),
        (
            vec![
                "send",
                "--server",
                base,
                "--passphrase-file",
                empty.to_str().unwrap(),
            ],
            b"x",
            2,
            "the passphrase is empty",
        ),
        (
            vec![
                "send",
                "--server",
                base,
                "--passphrase-file",
                "/nonexistent/pw",
            ],
            b"x",
            7,
            "cannot read the passphrase file",
        ),
        // Over the server's limits: the server's own words.
        (
            vec!["send", "--server", base, "--ttl", "400d"],
            b"x",
            6,
            "HTTP 422",
        ),
        (
            vec!["send", "--server", "http://127.0.0.1:9"],
            b"x",
            6,
            "cannot reach the server",
        ),
    ];
    for (args, stdin, code, phrase) in cases {
        run(&args, stdin).await.assert_failed(code, phrase);
    }
    let large = vec![b'x'; 65_537];
    run(&["send", "--server", base], &large)
        .await
        .assert_failed(6, "HTTP 413");
    let huge = vec![b'x'; (1 << 20) + 1];
    run(&["send", "--server", base], &huge)
        .await
        .assert_failed(2, "larger than 1048576 bytes");
    // Usage errors are clap's, with its exit code 2.
    assert_eq!(run(&["send"], b"").await.code, 2);
    assert_eq!(run(&["open"], b"").await.code, 2);
    server.stop().await;
}

/// Claims a note through the API with its link's keys and returns the claim answer.
async fn claim_directly(base: &str, link: &str) -> Value {
    let (id, keys) = split_link(base, link);
    let keys = qsmm_shield::note::RecipientKeys::from_compact(keys).unwrap();
    let tokens = paravoid_cli::tokens::Tokens::new(&keys, None);
    let token = paravoid_cli::tokens::Tokens::encode(&tokens.claim);
    let answer = client()
        .post(format!("{base}/api/e2e/notes/{id}/claim"))
        .json(&json!({ "claim_token": token.as_str() }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// A server that hands out another note than the link's, or the link's note with one bit of
/// its ciphertext changed, or a passphrase note after a peek without one: the client says so
/// (exit code 8) and prints nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_that_does_not_open_with_the_link_is_reported() {
    let honest = Server::start().await;
    let link = send(&honest.base, b"the real note", &[]).await;
    let decoy = send(&honest.base, b"a decoy", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = passphrase_file(dir.path(), "pw", "pw");
    let guarded = send(&honest.base, b"guarded", &["--passphrase-file", &pw]).await;

    let real = claim_directly(&honest.base, &link).await;
    let decoy = claim_directly(&honest.base, &decoy).await;
    let mut altered = real.clone();
    let ciphertext = altered["note"]["ciphertext"].as_str().unwrap().to_owned();
    let mut bytes = URL_SAFE_NO_PAD.decode(&ciphertext).unwrap();
    bytes[0] ^= 1;
    altered["note"]["ciphertext"] = URL_SAFE_NO_PAD.encode(bytes).into();
    // The guarded note's claim answer, taken with its tokens as the page would.
    let (guarded_id, _) = split_link(&honest.base, &guarded);
    let guarded_sealed = {
        let (_, keys) = split_link(&honest.base, &guarded);
        let keys = qsmm_shield::note::RecipientKeys::from_compact(keys).unwrap();
        let answer: Value = client()
            .get(format!("{}/api/e2e/notes/{guarded_id}", honest.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let params = &answer["argon2id"];
        let params = qsmm_shield::note::PassphraseParams {
            salt: URL_SAFE_NO_PAD
                .decode(params["salt"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap(),
            m_cost_kib: 19456,
            t_cost: 2,
            p_cost: 1,
        };
        let pw = paravoid_cli::tokens::derive_passphrase(&params, b"pw").unwrap();
        let tokens = paravoid_cli::tokens::Tokens::new(&keys, Some(&pw));
        let claim = paravoid_cli::tokens::Tokens::encode(&tokens.claim);
        let passphrase = paravoid_cli::tokens::Tokens::encode(tokens.passphrase.as_ref().unwrap());
        client()
            .post(format!("{}/api/e2e/notes/{guarded_id}/claim", honest.base))
            .json(
                &json!({ "claim_token": claim.as_str(), "passphrase_token": passphrase.as_str() }),
            )
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };

    let cases = [
        (real, &link, 0),
        (decoy, &link, 8),
        (altered, &link, 8),
        (guarded_sealed, &guarded, 8),
    ];
    for (answer, target, code) in cases {
        let liar = axum::Router::new()
            .route(
                "/api/e2e/notes/{id}",
                get(|| async { Json(json!({ "exists": true, "passphrase_required": false })) }),
            )
            .route(
                "/api/e2e/notes/{id}/claim",
                post(move || async move { Json(answer) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, liar).await });
        let lied = target.replace(&honest.base, &base);
        let opened = run(&["open", &lied], b"").await;
        if code == 0 {
            // The unchanged note through the same lying routes opens: the failures below are
            // the changes, not the routes.
            assert_eq!(opened.stdout, b"the real note", "{opened:?}");
        } else {
            opened.assert_failed(code, "does not open with this link");
        }
        task.abort();
    }
    honest.stop().await;
}

/// Starts `router` on a free loopback port; returns its base URL and its task.
async fn serve_liar(
    router: axum::Router,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, router).await });
    (base, task)
}

/// Hostile answers before any note is handed out: a redirect is not followed, an endless
/// answer is cut off, hostile Argon2id costs are refused before any work, and answers that are
/// not the API's are named as such; the link's keys and the passphrase go nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_are_refused_without_following_them() {
    use axum::http::{StatusCode, header};
    use std::sync::{Arc, Mutex};

    // Where a redirect would lead: it must never be asked anything.
    let asked = Arc::new(Mutex::new(0_u32));
    let counter = asked.clone();
    let (elsewhere, elsewhere_task) = serve_liar(axum::Router::new().fallback(move || {
        *counter.lock().unwrap() += 1;
        async { StatusCode::OK }
    }))
    .await;

    let honest = Server::start().await;
    let link = send(&honest.base, b"hostile", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let pw = passphrase_file(dir.path(), "pw", "pw");

    let redirect = format!("{elsewhere}/api/e2e/notes");
    let huge = vec![b' '; 5 << 20];
    let hostile_costs = json!({
        "exists": true,
        "passphrase_required": true,
        "argon2id": { "salt": "AAAAAAAAAAAAAAAAAAAAAA", "m_cost_kib": 4_194_304, "t_cost": 1, "p_cost": 1 },
    });
    let cases: Vec<(axum::Router, i32, &str)> = vec![
        (
            axum::Router::new().fallback(move || {
                let redirect = redirect.clone();
                async move {
                    (
                        StatusCode::TEMPORARY_REDIRECT,
                        [(header::LOCATION, redirect)],
                    )
                }
            }),
            6,
            "HTTP 307",
        ),
        (
            axum::Router::new().fallback(move || {
                let huge = huge.clone();
                async move { huge }
            }),
            6,
            "too large",
        ),
        (
            axum::Router::new().fallback(|| async { "<html>a login page</html>" }),
            6,
            "not a paravoid answer",
        ),
        (
            axum::Router::new().fallback(move || {
                let answer = hostile_costs.clone();
                async move { Json(answer) }
            }),
            6,
            "Argon2id costs are out of bounds",
        ),
    ];
    for (router, code, phrase) in cases {
        let (base, task) = serve_liar(router).await;
        let lied = link.replace(&honest.base, &base);
        run(&["open", &lied, "--passphrase-file", &pw], b"")
            .await
            .assert_failed(code, phrase);
        let sent = run(&["send", "--server", &base], b"hostile").await;
        assert_eq!(sent.code, 6, "{sent:?}");
        task.abort();
    }
    assert_eq!(*asked.lock().unwrap(), 0, "no redirect was followed");
    elsewhere_task.abort();
    let (id, _) = split_link(&honest.base, &link);
    assert!(honest.exists(id).await);
    honest.stop().await;
}
