//! nbdkit killed with SIGKILL in the middle of a write load: after serving again, every write
//! acknowledged before the last completed flush reads back, and later writes read back old or
//! new, never an error. With ext4 mounted through `fuse2fs` at the kill, `e2fsck -fy` recovers
//! and the files synced before the kill are intact.
#![allow(
    clippy::unwrap_used,
    clippy::let_underscore_must_use,
    reason = "test support outside the test functions; cleanup is best effort"
)]

#[allow(dead_code, reason = "each test file uses part of the harness")]
mod harness;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread;
use std::time::Duration;

use harness::{NbdClient, Setup, copy_in, copy_out, fsck_clean, make_tree, mkfs_with, run};

const MIB: u64 = 1 << 20;
const BLOCK: usize = 4096;

/// The contents write `i` puts in slot `i`: its index in every 8 bytes.
fn block_of(i: u64) -> Vec<u8> {
    let mut block = Vec::with_capacity(BLOCK);
    while block.len() < BLOCK {
        block.extend_from_slice(&(i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    }
    block
}

#[test]
fn acknowledged_and_flushed_writes_survive_a_kill() {
    if !harness::tools(&["nbdkit"]) {
        return;
    }
    const SIZE: u64 = 16 * MIB;
    let slots = SIZE / BLOCK as u64;
    let setup = Setup::new(64 * MIB, &[SIZE]);
    let server = setup.serve();

    // The writer: slot i gets block_of(i), in a shuffled order, a flush after every 7 writes.
    // `flushed` is the number of writes that a completed flush covers.
    let flushed = Arc::new(AtomicI64::new(-1));
    let mut client = NbdClient::connect(&server, "").unwrap();
    assert_eq!(client.size(), SIZE);
    let order: Vec<u64> = (0..slots).map(|i| (i * 2_654_435_761) % slots).collect();
    let writer = {
        let flushed = Arc::clone(&flushed);
        let order = order.clone();
        thread::spawn(move || {
            for (n, &slot) in order.iter().enumerate() {
                if client.write(slot * BLOCK as u64, &block_of(slot)).is_err() {
                    return;
                }
                if n % 7 == 6 {
                    if client.flush().is_err() {
                        return;
                    }
                    flushed.store(i64::try_from(n + 1).unwrap(), Ordering::SeqCst);
                }
            }
        })
    };
    while flushed.load(Ordering::SeqCst) < 200 {
        assert!(!writer.is_finished(), "the writer stopped early");
        thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    writer.join().unwrap();
    let durable = usize::try_from(flushed.load(Ordering::SeqCst)).unwrap();
    assert!(
        durable >= 200 && durable < order.len(),
        "the kill came after the load"
    );

    let server = setup.serve();
    let mut client = NbdClient::connect(&server, "").unwrap();
    let mut buf = vec![0u8; BLOCK];
    let (mut new, mut old) = (0, 0);
    for (n, &slot) in order.iter().enumerate() {
        client.read(slot * BLOCK as u64, &mut buf).unwrap();
        if n < durable {
            assert!(
                buf == block_of(slot),
                "flushed write {n} (slot {slot}) lost"
            );
        } else if buf == block_of(slot) {
            new += 1;
        } else {
            assert!(
                buf.iter().all(|&b| b == 0),
                "slot {slot} holds neither old nor new"
            );
            old += 1;
        }
    }
    eprintln!("{durable} flushed writes intact; after them {new} new, {old} old");
    drop(client);
    server.stop();
}

/// Lazily unmounts a FUSE mount point and kills its daemon (used after the server died).
fn abandon(mountpoint: &Path, daemon: &mut std::process::Child) {
    let _ = Command::new("umount").arg("-l").arg(mountpoint).status();
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[test]
fn ext4_mounted_at_the_kill_recovers_with_fsck() {
    if !harness::tools(&[
        "nbdkit", "nbdfuse", "fuse2fs", "mke2fs", "e2fsck", "debugfs", "nbdcopy",
    ]) || !harness::fuse()
    {
        return;
    }
    const SIZE: u64 = 32 * MIB;
    let setup = Setup::new(64 * MIB, &[SIZE]);
    let empty = setup.path("empty");
    fs::create_dir(&empty).unwrap();
    let image = setup.path("fs.img");
    mkfs_with(&image, SIZE, &empty);
    let synced = setup.path("synced");
    make_tree(&synced, 60, 3);
    let unsynced = setup.path("unsynced");
    make_tree(&unsynced, 60, 4);

    let server = setup.serve();
    copy_in(&server, "", &image);
    let nbd_dir = setup.path("nbd");
    let mnt = setup.path("mnt");
    fs::create_dir_all(&nbd_dir).unwrap();
    fs::create_dir_all(&mnt).unwrap();
    let mut nbdfuse = Command::new("nbdfuse")
        .arg(nbd_dir.join("disk"))
        .arg(server.uri(""))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    while !nbd_dir.join("disk").exists() {
        thread::sleep(Duration::from_millis(20));
    }
    let mut fuse2fs = Command::new("fuse2fs")
        .arg(nbd_dir.join("disk"))
        .arg(&mnt)
        .arg("-f")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    while !mnt.join("lost+found").exists() {
        thread::sleep(Duration::from_millis(20));
    }
    run(
        "cp",
        &[
            "-a",
            &format!("{}/synced", setup.dir.path().display()),
            mnt.to_str().unwrap(),
        ],
    );
    // fsync of a file makes fuse2fs write all its metadata and flush the NBD export.
    let mut files: Vec<String> = Vec::new();
    for relative in harness::digests(&mnt.join("synced")).keys() {
        files.push(
            mnt.join("synced")
                .join(relative)
                .to_string_lossy()
                .into_owned(),
        );
    }
    let mut sync_args: Vec<&str> = files.iter().map(String::as_str).collect();
    let synced_dir = mnt.join("synced");
    let synced_dir = synced_dir.to_string_lossy().into_owned();
    sync_args.push(&synced_dir);
    run("sync", &sync_args);
    // fuse2fs has written everything the fsyncs cover to the export; whether nbdfuse passes
    // fsync on as an NBD flush depends on its version, so flush from a second connection too
    // (multi-conn: a flush covers the writes completed on every connection).
    NbdClient::connect(&server, "").unwrap().flush().unwrap();
    // More files, not synced, then the crash in the middle of writing.
    let _ = Command::new("cp")
        .args(["-a", &format!("{}/unsynced", setup.dir.path().display())])
        .arg(&mnt)
        .status();
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
    // 0: clean, 1: errors corrected.
    assert!(matches!(status.code(), Some(0 | 1)), "e2fsck -fy: {status}");
    fsck_clean(&back);
    let out = setup.path("out");
    fs::create_dir(&out).unwrap();
    run(
        "debugfs",
        &[
            "-R",
            &format!("rdump /synced {}", out.display()),
            back.to_str().unwrap(),
        ],
    );
    assert_eq!(
        harness::digests(&out.join("synced")),
        harness::digests(&synced)
    );
}
