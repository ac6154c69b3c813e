//! HTTPS with rustls: a self-signed certificate made in the test, a client that trusts only it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use std::sync::Arc;

use paravoid::{AppState, Config};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Sends `request` over TLS to `addr`, trusting only `cert`; returns the raw answer.
async fn https(addr: std::net::SocketAddr, cert: CertificateDer<'static>, request: &str) -> String {
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await.unwrap();
    String::from_utf8(answer).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, generated.cert.pem()).unwrap();
    std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();

    let mut config = Config::with_db(dir.path().join("notes.redb"));
    config.tls_cert = Some(cert_path.clone());
    config.tls_key = Some(key_path.clone());
    let state = AppState::open(config).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        paravoid::serve_tls(listener, state, &cert_path, &key_path, async move {
            let _ignored = stopped.await;
        })
        .await
    });

    let cert = generated.cert.der().clone();
    let answer = https(
        addr,
        cert.clone(),
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(r#"{"status":"ok","store":"redb"}"#),
        "{answer}"
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("strict-transport-security: {}", paravoid::HSTS)),
        "HSTS over TLS: {answer}"
    );

    // A create over TLS works end to end.
    let body = r#"{"message":"over tls"}"#;
    let request = format!(
        "POST /api/secrets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = https(addr, cert, &request).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _read = plain.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_missing_certificate_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(Config::with_db(dir.path().join("notes.redb"))).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let missing = dir.path().join("missing.pem");
    let served = paravoid::serve_tls(listener, state, &missing, &missing, async {}).await;
    assert!(served.is_err());
}
