//! Connection limits on a real listener: a client that sends its request head slowly
//! (slowloris) or keeps an idle connection is cut off, and connections over the cap are closed
//! while those under it are served.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use std::net::SocketAddr;
use std::time::Duration;

use paravoid::{AppState, Config};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Longest a test waits for the server to act; far above the timeouts configured here.
const PATIENCE: Duration = Duration::from_secs(30);

/// A plain server with `adjust` applied to its configuration.
async fn start(
    dir: &std::path::Path,
    adjust: impl FnOnce(&mut Config),
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let mut config = Config::with_db(dir.join("notes.redb"));
    adjust(&mut config);
    let state = AppState::open(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(paravoid::serve(listener, state, async move {
        let _ignored = stopped.await;
    }));
    (addr, stop, server)
}

/// Whether the server closes `stream` (end of file or reset) within [`PATIENCE`], while `drip`
/// bytes are written to it one at a time every 200 ms (none if empty).
async fn closed_by_server(stream: &mut TcpStream, drip: &[u8]) -> bool {
    let outcome = tokio::time::timeout(PATIENCE, async {
        let mut drip = drip.iter().cycle();
        let mut buffer = [0u8; 1024];
        loop {
            tokio::select! {
                read = stream.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if let Some(byte) = drip.next()
                        && stream.write_all(&[*byte]).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    })
    .await;
    outcome.is_ok()
}

/// GET /healthz on a fresh connection; the status line.
async fn health(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_head_and_an_idle_connection_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, server) = start(dir.path(), |config| {
        config.header_read_timeout_secs = 1;
    })
    .await;

    // Slowloris: a request head that never ends, one header byte at a time.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut slow, b"aaaaaaaa").await,
        "a slowloris client keeps its connection"
    );

    // A connection that never sends anything.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_by_server(&mut silent, b"").await,
        "a silent connection stays open"
    );

    // A keep-alive connection, idle after one answered request.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(
        closed_by_server(&mut idle, b"").await,
        "an idle keep-alive connection stays open"
    );

    // The server still answers everyone else.
    assert_eq!(health(addr).await, "HTTP/1.1 200 OK");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, server) = start(dir.path(), |config| {
        config.max_connections = 2;
        config.header_read_timeout_secs = 60;
    })
    .await;
    // Two keep-alive connections, each answered once, hold the two places.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut probe = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_by_server(&mut probe, b"").await,
        "a third connection is served beyond the cap of 2"
    );
    for stream in &held {
        assert!(stream.peer_addr().is_ok());
    }
    // Once one closes, a new connection is served.
    drop(held.pop());
    let mut served = String::new();
    for _ in 0..50 {
        served = health(addr).await;
        if served == "HTTP/1.1 200 OK" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served, "HTTP/1.1 200 OK");
    drop(held);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
