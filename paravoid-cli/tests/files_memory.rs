//! A 100 MiB file sent by `paravoid-cli send --file` and opened by `paravoid-cli open -o DIR`
//! through the real server binary, on redb and on PostgreSQL: the file arrives byte for byte
//! (SHA-256), the server's peak resident memory (`VmHWM` in /proc) stays within 64 MiB of its
//! idle size, and so does each run of the command-line client (sampled while it runs).
//!
//! `PARAVOID_CLI_FILE_MIB` sets another size (in MiB).
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qsmm_test_support::external;
use qsmm_test_support::pg_cluster;
use qsmm_test_support::server_process::ServerProcess;
use sha2::{Digest, Sha256};

/// How far above its idle size a process's resident memory may go.
const BOUND_KIB: u64 = 64 * 1024;

/// The file's size: the server's default `--max-file-bytes` unless the environment says.
fn file_bytes() -> u64 {
    let mib = std::env::var("PARAVOID_CLI_FILE_MIB")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .unwrap_or(100);
    mib * 1024 * 1024
}

/// A field of /proc/<pid>/status, in KiB; `None` once the process is gone.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// Writes `size` bytes of a fixed pattern to `path`, 1 MiB at a time; returns their SHA-256.
fn write_file(path: &Path, size: u64) -> Vec<u8> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut digest = Sha256::new();
    let block: Vec<u8> = (0..1 << 20u32)
        .map(|i| u8::try_from((i * 7 + i / 251) % 256).unwrap())
        .collect();
    let mut left = size;
    let mut round = 0u8;
    while left > 0 {
        let take = usize::try_from(left.min(block.len() as u64)).unwrap();
        let mut piece = block[..take].to_vec();
        piece[0] = round;
        round = round.wrapping_add(1);
        digest.update(&piece);
        file.write_all(&piece).unwrap();
        left -= take as u64;
    }
    file.flush().unwrap();
    digest.finalize().to_vec()
}

fn sha256_of(path: &Path) -> Vec<u8> {
    let mut file = std::fs::File::open(path).unwrap();
    let mut digest = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        digest.update(&buffer[..read]);
    }
    digest.finalize().to_vec()
}

/// What a run of the client gave: exit code, standard output, peak resident memory seen.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    peak_kib: u64,
    seconds: f64,
}

/// Runs `paravoid-cli` with `args`, sampling its `VmHWM` until it exits.
fn run_cli(args: &[&str]) -> Run {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paravoid-cli"))
        .args(args)
        .env_remove("PARAVOID_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _read = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _read = stderr.read_to_string(&mut text);
        text
    });
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = status_kib(pid, "VmHWM") {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        peak_kib,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Sends a file through `server` and opens it, checking bytes and memory.
fn round_trip(server: &ServerProcess, store: &str) {
    let pid = server.pid();
    std::thread::sleep(Duration::from_millis(300));
    let idle = status_kib(pid, "VmRSS").unwrap();
    let size = file_bytes();
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("big.bin");
    let expected = write_file(&source, size);

    let sent = run_cli(&[
        "send",
        "--server",
        server.base(),
        "--file",
        source.to_str().unwrap(),
    ]);
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    let link = sent.stdout.trim_end().to_owned();
    let out = work.path().join("out");
    let opened = run_cli(&["open", &link, "-o", out.to_str().unwrap()]);
    assert_eq!(opened.code, 0, "{}", opened.stderr);
    let received = out.join("big.bin");
    assert_eq!(std::fs::metadata(&received).unwrap().len(), size);
    assert_eq!(sha256_of(&received), expected, "byte for byte");

    let peak = status_kib(pid, "VmHWM").unwrap();
    let mib = size >> 20;
    println!(
        "{store}: {mib} MiB file; server resident memory idle {idle} KiB, peak {peak} KiB; \
         client peak {} KiB sending ({:.1} s), {} KiB opening ({:.1} s)",
        sent.peak_kib, sent.seconds, opened.peak_kib, opened.seconds
    );
    assert!(
        peak <= idle + BOUND_KIB,
        "{store}: server peak {peak} KiB is more than 64 MiB above idle {idle} KiB"
    );
    for (what, run) in [("send", &sent), ("open", &opened)] {
        assert!(
            run.peak_kib > 0 && run.peak_kib <= BOUND_KIB,
            "{what}: the client's peak {} KiB is over 64 MiB",
            run.peak_kib
        );
    }
}

fn server_command() -> Command {
    let mut command = Command::new(qsmm_test_support::cargo_bin::cargo_bin(
        "paravoid", "paravoid",
    ));
    command
        .args(["--bind", "127.0.0.1:0"])
        .args(["--create-per-minute", "0", "--reveal-per-minute", "0"])
        .env_remove("PARAVOID_MAX_FILE_BYTES");
    command
}

#[test]
fn a_100_mib_file_round_trips_through_the_cli_on_redb() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = server_command();
    command.arg("--db").arg(dir.path().join("notes.redb"));
    let server = ServerProcess::start(command, Duration::from_secs(60));
    round_trip(&server, "redb");
}

#[test]
fn a_100_mib_file_round_trips_through_the_cli_on_postgres() {
    let Some(shared) = pg_cluster::shared() else {
        external::skip("PostgreSQL is not installed");
        return;
    };
    let url = shared.database("cli_files_memory");
    let dir = tempfile::tempdir().unwrap();
    let key =
        pg_cluster::write_store_key(&dir.path().join("store.key"), &pg_cluster::store_secret());
    let mut command = server_command();
    command.args(["--store", &url, "--store-key"]).arg(key);
    let server = ServerProcess::start(command, Duration::from_secs(60));
    round_trip(&server, "postgres");
}
