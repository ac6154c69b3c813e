//! `qsmm serve` end to end: the command starts nbdkit with the plugin, real NBD clients use the
//! exports, Ctrl-C on the terminal and SIGTERM stop it cleanly, the data is there when it serves
//! again, and a wrong passphrase is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure"
)]

#[allow(dead_code, reason = "each test file uses part of the harness")]
mod harness;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use harness::{Setup, plugin, qsmm_bin, run, tools};
use rand::{RngExt, SeedableRng, rngs::StdRng};

const MIB: u64 = 1 << 20;
/// How long `qsmm serve` may take to open the volumes (Argon2id) and serve.
const START_LIMIT: Duration = Duration::from_secs(120);
/// How long it may take to stop.
const STOP_LIMIT: Duration = Duration::from_secs(60);

/// `qsmm serve` running in the background, its output (standard error and standard output, as
/// they come: a prompt ends without a newline) collected as text.
struct Serve {
    child: Child,
    chunks: mpsc::Receiver<String>,
    /// Everything read so far.
    text: String,
    /// Where the next [`Self::wait_for`] starts looking.
    cursor: usize,
}

impl Serve {
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (send, chunks) = mpsc::channel();
        let forward = |mut stream: Box<dyn Read + Send>, send: mpsc::Sender<String>| {
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if send
                        .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                        .is_err()
                    {
                        break;
                    }
                }
            });
        };
        forward(Box::new(child.stderr.take().unwrap()), send.clone());
        // Under `script` everything, the prompts included, arrives on standard output.
        forward(Box::new(child.stdout.take().unwrap()), send);
        Self {
            child,
            chunks,
            text: String::new(),
            cursor: 0,
        }
    }

    /// Waits until the output shows `needle` (after what earlier calls found); panics with the
    /// whole output if the process exits or the time runs out first.
    fn wait_for(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(at) = self.text[self.cursor..].find(needle) {
                self.cursor += at + needle.len();
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            match self.chunks.recv_timeout(Duration::from_millis(100)) {
                Ok(chunk) => self.text.push_str(&chunk),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("no {needle:?} in the output: {:?}", self.text);
    }

    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "qsmm serve did not stop");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything printed until the process ended.
    fn rest(&mut self) -> String {
        while let Ok(chunk) = self.chunks.recv_timeout(Duration::from_secs(2)) {
            self.text.push_str(&chunk);
        }
        self.text.clone()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

/// Whether a process with this id still exists.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// nbdkit's process id, from the children of `parent`.
fn child_of(parent: u32) -> Option<u32> {
    let list = fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
    list.split_whitespace().next()?.parse().ok()
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn serve_exports_stops_on_signals_and_serves_the_data_again() {
    if !tools(&["nbdkit", "nbdinfo", "nbdcopy", "script"]) {
        return;
    }
    let qsmm = qsmm_bin();
    let setup = Setup::new(48 * MIB, &[8 * MIB, 12 * MIB]);
    let socket = setup.path("qsmm.sock");
    let uri = |export: &str| format!("nbd+unix:///{export}?socket={}", socket.display());

    // 1. Two exports from passphrase files on a Unix socket.
    let mut command = Command::new(&qsmm);
    command
        .arg("serve")
        .arg(&setup.medium)
        .arg("--socket")
        .arg(&socket)
        .arg("--plugin")
        .arg(plugin());
    for file in &setup.passfiles {
        command.arg("--passphrase-file").arg(file);
    }
    let mut serve = Serve::spawn(command);
    serve.wait_for("serving 2 export(s)", START_LIMIT);
    assert_eq!(
        run("nbdinfo", &["--size", &uri("0")]).trim(),
        (8 * MIB).to_string()
    );
    assert_eq!(
        run("nbdinfo", &["--size", &uri("1")]).trim(),
        (12 * MIB).to_string()
    );
    let mut data = vec![0u8; usize::try_from(12 * MIB).unwrap()];
    StdRng::seed_from_u64(7).fill(data.as_mut_slice());
    let source = setup.path("source.bin");
    fs::write(&source, &data).unwrap();
    run("nbdcopy", &["--flush", source.to_str().unwrap(), &uri("1")]);
    let nbdkit = child_of(serve.child.id()).expect("nbdkit runs under qsmm serve");
    // SIGTERM (what systemd sends) stops nbdkit, which flushes and closes the volumes.
    run("kill", &["-TERM", &serve.child.id().to_string()]);
    let status = serve.wait(STOP_LIMIT);
    assert!(status.success(), "{status}: {}", serve.rest());
    assert!(!alive(nbdkit), "nbdkit outlived qsmm serve");
    // The passphrase files handed to nbdkit never held the passphrases here (files were given),
    // and no private directory is left behind with any.
    let status = Command::new("nbdinfo")
        .args(["--size", &uri("0")])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the export outlived qsmm serve");

    // 2. Served again on TCP, the passphrase typed on a terminal (a pseudo-terminal made by
    //    `script`), stopped with Ctrl-C typed on that terminal.
    let port = free_port();
    // `exec`: the shell that `script` starts must not stay between the terminal and qsmm. A
    // shell such as dash, waiting on a child when Ctrl-C comes, kills itself with SIGINT
    // afterwards, whatever the child did with it.
    let inner = format!(
        "exec {} serve {} --listen 127.0.0.1:{port} --exports 2 --plugin {}",
        qsmm.display(),
        setup.medium.display(),
        plugin().display()
    );
    let mut command = Command::new("script");
    command.args(["--quiet", "--return", "--command", &inner, "/dev/null"]);
    let mut serve = Serve::spawn(command);
    let mut stdin = serve.child.stdin.take().unwrap();
    serve.wait_for("Passphrase of volume 0", START_LIMIT);
    stdin.write_all(b"passphrase number 0\n").unwrap();
    serve.wait_for("Passphrase of volume 1", START_LIMIT);
    stdin.write_all(b"passphrase number 1\n").unwrap();
    serve.wait_for("serving 2 export(s)", START_LIMIT);
    let tcp = |export: &str| format!("nbd://127.0.0.1:{port}/{export}");
    let copy = setup.path("copy.bin");
    run("nbdcopy", &[&tcp("1"), copy.to_str().unwrap()]);
    assert!(fs::read(&copy).unwrap() == data, "export 1 lost its data");
    // Ctrl-C on the terminal: SIGINT to qsmm and nbdkit, a clean stop.
    stdin.write_all(&[0x03]).unwrap();
    stdin.flush().unwrap();
    let status = serve.wait(STOP_LIMIT);
    let output = serve.rest();
    assert!(status.success(), "{status}: {output}");
    assert!(
        !output.contains("passphrase number"),
        "a passphrase was echoed: {output}"
    );
    let status = Command::new("nbdinfo")
        .args(["--size", &tcp("0")])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the export outlived Ctrl-C");
}

#[test]
fn serve_refuses_a_wrong_passphrase() {
    if !tools(&["nbdkit"]) {
        return;
    }
    let qsmm = qsmm_bin();
    let setup = Setup::new(32 * MIB, &[8 * MIB]);
    let wrong = setup.path("wrong");
    fs::write(&wrong, "not the passphrase\n").unwrap();
    let output = Command::new(&qsmm)
        .arg("serve")
        .arg(&setup.medium)
        .arg("--socket")
        .arg(setup.path("s.sock"))
        .arg("--passphrase-file")
        .arg(&wrong)
        .arg("--plugin")
        .arg(plugin())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("not the passphrase"), "{stderr}");
    assert!(stderr.contains("qsmm:"), "{stderr}");
    assert!(!setup.path("s.sock").exists(), "a socket was left behind");
}

#[test]
fn the_network_needs_tls_and_a_plain_client_is_refused() {
    if !tools(&["nbdkit", "nbdinfo"]) {
        return;
    }
    let qsmm = qsmm_bin();
    let setup = Setup::new(32 * MIB, &[8 * MIB]);
    let port = free_port();
    let listen = format!("0.0.0.0:{port}");

    // Without TLS a non-loopback address is refused before anything starts.
    let output = Command::new(&qsmm)
        .arg("serve")
        .arg(&setup.medium)
        .args(["--listen", &listen, "--passphrase-file"])
        .arg(&setup.passfiles[0])
        .arg("--plugin")
        .arg(plugin())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-psk"), "{stderr}");

    // With a pre-shared key: a TLS client with the key reads, a plain client is refused.
    let psk = setup.path("keys.psk");
    fs::write(&psk, format!("alice:{}\n", "5a".repeat(32))).unwrap();
    let mut command = Command::new(&qsmm);
    command
        .arg("serve")
        .arg(&setup.medium)
        .args(["--listen", &listen, "--tls-psk"])
        .arg(&psk)
        .arg("--passphrase-file")
        .arg(&setup.passfiles[0])
        .arg("--plugin")
        .arg(plugin());
    let mut serve = Serve::spawn(command);
    serve.wait_for("serving 1 export(s) on nbds://", START_LIMIT);
    let tls = format!(
        "nbds://alice@127.0.0.1:{port}/0?tls-psk-file={}",
        psk.display()
    );
    assert_eq!(
        run("nbdinfo", &["--size", &tls]).trim(),
        (8 * MIB).to_string()
    );
    let plain = Command::new("nbdinfo")
        .args(["--size", &format!("nbd://127.0.0.1:{port}/0")])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(!plain.status.success(), "a plain client was served");
    let wrong = setup.path("wrong.psk");
    fs::write(&wrong, format!("alice:{}\n", "a5".repeat(32))).unwrap();
    let status = Command::new("nbdinfo")
        .args([
            "--size",
            &format!(
                "nbds://alice@127.0.0.1:{port}/0?tls-psk-file={}",
                wrong.display()
            ),
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "a wrong key was accepted");
    run("kill", &["-TERM", &serve.child.id().to_string()]);
    let status = serve.wait(STOP_LIMIT);
    assert!(status.success(), "{status}: {}", serve.rest());
}
