//! A 100 MiB file through the real server binary: uploaded and downloaded as streams, the
//! server's peak resident memory (`VmHWM` in /proc) stays within 64 MiB of its idle size.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use qsmm_shield::attachment::{self, Bundle, FileEntry};
use qsmm_shield::note;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The file's size: the default `--max-file-bytes`.
const FILE_BYTES: usize = 100 * 1024 * 1024;
/// How far above its idle size the server's resident memory may go.
const BOUND_KIB: u64 = 64 * 1024;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A field of /proc/<pid>/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

/// The server child, killed when dropped (also when the test fails half way).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ignored = self.0.kill();
        let _ignored = self.0.wait();
    }
}

/// Starts the binary on a fresh database and returns it with its base URL.
fn start(dir: &std::path::Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paravoid"))
        .args(["--bind", "127.0.0.1:0", "--db"])
        .arg(dir.join("notes.redb"))
        .env_remove("PARAVOID_BIND")
        .env_remove("PARAVOID_DB")
        .env_remove("PARAVOID_MAX_FILE_BYTES")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let pipes: [Box<dyn std::io::Read + Send>; 2] = [
        Box::new(child.stderr.take().unwrap()),
        Box::new(child.stdout.take().unwrap()),
    ];
    for pipe in pipes {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some((_, address)) = line.split_once("listening on ") {
                    let address = address.split_whitespace().next().unwrap_or_default();
                    let _ignored = tx.send(address.to_owned());
                }
            }
        });
    }
    let server = Server(child);
    let address = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    (server, format!("http://{address}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_file_keeps_server_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = start(dir.path());
    let pid = server.0.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = status_kib(pid, "VmRSS");

    let data: Vec<u8> = (0..FILE_BYTES)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    let entry = FileEntry::new("big.bin", "application/octet-stream", FILE_BYTES as u64).unwrap();
    let bundle = Bundle::new(b"", vec![entry]).unwrap();
    let mut sealed = Vec::new();
    attachment::seal_file(bundle.key(), 0, FILE_BYTES as u64, &data[..], &mut sealed).unwrap();
    drop(data);
    let (stored, keys) = note::seal_note(&bundle.to_plaintext()).unwrap();
    let raw = URL_SAFE_NO_PAD.decode(keys.to_compact()).unwrap();
    let mut claim = [0u8; 32];
    Hkdf::<Sha256>::new(None, &raw)
        .expand(b"paravoid/v1/e2e/claim", &mut claim)
        .unwrap();

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let uploaded: Value = http
        .post(format!("{base}/api/e2e/files"))
        .header("content-type", "application/octet-stream")
        .body(sealed.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file_id = uploaded["file_id"].as_str().unwrap().to_owned();
    let create = json!({
        "note": {
            "ek": b64(&stored.ek), "ct_kem": b64(&stored.ct_kem), "nonce": b64(&stored.nonce),
            "key_check": b64(&stored.key_check), "ciphertext": b64(&stored.ciphertext),
        },
        "claim_hash": b64(&Sha256::digest(claim)),
        "files": [file_id],
    });
    let created: Value = http
        .post(format!("{base}/api/e2e/notes"))
        .json(&create)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let claimed: Value = http
        .post(format!("{base}/api/e2e/notes/{id}/claim"))
        .json(&json!({ "claim_token": b64(&claim) }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = claimed["files"]["token"].as_str().unwrap().to_owned();
    let mut response = http
        .get(format!("{base}/api/e2e/notes/{id}/files/0"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = 0usize;
    let mut digest = Sha256::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        received += chunk.len();
        digest.update(&chunk);
    }
    assert_eq!(received, sealed.len());
    assert_eq!(digest.finalize(), Sha256::digest(&sealed));

    let peak = status_kib(pid, "VmHWM");
    drop(server);
    println!("server resident memory: idle {idle} KiB, peak {peak} KiB");
    assert!(
        peak <= idle + BOUND_KIB,
        "peak {peak} KiB is more than 64 MiB above idle {idle} KiB"
    );
}
