//! Periodic commit through nbdkit: writes that no client flushed survive a SIGKILL of the
//! server once the commit interval has passed, on the raw export and through nbdfuse + fuse2fs
//! (whose `fsync` sends no NBD flush); with `commit-interval=0` the same kill loses them.
#![allow(
    clippy::unwrap_used,
    clippy::let_underscore_must_use,
    reason = "tests panic on failure; cleanup is best effort"
)]

#[allow(dead_code, reason = "each test file uses part of the harness")]
mod harness;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use harness::{NbdClient, Server, Setup, copy_out, fsck_clean, make_tree, run};

const MIB: u64 = 1 << 20;

fn serve_with_interval(setup: &Setup, seconds: u64) -> Server {
    let params = [
        format!("passphrase-file={}", setup.passfiles[0].display()),
        format!("commit-interval={seconds}"),
    ];
    Server::start(&setup.medium, &params).unwrap()
}

/// Writes one block without a flush, waits `wait`, kills the server; returns the block read
/// back from a fresh server.
fn unflushed_write_then_kill(setup: &Setup, interval: u64, wait: Duration) -> Vec<u8> {
    let server = serve_with_interval(setup, interval);
    let mut client = NbdClient::connect(&server, "").unwrap();
    client.write(8192, &[0x5a; 4096]).unwrap();
    thread::sleep(wait);
    server.kill();
    drop(client);
    let server = setup.serve();
    let mut client = NbdClient::connect(&server, "").unwrap();
    let mut buf = vec![0u8; 4096];
    client.read(8192, &mut buf).unwrap();
    drop(client);
    server.stop();
    buf
}

#[test]
fn an_unflushed_write_survives_a_kill_after_the_interval() {
    if !harness::tools(&["nbdkit"]) {
        return;
    }
    let setup = Setup::new(32 * MIB, &[4 * MIB]);
    // N + 1 seconds after the write, with N = 1.
    let kept = unflushed_write_then_kill(&setup, 1, Duration::from_secs(2));
    assert!(kept == vec![0x5a; 4096], "the committed write was lost");
    // The control: committing only on flush, the same kill loses the write.
    let setup = Setup::new(32 * MIB, &[4 * MIB]);
    let lost = unflushed_write_then_kill(&setup, 0, Duration::from_secs(2));
    assert!(lost == vec![0; 4096], "a write survived without any commit");
}

/// Lazily unmounts a FUSE mount point and kills its daemon (used after the server died).
fn abandon(mountpoint: &Path, daemon: &mut std::process::Child) {
    let _ = Command::new("umount").arg("-l").arg(mountpoint).status();
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[test]
fn a_synced_file_through_fuse2fs_survives_a_kill_after_the_interval() {
    if !harness::tools(&[
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
    const SIZE: u64 = 32 * MIB;
    let setup = Setup::new(64 * MIB, &[SIZE]);
    let tree = setup.path("tree");
    make_tree(&tree, 40, 11);

    // The README path: nbdfuse, mkfs.ext4 on its file, fuse2fs, copy, sync. Nothing flushes
    // the NBD export (neither `sync` nor unmounting happens before the kill).
    let server = serve_with_interval(&setup, 1);
    let nbd_dir = setup.path("nbd");
    let mnt = setup.path("mnt");
    fs::create_dir_all(&nbd_dir).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let disk = nbd_dir.join("disk");
    let mut nbdfuse = Command::new("nbdfuse")
        .arg(&disk)
        .arg(server.uri(""))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    while !disk.exists() {
        thread::sleep(Duration::from_millis(20));
    }
    run(
        "mkfs.ext4",
        &["-q", "-F", "-b", "4096", disk.to_str().unwrap()],
    );
    let mut fuse2fs = Command::new("fuse2fs")
        .arg(&disk)
        .arg(&mnt)
        .arg("-f")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    while !mnt.join("lost+found").exists() {
        thread::sleep(Duration::from_millis(20));
    }
    run("cp", &["-a", tree.to_str().unwrap(), mnt.to_str().unwrap()]);
    run("sync", &["-f", mnt.join("tree").to_str().unwrap()]);
    run("sync", &[]);
    // N + 1 seconds, then the crash.
    thread::sleep(Duration::from_secs(2));
    server.kill();
    abandon(&mnt, &mut fuse2fs);
    abandon(&nbd_dir, &mut nbdfuse);

    let server = setup.serve();
    let back = setup.path("back.img");
    copy_out(&server, "", &back);
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
    run(
        "debugfs",
        &[
            "-R",
            &format!("rdump /tree {}", out.display()),
            back.to_str().unwrap(),
        ],
    );
    assert_eq!(harness::digests(&out.join("tree")), harness::digests(&tree));
}
