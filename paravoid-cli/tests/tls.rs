//! The client over HTTPS: a paravoid server with a certificate made in the test, trusted
//! through `SSL_CERT_FILE`; a round trip works, and a server whose certificate is not trusted
//! gets nothing (exit code 6, no note stored).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

#[path = "support/harness.rs"]
mod harness;

use paravoid::{AppState, Config};

use crate::harness::run_with_env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_travel_over_https_to_a_trusted_server_only() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let untrusted = dir.path().join("other.pem");
    std::fs::write(&untrusted, stranger.cert.pem()).unwrap();

    let mut config = Config::with_db(dir.path().join("notes.redb"));
    config.tls_cert = Some(cert.clone());
    config.tls_key = Some(key.clone());
    let state = AppState::open(config).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (served_cert, served_key) = (cert.clone(), key.clone());
    let server = tokio::spawn(async move {
        paravoid::serve_tls(listener, state, &served_cert, &served_key, async move {
            let _ignored = stopped.await;
        })
        .await
    });
    let base = format!("https://localhost:{port}");

    let refused = run_with_env(
        &["send", "--server", &base],
        b"not for strangers",
        &[("SSL_CERT_FILE", &untrusted)],
    )
    .await;
    refused.assert_failed(6, "cannot reach the server");
    assert!(
        refused.stderr.to_lowercase().contains("certificate"),
        "{refused:?}"
    );

    let trust = [("SSL_CERT_FILE", cert.as_path())];
    let sent = run_with_env(&["send", "--server", &base], b"over TLS", &trust).await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let link = sent.line();
    assert!(link.starts_with(&format!("{base}/s/")), "{link}");
    assert!(
        !sent.stderr.contains("warning"),
        "no plain-HTTP warning: {sent:?}"
    );
    let opened = run_with_env(&["open", &link], b"", &trust).await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert_eq!(opened.stdout, b"over TLS");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
