//! The servers under test: re-running in release mode, temporary directories, starting
//! `paravoid` on a free port and waiting for `GET /healthz`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// Builds paravoid and xtask in release mode and runs the release xtask with the same arguments.
pub(super) fn rerun_in_release(args: &[String]) -> Result<(), String> {
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build.args(["build", "--release", "-p", "paravoid", "-p", "xtask"]);
    println!("==> {build:?}");
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    let xtask = release_dir().join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    let status = Command::new(&xtask)
        .arg("loadtest")
        .args(args)
        .env(RELEASE_MARKER, "1")
        .status()
        .map_err(|e| format!("cannot run {}: {e}", xtask.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err("load test failed".into())
    }
}

pub(super) fn release_dir() -> PathBuf {
    target_dir().join("release")
}

/// A temporary directory, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the system temp dir is harmless.
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("xtask: cannot remove {}: {e}", self.0.display());
        }
    }
}

pub(super) fn tempdir() -> Result<TempDir, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir =
        std::env::temp_dir().join(format!("paravoid-loadtest-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(TempDir(dir))
}

/// A fresh store key secret for `--store-key`: 32 bytes from the operating system.
pub(super) fn store_secret() -> Result<[u8; 32], String> {
    use std::io::Read as _;
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut secret))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(secret)
}

/// A running paravoid server, killed when dropped.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) addr: SocketAddr,
}

impl Server {
    pub(super) fn start(binary: &Path, store_args: &[String]) -> Result<Self, String> {
        let addr = free_port()?;
        let child = Command::new(binary)
            .arg("--bind")
            .arg(addr.to_string())
            .args(store_args)
            // Every client is 127.0.0.1: per-client rate limits would measure themselves.
            .args(["--create-per-minute", "0", "--reveal-per-minute", "0"])
            // Attack runs leave many notes behind: the store cap would answer 507 and skew them.
            .args(["--max-notes", "0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = Self { child, addr };
        server.wait_healthy()?;
        Ok(server)
    }

    pub(super) fn wait_healthy(&mut self) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < STARTUP_LIMIT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("paravoid exited at startup: {status}"));
            }
            if healthz(self.addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "paravoid did not answer GET /healthz within {STARTUP_LIMIT:?}"
        ))
    }
}

impl Server {
    /// CPU seconds (user + system) the server has used so far, from `/proc` (Linux only;
    /// `USER_HZ` is 100 on every Linux target).
    pub(super) fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let mut fields = rest.split_whitespace().skip(11);
        let utime: f64 = fields.next()?.parse().ok()?;
        let stime: f64 = fields.next()?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The child is ours; if it already exited, kill fails harmlessly.
        if self.child.kill().is_ok() {
            drop(self.child.wait());
        }
    }
}

/// Picks a free loopback port by binding port 0 and releasing it.
pub(super) fn free_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// A minimal blocking `GET /healthz` (avoids a runtime before the server is up).
pub(super) fn healthz(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .is_err()
    {
        return false;
    }
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
