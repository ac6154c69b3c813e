//! The servers under test: re-running in release mode, temporary directories, starting
//! `paravoid` on ports it picks and waiting for it to report them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use qsmm_test_support::server_process::ServerProcess;

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

/// A running paravoid server (the workspace's test `ServerProcess`), killed when dropped.
pub(super) struct Server {
    process: ServerProcess,
    /// Where it serves the API.
    pub(super) addr: SocketAddr,
    /// Where it serves `/metrics`.
    pub(super) metrics: SocketAddr,
}

impl Server {
    /// Starts `binary` on loopback ports it picks itself (port 0), with `store_args`, and
    /// returns once it reported both addresses.
    pub(super) fn start(binary: &Path, store_args: &[String]) -> Result<Self, String> {
        let mut command = Command::new(binary);
        command
            .args(["--bind", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0"])
            .args(store_args)
            // Every client is 127.0.0.1: per-client rate limits would measure themselves.
            .args(["--create-per-minute", "0", "--reveal-per-minute", "0"])
            // Attack runs leave many notes behind: the store cap would answer 507 and skew them.
            .args(["--max-notes", "0"])
            // Its addresses, not a line per request.
            .env("RUST_LOG", "warn,paravoid=info");
        let process = ServerProcess::try_start(command, STARTUP_LIMIT)?;
        let address = |base: &str| -> Result<SocketAddr, String> {
            let host = base.trim_start_matches("http://");
            let host = host.split('/').next().unwrap_or(host);
            host.parse()
                .map_err(|e| format!("paravoid reported the address {base:?}: {e}"))
        };
        let addr = address(process.base())?;
        let line = process.wait_for_line("metrics on http://", STARTUP_LIMIT)?;
        let metrics = address(line.rsplit_once("metrics on ").map_or("", |(_, url)| url))?;
        Ok(Self {
            process,
            addr,
            metrics,
        })
    }

    /// CPU seconds (user + system) the server has used so far.
    pub(super) fn cpu_seconds(&self) -> Option<f64> {
        self.process.cpu_seconds()
    }
}
