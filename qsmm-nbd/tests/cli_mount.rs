//! `qsmm mount` and `qsmm unmount` end to end (nbdkit, nbdfuse, fuse2fs): a tree copied in comes
//! back byte-identical after unmount and mount; after a SIGKILL of the server, the next unmount
//! reports the crash and the files synced a commit interval before it pass `e2fsck` intact.
//! And `qsmm serve` with passphrases typed on a terminal: no file and no command line holds them.
//! And `qsmm mount` of a decoy and a hidden volume on a multi-snapshot medium, with a timed tick.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure"
)]

#[allow(dead_code, reason = "each test file uses part of the harness")]
mod harness;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use harness::{Server, Setup, digests, fsck_clean, make_tree, plugin, run, tools};

const MIB: u64 = 1 << 20;

/// The `qsmm` binary: `QSMM_BIN`, or the one cargo built beside this test's `deps` directory.
fn qsmm_bin() -> Option<PathBuf> {
    let path = std::env::var_os("QSMM_BIN").map_or_else(
        || {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().join("qsmm")
        },
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "{} is not built (cargo build -p qsmm-cli, or set QSMM_BIN)",
        path.display()
    );
    harness::skip(&message);
    None
}

/// Runs `qsmm` with a private runtime directory.
fn qsmm(bin: &Path, runtime: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// nbdkit's process id, from the pidfile in the only mount's state directory.
fn nbdkit_pid(runtime: &Path) -> u32 {
    let base = runtime.join("qsmm");
    let state = fs::read_dir(&base).unwrap().next().unwrap().unwrap().path();
    fs::read_to_string(state.join("nbdkit.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn mount_copy_unmount_mount_and_a_crash() {
    if !tools(&[
        "nbdkit",
        "nbdfuse",
        "fuse2fs",
        "mkfs.ext4",
        "e2fsck",
        "debugfs",
        "nbdcopy",
    ]) || !harness::fuse()
    {
        return;
    }
    let Some(bin) = qsmm_bin() else { return };
    let setup = Setup::new(96 * MIB, &[16 * MIB, 32 * MIB]);
    let runtime = setup.path("run");
    fs::create_dir(&runtime).unwrap();
    let mnt = setup.path("mnt");
    let plugin = plugin();
    let mount = |extra: &[&str]| {
        let mut args = vec![
            "mount",
            setup.medium.to_str().unwrap(),
            mnt.to_str().unwrap(),
            "--passphrase-file",
            setup.passfiles[0].to_str().unwrap(),
            "--passphrase-file",
            setup.passfiles[1].to_str().unwrap(),
            "--volume",
            "1",
            "--commit-interval",
            "1",
            "--plugin",
            plugin.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        qsmm(&bin, &runtime, &args)
    };
    let unmount = || qsmm(&bin, &runtime, &["unmount", mnt.to_str().unwrap()]);

    // Mount with --mkfs: two passphrases, so no warning about unopened volumes.
    let stderr = ok(&mount(&["--mkfs"]));
    assert!(!stderr.contains("warning"), "{stderr}");
    let tree = setup.path("tree");
    make_tree(&tree, 50, 21);
    run("cp", &["-a", tree.to_str().unwrap(), mnt.to_str().unwrap()]);
    // A second mount of the same directory is refused while it is mounted.
    let again = mount(&[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already mounted"));
    ok(&unmount());
    assert!(!mnt.join("tree").exists(), "still mounted");

    ok(&mount(&[]));
    assert_eq!(digests(&mnt.join("tree")), digests(&tree));

    // More files, synced, then the commit interval passes and the server is killed.
    let later = setup.path("later");
    make_tree(&later, 30, 22);
    run(
        "cp",
        &["-a", later.to_str().unwrap(), mnt.to_str().unwrap()],
    );
    // `sync FILE…` (fsync: fuse2fs writes the file and its metadata to the NBD file, which
    // sends no flush), then the interval passes.
    let synced: Vec<String> = digests(&mnt.join("later"))
        .keys()
        .map(|relative| {
            mnt.join("later")
                .join(relative)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut sync_args: Vec<&str> = synced.iter().map(String::as_str).collect();
    let later_dir = mnt.join("later").to_string_lossy().into_owned();
    sync_args.push(&later_dir);
    run("sync", &sync_args);
    thread::sleep(Duration::from_secs(2));
    let pid = nbdkit_pid(&runtime);
    run("kill", &["-KILL", &pid.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{pid}/stat")).exists()
        && !fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
    {
        assert!(Instant::now() < deadline, "nbdkit survived SIGKILL");
        thread::sleep(Duration::from_millis(20));
    }
    let crashed = unmount();
    assert!(!crashed.status.success());
    let stderr = String::from_utf8_lossy(&crashed.stderr);
    assert!(stderr.contains("stopped unexpectedly"), "{stderr}");
    assert!(
        !runtime.join("qsmm").read_dir().unwrap().any(|_| true),
        "state left behind"
    );

    // The file system on the volume: e2fsck, then both trees.
    let params = [
        format!("passphrase-file={}", setup.passfiles[1].display()),
        "commit-interval=0".to_owned(),
    ];
    let server = Server::start(&setup.medium, &params).unwrap();
    let back = setup.path("back.img");
    harness::copy_out(&server, "", &back);
    server.stop();
    let status = Command::new("e2fsck")
        .args(["-fy", back.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(matches!(status.code(), Some(0 | 1)), "e2fsck -fy: {status}");
    fsck_clean(&back);
    let out = setup.path("out");
    fs::create_dir(&out).unwrap();
    for name in ["tree", "later"] {
        run(
            "debugfs",
            &[
                "-R",
                &format!("rdump /{name} {}", out.display()),
                back.to_str().unwrap(),
            ],
        );
    }
    assert_eq!(digests(&out.join("tree")), digests(&tree));
    assert_eq!(digests(&out.join("later")), digests(&later));

    // Mounting again works (the volume's own file system was not repaired, only the copy).
    ok(&mount(&[]));
    assert_eq!(digests(&mnt.join("tree")), digests(&tree));
    ok(&unmount());
}

#[test]
fn qsmm_mount_on_a_multi_snapshot_medium_keeps_the_decoy_and_the_hidden_volume() {
    if !tools(&[
        "nbdkit",
        "nbdfuse",
        "fuse2fs",
        "mkfs.ext4",
        "e2fsck",
        "nbdcopy",
    ]) || !harness::fuse()
    {
        return;
    }
    let Some(bin) = qsmm_bin() else { return };
    let setup = Setup::with_mode(
        96 * MIB,
        &[16 * MIB, 16 * MIB],
        qsmm_volume::SnapshotMode::Multi,
    );
    let runtime = setup.path("run");
    fs::create_dir(&runtime).unwrap();
    let mnt = setup.path("mnt");
    let hidden_mnt = setup.path("mnt-1");
    let plugin = plugin();
    let mount = |extra: &[&str]| {
        let mut args = vec![
            "mount",
            setup.medium.to_str().unwrap(),
            mnt.to_str().unwrap(),
            "--passphrase-file",
            setup.passfiles[0].to_str().unwrap(),
            "--passphrase-file",
            setup.passfiles[1].to_str().unwrap(),
            "--tick-rate",
            "4000",
            "--plugin",
            plugin.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        qsmm(&bin, &runtime, &args)
    };
    let unmount = || qsmm(&bin, &runtime, &["unmount", mnt.to_str().unwrap()]);
    let decoy_tree = setup.path("decoy");
    make_tree(&decoy_tree, 30, 31);
    let hidden_tree = setup.path("hidden");
    make_tree(&hidden_tree, 30, 32);

    ok(&mount(&["--mkfs"]));
    run(
        "cp",
        &["-a", decoy_tree.to_str().unwrap(), mnt.to_str().unwrap()],
    );
    run(
        "cp",
        &[
            "-a",
            hidden_tree.to_str().unwrap(),
            hidden_mnt.to_str().unwrap(),
        ],
    );
    ok(&unmount());
    ok(&mount(&[]));
    assert_eq!(digests(&mnt.join("decoy")), digests(&decoy_tree));
    assert_eq!(digests(&hidden_mnt.join("hidden")), digests(&hidden_tree));
    ok(&unmount());

    let params: Vec<String> = setup
        .passfiles
        .iter()
        .map(|p| format!("passphrase-file={}", p.display()))
        .collect();
    let server = Server::start(&setup.medium, &params).unwrap();
    for export in ["0", "1"] {
        let image = setup.path(&format!("back{export}.img"));
        harness::copy_out(&server, export, &image);
        fsck_clean(&image);
    }
    server.stop();
}

#[test]
fn a_single_read_write_passphrase_is_warned_about_once() {
    if !tools(&["nbdkit", "nbdfuse", "fuse2fs", "mkfs.ext4"]) || !harness::fuse() {
        return;
    }
    let Some(bin) = qsmm_bin() else { return };
    let setup = Setup::new(32 * MIB, &[8 * MIB]);
    let runtime = setup.path("run");
    fs::create_dir(&runtime).unwrap();
    let mnt = setup.path("mnt");
    let output = qsmm(
        &bin,
        &runtime,
        &[
            "mount",
            setup.medium.to_str().unwrap(),
            mnt.to_str().unwrap(),
            "--mkfs",
            "--passphrase-file",
            setup.passfiles[0].to_str().unwrap(),
            "--plugin",
            plugin().to_str().unwrap(),
        ],
    );
    let stderr = ok(&output);
    assert_eq!(stderr.matches("warning").count(), 1, "{stderr}");
    assert!(stderr.contains("every passphrase"), "{stderr}");
    assert!(mnt.join("lost+found").is_dir());
    ok(&qsmm(&bin, &runtime, &["unmount", mnt.to_str().unwrap()]));
    let missing = qsmm(&bin, &runtime, &["unmount", mnt.to_str().unwrap()]);
    assert!(!missing.status.success());
}

/// Every file under `root` (following no links), as paths.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn typed_passphrases_never_reach_a_file_or_a_command_line() {
    if !tools(&["nbdkit", "nbdinfo", "script"]) {
        return;
    }
    let Some(bin) = qsmm_bin() else { return };
    let setup = Setup::new(48 * MIB, &[8 * MIB, 8 * MIB]);
    let tmp = setup.path("tmp");
    let cwd = setup.path("cwd");
    fs::create_dir(&tmp).unwrap();
    fs::create_dir(&cwd).unwrap();
    let socket = setup.path("s.sock");
    let inner = format!(
        "exec {} serve {} --socket {} --exports 2 --plugin {}",
        bin.display(),
        setup.medium.display(),
        socket.display(),
        plugin().display()
    );
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command", &inner, "/dev/null"])
        .env("TMPDIR", &tmp)
        .current_dir(&cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (send, lines) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if send
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    let mut text = String::new();
    let mut wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !text.contains(needle) {
            assert!(Instant::now() < deadline, "no {needle:?} in {text:?}");
            if let Ok(chunk) = lines.recv_timeout(Duration::from_millis(100)) {
                text.push_str(&chunk);
            }
        }
        text.clone()
    };
    wait_for("Passphrase of volume 0");
    stdin.write_all(b"passphrase number 0\n").unwrap();
    wait_for("Passphrase of volume 1");
    stdin.write_all(b"passphrase number 1\n").unwrap();
    let shown = wait_for("serving");
    assert!(!shown.contains("passphrase number"), "echoed: {shown}");
    let uri = format!("nbd+unix:///1?socket={}", socket.display());
    assert_eq!(
        run("nbdinfo", &["--size", &uri]).trim(),
        (8 * MIB).to_string()
    );

    // nbdkit: its command line, its core limit.
    let qsmm_pid = fs::read_to_string(format!("/proc/{}/task/{0}/children", child.id()))
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| child.id().to_string());
    let nbdkit = fs::read_to_string(format!("/proc/{qsmm_pid}/task/{qsmm_pid}/children"))
        .unwrap()
        .split_whitespace()
        .next()
        .expect("nbdkit runs under qsmm serve")
        .to_owned();
    let cmdline = fs::read(format!("/proc/{nbdkit}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(!cmdline.contains("passphrase number"), "{cmdline}");
    assert!(!cmdline.contains("passphrase-file"), "{cmdline}");
    assert_eq!(cmdline.matches("passphrase-fd=").count(), 1, "{cmdline}");
    let limits = fs::read_to_string(format!("/proc/{nbdkit}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().nth(4),
        Some("0"),
        "core dumps: {core}"
    );

    // No file under TMPDIR or the working directory holds a passphrase.
    for file in files_under(&tmp).into_iter().chain(files_under(&cwd)) {
        let bytes = fs::read(&file).unwrap_or_default();
        let found = bytes
            .windows(b"passphrase number".len())
            .any(|w| w == b"passphrase number");
        assert!(!found, "{} holds a passphrase", file.display());
    }
    stdin.write_all(&[0x03]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "qsmm serve did not stop");
        thread::sleep(Duration::from_millis(20));
    }
}
