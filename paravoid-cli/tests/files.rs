//! `send --file` and `open -o DIR` through the binary against a real paravoid server: files at
//! and around the chunk size, hostile names from a hostile sender, existing files, and a server
//! that changes or cuts a file's sealed stream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

#[path = "support/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paravoid::{AppState, Config, ManualClock};
use paravoid_cli::tokens::Tokens;
use qsmm_shield::attachment::{self, Bundle, CHUNK_LEN, FileEntry, FileKey};
use qsmm_shield::note;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

use crate::harness::{Run, Server, client, run};

/// Bytes that do not repeat within a chunk, different per `seed`.
fn content(seed: u8, len: usize) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Runs the binary in `cwd`.
async fn run_in(cwd: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_paravoid-cli"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PARAVOID_SERVER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let _written = input.write_all(stdin).await;
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_around_the_chunk_size_round_trip_once() {
    let server = Server::start().await;
    let source = tempfile::tempdir().unwrap();
    let sizes = [
        ("empty.bin", 0),
        ("one-byte.txt", 1),
        ("chunk-minus-one.bin", CHUNK_LEN - 1),
        ("exactly-one-chunk.bin", CHUNK_LEN),
        ("chunk-plus-one.bin", CHUNK_LEN + 1),
        ("quarterly report ü.pdf", 3 * CHUNK_LEN + 17),
    ];
    let mut args = vec![
        "send".to_owned(),
        "--server".to_owned(),
        server.base.clone(),
    ];
    let mut contents = Vec::new();
    for (seed, (name, size)) in sizes.iter().enumerate() {
        let bytes = content(u8::try_from(seed).unwrap(), *size);
        let path = source.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        args.push("--file".to_owned());
        args.push(path.to_str().unwrap().to_owned());
        contents.push((*name, bytes));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let message = b"the numbers, as promised\n";
    let sent = run(&args, message).await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let link = sent.line();

    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("received");
    let opened = run(&["open", &link, "-o", target.to_str().unwrap()], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert!(opened.stdout.is_empty(), "{opened:?}");
    let mut expected: Vec<String> = sizes.iter().map(|(name, _)| (*name).to_owned()).collect();
    expected.push("message.txt".to_owned());
    expected.sort();
    assert_eq!(listing(&target), expected, "no temporary file is left");
    assert_eq!(std::fs::read(target.join("message.txt")).unwrap(), message);
    for (name, bytes) in &contents {
        assert_eq!(&std::fs::read(target.join(name)).unwrap(), bytes, "{name}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(target.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name} is private");
        }
    }

    let again = run(&["open", &link, "-o", out.path().to_str().unwrap()], b"").await;
    again.assert_failed(3, "has already been read");

    // Neither the names nor the contents nor the keys reached the server.
    let (_, keys) = link.split_once("#e2e.").unwrap();
    let mut secrets: Vec<&[u8]> = vec![keys.as_bytes(), message];
    for (name, bytes) in &contents {
        secrets.push(name.as_bytes());
        if bytes.len() >= 16 {
            secrets.push(&bytes[..16]);
            secrets.push(&bytes[bytes.len() - 16..]);
        }
    }
    server.assert_no_secret_received(&secrets);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_output_directory_files_go_to_the_current_one() {
    let server = Server::start().await;
    let source = tempfile::tempdir().unwrap();
    let path = source.path().join("photo.jpg");
    let bytes = content(9, 200_000);
    std::fs::write(&path, &bytes).unwrap();
    // No message at all: a note of files only.
    let sent = run(
        &[
            "send",
            "--server",
            &server.base,
            "--file",
            path.to_str().unwrap(),
        ],
        b"",
    )
    .await;
    assert_eq!(sent.code, 0, "{sent:?}");
    let cwd = tempfile::tempdir().unwrap();
    let opened = run_in(cwd.path(), &["open", &sent.line()], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert!(opened.stdout.is_empty(), "no message: {opened:?}");
    assert!(opened.stderr.contains("photo.jpg"), "{opened:?}");
    assert_eq!(listing(cwd.path()), ["photo.jpg"]);
    assert_eq!(std::fs::read(cwd.path().join("photo.jpg")).unwrap(), bytes);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_file_arguments_are_refused_before_anything_is_sent() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"a").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub").join("a.txt"), b"other a").unwrap();
    let base = server.base.clone();
    let a = dir.path().join("a.txt");
    let sub_a = dir.path().join("sub").join("a.txt");
    let missing = dir.path().join("missing");
    let sub = dir.path().join("sub");
    for (file_args, code, phrase) in [
        (vec![&a, &sub_a], 2, "same name"),
        (vec![&sub], 2, "not a regular file"),
        (vec![&missing], 7, "missing"),
    ] {
        let mut args = vec!["send", "--server", &base];
        for path in &file_args {
            args.push("--file");
            args.push(path.to_str().unwrap());
        }
        run(&args, b"msg").await.assert_failed(code, phrase);
    }
    assert!(
        server.received.lock().unwrap().is_empty(),
        "nothing reached the server"
    );
    server.stop().await;
}

/// Stores a note whose plaintext is `plaintext` with the uploads `files`, as a hostile sender
/// could; returns its link.
async fn store_raw(base: &str, plaintext: &[u8], files: &[String]) -> String {
    let (stored, keys) = note::seal_note(plaintext).unwrap();
    let tokens = Tokens::new(&keys, None);
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let created: Value = client()
        .post(format!("{base}/api/e2e/notes"))
        .json(&json!({
            "note": {
                "ek": b64(&stored.ek), "ct_kem": b64(&stored.ct_kem),
                "nonce": b64(&stored.nonce), "key_check": b64(&stored.key_check),
                "ciphertext": b64(&stored.ciphertext),
            },
            "claim_hash": Tokens::hash(&tokens.claim),
            "files": files,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    format!("{base}/s/{id}#e2e.{}", keys.to_compact().as_str())
}

/// Uploads `bytes` sealed as file `index` under `key`; returns the upload id.
async fn upload(base: &str, key: &FileKey, index: u32, bytes: &[u8]) -> String {
    let mut sealed = Vec::new();
    attachment::seal_file(key, index, bytes.len() as u64, bytes, &mut sealed).unwrap();
    let uploaded: Value = client()
        .post(format!("{base}/api/e2e/files"))
        .header("content-type", "application/octet-stream")
        .body(sealed)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    uploaded["file_id"].as_str().unwrap().to_owned()
}

/// A bundle's plaintext written by hand, so that any name can be in it.
fn raw_bundle(key: &[u8; 32], message: &[u8], names: &[&[u8]], size: u64) -> Vec<u8> {
    let mut out = b"\0QSF\x01".to_vec();
    out.extend_from_slice(key);
    out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_le_bytes());
    out.extend_from_slice(message);
    out.push(u8::try_from(names.len()).unwrap());
    for name in names {
        out.push(u8::try_from(name.len()).unwrap());
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(&size.to_le_bytes());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_refused_and_nothing_is_written() {
    let server = Server::start().await;
    let key = [7u8; 32];
    let hostile: [&[&[u8]]; 10] = [
        &[b"../escape"],
        &[b"/etc/passwd"],
        &[b"a/b"],
        &[b"a\\b"],
        &[b".."],
        &[b"."],
        &[b"nul\0byte"],
        &[b"esc\x1b[2Jape"],
        &[b"twice", b"twice"],
        &[b"\xff\xfe"],
    ];
    for names in hostile {
        let files = {
            let mut ids = Vec::new();
            for index in 0..names.len() {
                let index = u32::try_from(index).unwrap();
                ids.push(upload(&server.base, &FileKey::from_bytes(key), index, b"x").await);
            }
            ids
        };
        let plaintext = raw_bundle(&key, b"hello", names, 1);
        let link = store_raw(&server.base, &plaintext, &files).await;
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("out");
        let opened = run(&["open", &link, "-o", out.to_str().unwrap()], b"").await;
        opened.assert_failed(10, "names a file unsafely");
        assert!(listing(&out).is_empty(), "{names:?}");
        assert_eq!(listing(parent.path()), Vec::<String>::new(), "{names:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_file_is_never_replaced() {
    let server = Server::start().await;
    let key = FileKey::from_bytes([3u8; 32]);
    let id = upload(&server.base, &key, 0, b"new").await;
    let entry = FileEntry::new("notes.txt", "text/plain", 3).unwrap();
    let bundle = Bundle::with_key(b"", vec![entry], key).unwrap();
    let link = store_raw(&server.base, &bundle.to_plaintext(), &[id]).await;
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("notes.txt"), b"mine").unwrap();
    let opened = run(&["open", &link, "-o", out.path().to_str().unwrap()], b"").await;
    opened.assert_failed(7, "already exists");
    assert_eq!(listing(out.path()), ["notes.txt"]);
    assert_eq!(
        std::fs::read(out.path().join("notes.txt")).unwrap(),
        b"mine"
    );
    server.stop().await;
}

/// What the tampering server does to the sealed stream of the last file it hands out.
#[derive(Clone, Copy, Debug)]
enum Damage {
    FlipLastByte,
    FlipFirstChunk,
    DropLastChunk,
    CutInsideChunk,
    AppendByte,
}

impl Damage {
    fn apply(self, mut sealed: Vec<u8>) -> Vec<u8> {
        let sealed_chunk = attachment::SEALED_CHUNK_LEN;
        match self {
            Self::FlipLastByte => *sealed.last_mut().unwrap() ^= 1,
            Self::FlipFirstChunk => sealed[100] ^= 0x80,
            Self::DropLastChunk => {
                let full = sealed.len() / sealed_chunk * sealed_chunk;
                sealed.truncate(if full == sealed.len() {
                    full - sealed_chunk
                } else {
                    full
                });
            }
            Self::CutInsideChunk => {
                sealed.truncate(sealed.len() - 10);
            }
            Self::AppendByte => sealed.push(0),
        }
        sealed
    }
}

/// A paravoid server that damages the download of file 1 (the second file) of any note.
async fn tampering_server(
    damage: Damage,
) -> (String, tokio::task::JoinHandle<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(harness::START));
    let state =
        AppState::open_with_clock(Config::with_db(dir.path().join("notes.redb")), clock).unwrap();
    let app = paravoid::app(state).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            let damaged = request.uri().path().ends_with("/files/1");
            let response = next.run(request).await;
            if !damaged || response.status() != 200 {
                return response;
            }
            let (mut parts, body) = response.into_parts();
            let sealed = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let changed = damage.apply(sealed.to_vec());
            parts
                .headers
                .insert("content-length", changed.len().to_string().parse().unwrap());
            axum::response::Response::from_parts(parts, Body::from(changed))
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_or_cut_file_fails_the_whole_open_and_leaves_no_file() {
    let source = tempfile::tempdir().unwrap();
    let first = source.path().join("first.bin");
    let second = source.path().join("second.bin");
    std::fs::write(&first, content(1, 1000)).unwrap();
    for (damage, size) in [
        (Damage::FlipLastByte, 2 * CHUNK_LEN + 5),
        (Damage::FlipFirstChunk, 2 * CHUNK_LEN + 5),
        (Damage::DropLastChunk, 2 * CHUNK_LEN + 5),
        (Damage::DropLastChunk, 2 * CHUNK_LEN),
        (Damage::CutInsideChunk, 2 * CHUNK_LEN + 5),
        (Damage::AppendByte, CHUNK_LEN),
    ] {
        std::fs::write(&second, content(2, size)).unwrap();
        let (base, task, _dir) = tampering_server(damage).await;
        let sent = run(
            &[
                "send",
                "--server",
                &base,
                "--file",
                first.to_str().unwrap(),
                "--file",
                second.to_str().unwrap(),
            ],
            b"two files",
        )
        .await;
        assert_eq!(sent.code, 0, "{sent:?}");
        let out = tempfile::tempdir().unwrap();
        let opened = run(
            &["open", &sent.line(), "-o", out.path().to_str().unwrap()],
            b"",
        )
        .await;
        opened.assert_failed(8, "does not open with this link");
        assert!(
            listing(out.path()).is_empty(),
            "{damage:?}: not even the intact first file, nor a temporary one: {:?}",
            listing(out.path())
        );
        task.abort();
    }
}
