//! Shared test support: volumes on a temporary medium, an nbdkit server with the plugin on a
//! temporary Unix socket, and the external client tools.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unwrap_in_result,
    clippy::panic_in_result_fn,
    clippy::let_underscore_must_use,
    reason = "test support: a failed step fails the test; cleanup is best effort"
)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use qsmm_volume::{Medium, SnapshotMode, Volume, format};
use sha2::{Digest, Sha256};

/// Reports that the running test skips because `why` (a missing program or facility): prints
/// `SKIPPED <test>: <why>` straight to standard error and appends it to the file named by
/// `QSMM_SKIP_LOG` (which `cargo xtask test` prints as its summary). With
/// `QSMM_REQUIRE_EXTERNAL=1` (set by `.ci/run`) it panics instead, failing the test.
pub(crate) fn skip(why: &str) {
    use std::io::Write as _;
    let test = format!(
        "{} {}",
        env!("CARGO_CRATE_NAME"),
        thread::current().name().unwrap_or("(not a test thread)")
    );
    let required =
        std::env::var_os("QSMM_REQUIRE_EXTERNAL").is_some_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{test} needs a program that is missing (QSMM_REQUIRE_EXTERNAL is set): {why}"
    );
    let line = format!("SKIPPED {test}: {why}\n");
    let _printed = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os("QSMM_SKIP_LOG")
        && let Ok(mut log) = fs::OpenOptions::new().create(true).append(true).open(path)
    {
        let _logged = log.write_all(line.as_bytes());
    }
}

/// Returns whether every tool is on `PATH`. When one is missing the test is reported skipped
/// ([`skip`], a failure under `QSMM_REQUIRE_EXTERNAL=1`).
pub(crate) fn tools(names: &[&str]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "missing {} (Debian packages nbdkit, libnbd-bin, nbdfuse, qemu-utils, e2fsprogs, fuse2fs)",
        missing.join(", ")
    );
    skip(&message);
    false
}

/// Returns whether FUSE mounts are possible here (root and `/dev/fuse`); like [`tools`] else.
pub(crate) fn fuse() -> bool {
    let ok = Path::new("/dev/fuse").exists()
        && Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !ok {
        let message = "FUSE mounts need root and /dev/fuse";
        skip(message);
    }
    ok
}

/// The plugin: `QSMM_NBD_PLUGIN`, or the `libqsmm_nbd.so` that `cargo test` built beside this
/// test binary (in `target/<profile>/deps`; only `cargo build` copies it one level up).
pub(crate) fn plugin() -> PathBuf {
    if let Some(path) = std::env::var_os("QSMM_NBD_PLUGIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let path = deps.join("libqsmm_nbd.so");
    assert!(path.is_file(), "plugin not built: {}", path.display());
    path
}

/// A temporary medium with volumes on it and the passphrase files that open them.
pub(crate) struct Setup {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) medium: PathBuf,
    pub(crate) passfiles: Vec<PathBuf>,
}

impl Setup {
    /// Formats a medium of `medium_size` bytes and creates one volume per entry of `sizes`, each
    /// protecting those before it; passphrase `i` is `"passphrase number i"`.
    pub(crate) fn new(medium_size: u64, sizes: &[u64]) -> Self {
        Self::with_mode(medium_size, sizes, SnapshotMode::Single)
    }

    /// As [`Self::new`], the volumes in snapshot mode `mode` (closed highest first).
    pub(crate) fn with_mode(medium_size: u64, sizes: &[u64], mode: SnapshotMode) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let medium_path = dir.path().join("dark.img");
        format(&medium_path, medium_size, |_, _| {}).unwrap();
        let medium = Medium::open(&medium_path).unwrap();
        let mut volumes: Vec<Volume> = Vec::new();
        let mut passfiles = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let passphrase = format!("passphrase number {i}");
            let protect: Vec<&Volume> = volumes.iter().collect();
            let volume =
                Volume::create_with_mode(&medium, passphrase.as_bytes(), size, &protect, mode)
                    .unwrap();
            volumes.push(volume);
            let file = dir.path().join(format!("pw{i}"));
            fs::write(&file, format!("{passphrase}\n")).unwrap();
            passfiles.push(file);
        }
        for volume in volumes.into_iter().rev() {
            volume.close().unwrap();
        }
        drop(medium);
        Self {
            dir,
            medium: medium_path,
            passfiles,
        }
    }

    /// A file in the temporary directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Serves every volume (export `"i"` is volume `i`).
    pub(crate) fn serve(&self) -> Server {
        let params: Vec<String> = self
            .passfiles
            .iter()
            .map(|p| format!("passphrase-file={}", p.display()))
            .collect();
        Server::start(&self.medium, &params).unwrap()
    }
}

/// An nbdkit process serving the plugin on a Unix socket; killed when dropped.
pub(crate) struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts nbdkit and waits until it serves, or returns its standard error if it exits first.
    pub(crate) fn start(medium: &Path, params: &[String]) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("nbd.sock");
        let pidfile = dir.path().join("nbd.pid");
        let mut child = Command::new("nbdkit")
            .arg("--foreground")
            .arg("--exit-with-parent")
            .arg("--unix")
            .arg(&socket)
            .arg("--pidfile")
            .arg(&pidfile)
            .arg(plugin())
            .arg(format!("medium={}", medium.display()))
            .args(params)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start nbdkit: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                return Err(format!("nbdkit exited ({status}): {stderr}"));
            }
            // nbdkit writes the pidfile once the socket accepts connections.
            if fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n')) {
                break;
            }
            assert!(Instant::now() < deadline, "nbdkit did not start");
            thread::sleep(Duration::from_millis(20));
        }
        // Keep nbdkit's standard error flowing to ours so that its messages show in failures.
        if let Some(mut stderr) = child.stderr.take() {
            thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::stderr()));
        }
        Ok(Self {
            child: Some(child),
            dir,
        })
    }

    /// The NBD URI of an export.
    pub(crate) fn uri(&self, export: &str) -> String {
        format!(
            "nbd+unix:///{export}?socket={}",
            self.dir.path().join("nbd.sock").display()
        )
    }

    /// nbdkit's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Stops nbdkit with SIGTERM (it flushes and closes the volumes) and checks it exits cleanly.
    pub(crate) fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        run("kill", &["-TERM", &child.id().to_string()]);
        let status = child.wait().unwrap();
        assert!(status.success(), "nbdkit exit status {status}");
    }

    /// Kills nbdkit with SIGKILL, as a crash would.
    pub(crate) fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a program, asserts success and returns its standard output.
pub(crate) fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes a directory tree of `count` files of varied sizes (deterministic contents).
pub(crate) fn make_tree(root: &Path, count: usize, seed: u64) {
    for i in 0..count {
        let sub = root.join(format!("d{}", i % 7)).join(format!("e{}", i % 3));
        fs::create_dir_all(&sub).unwrap();
        let len = (i * 977 + 13) % 20_000;
        let mut contents = Vec::with_capacity(len);
        let mut state = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        while contents.len() < len {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            contents.extend_from_slice(&state.to_le_bytes());
        }
        contents.truncate(len);
        fs::write(sub.join(format!("f{i}.bin")), contents).unwrap();
    }
}

/// The SHA-256 of every file under `root`, by relative path.
pub(crate) fn digests(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().to_owned();
            if relative == Path::new("lost+found") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    relative,
                    hex::encode(Sha256::digest(fs::read(&path).unwrap())),
                );
            }
        }
    }
    out
}

/// The SHA-256 of a file.
pub(crate) fn file_digest(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).unwrap()))
}

/// Makes an ext4 image of `size` bytes holding the tree at `from`.
pub(crate) fn mkfs_with(image: &Path, size: u64, from: &Path) {
    fs::File::create(image).unwrap().set_len(size).unwrap();
    run(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-t",
            "ext4",
            "-b",
            "4096",
            "-d",
            from.to_str().unwrap(),
            image.to_str().unwrap(),
        ],
    );
}

/// `e2fsck -fn` on an image: asserts it finds nothing to fix.
pub(crate) fn fsck_clean(image: &Path) {
    run("e2fsck", &["-fn", image.to_str().unwrap()]);
}

/// Copies an export to a local file with `nbdcopy`.
pub(crate) fn copy_out(server: &Server, export: &str, to: &Path) {
    run("nbdcopy", &[&server.uri(export), to.to_str().unwrap()]);
}

/// Copies a local file onto an export with `nbdcopy` (which flushes at the end).
pub(crate) fn copy_in(server: &Server, export: &str, from: &Path) {
    run("nbdcopy", &[from.to_str().unwrap(), &server.uri(export)]);
}

/// A minimal NBD client (fixed newstyle handshake, `NBD_OPT_EXPORT_NAME`, simple replies), so
/// that a test knows exactly which requests the server acknowledged.
pub(crate) struct NbdClient {
    stream: std::os::unix::net::UnixStream,
    size: u64,
    next_handle: u64,
}

impl NbdClient {
    const REQUEST_MAGIC: u32 = 0x2560_9513;
    const REPLY_MAGIC: u32 = 0x6744_6698;

    /// Connects to an export of a server.
    pub(crate) fn connect(server: &Server, export: &str) -> std::io::Result<Self> {
        use std::io::Write;
        let mut stream =
            std::os::unix::net::UnixStream::connect(server.dir.path().join("nbd.sock"))?;
        let mut hello = [0u8; 18];
        stream.read_exact(&mut hello)?;
        assert_eq!(&hello[..16], b"NBDMAGICIHAVEOPT");
        // Fixed newstyle, no zero padding.
        stream.write_all(&3u32.to_be_bytes())?;
        let mut option = Vec::new();
        option.extend_from_slice(b"IHAVEOPT");
        option.extend_from_slice(&1u32.to_be_bytes());
        option.extend_from_slice(&u32::try_from(export.len()).unwrap().to_be_bytes());
        option.extend_from_slice(export.as_bytes());
        stream.write_all(&option)?;
        let mut reply = [0u8; 10];
        stream.read_exact(&mut reply)?;
        let size = u64::from_be_bytes(reply[..8].try_into().unwrap());
        Ok(Self {
            stream,
            size,
            next_handle: 1,
        })
    }

    /// The export's size.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    fn request(&mut self, kind: u16, offset: u64, len: u32, data: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let handle = self.next_handle;
        self.next_handle += 1;
        let mut header = Vec::with_capacity(28 + data.len());
        header.extend_from_slice(&Self::REQUEST_MAGIC.to_be_bytes());
        header.extend_from_slice(&0u16.to_be_bytes());
        header.extend_from_slice(&kind.to_be_bytes());
        header.extend_from_slice(&handle.to_be_bytes());
        header.extend_from_slice(&offset.to_be_bytes());
        header.extend_from_slice(&len.to_be_bytes());
        header.extend_from_slice(data);
        self.stream.write_all(&header)?;
        let mut reply = [0u8; 16];
        self.stream.read_exact(&mut reply)?;
        assert_eq!(reply[..4], Self::REPLY_MAGIC.to_be_bytes());
        assert_eq!(reply[8..], handle.to_be_bytes());
        let error = u32::from_be_bytes(reply[4..8].try_into().unwrap());
        if error != 0 {
            return Err(std::io::Error::other(format!("NBD error {error}")));
        }
        Ok(())
    }

    /// `NBD_CMD_WRITE`; returns once the server acknowledged it.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.request(1, offset, u32::try_from(data.len()).unwrap(), data)
    }

    /// `NBD_CMD_READ`.
    pub(crate) fn read(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.request(0, offset, u32::try_from(buf.len()).unwrap(), &[])?;
        self.stream.read_exact(buf)
    }

    /// `NBD_CMD_FLUSH`.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.request(3, 0, 0, &[])
    }
}

/// A FUSE daemon running in the foreground and its mount point; unmounted when dropped.
pub(crate) struct FuseMount {
    child: Option<Child>,
    mountpoint: PathBuf,
}

impl FuseMount {
    /// `nbdfuse DIR/disk URI`: the export as the file `DIR/disk`.
    pub(crate) fn nbdfuse(server: &Server, export: &str, dir: &Path) -> Self {
        fs::create_dir_all(dir).unwrap();
        let child = Command::new("nbdfuse")
            .arg(dir.join("disk"))
            .arg(server.uri(export))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mount = Self {
            child: Some(child),
            mountpoint: dir.to_owned(),
        };
        mount.wait_until(|| dir.join("disk").exists());
        mount
    }

    /// `fuse2fs -f IMAGE DIR`: the ext4 file system in `image`, mounted on `dir`.
    pub(crate) fn fuse2fs(image: &Path, dir: &Path) -> Self {
        fs::create_dir_all(dir).unwrap();
        let child = Command::new("fuse2fs")
            .arg(image)
            .arg(dir)
            .arg("-f")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mount = Self {
            child: Some(child),
            mountpoint: dir.to_owned(),
        };
        mount.wait_until(|| dir.join("lost+found").exists());
        mount
    }

    fn wait_until(&self, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "{} not mounted",
                self.mountpoint.display()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Unmounts and waits for the daemon to finish (fuse2fs writes its last metadata then).
    pub(crate) fn unmount(mut self) {
        run("umount", &[self.mountpoint.to_str().unwrap()]);
        let status = self.child.take().unwrap().wait().unwrap();
        assert!(status.success(), "FUSE daemon exit status {status}");
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
