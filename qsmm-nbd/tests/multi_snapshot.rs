//! The server on a multi-snapshot medium: ext4 on the decoy and on the hidden volume, both
//! served, survives mkfs, writes, a restart and `e2fsck`; and the server closes the hidden
//! volume before the decoy, so that a mount writes the same number of blocks outside the root
//! area whatever the hidden volume wrote.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    reason = "tests panic on failure; sector tags and counts are small"
)]

#[allow(dead_code, reason = "each test file uses part of the harness")]
mod harness;

use std::fs;
use std::path::Path;

use harness::{
    FuseMount, NbdClient, Server, Setup, copy_out, digests, fsck_clean, fuse, make_tree, run, tools,
};
use qsmm_volume::{DEFAULT_TICK_SLOTS, Medium, SnapshotMode, Volume};

const MIB: u64 = 1 << 20;
/// The root area: blocks 1..=128, rewritten by every mount.
const ROOT_AREA: core::ops::Range<usize> = 1..129;

fn serve(setup: &Setup, extra: &[&str]) -> Server {
    let mut params: Vec<String> = setup
        .passfiles
        .iter()
        .map(|p| format!("passphrase-file={}", p.display()))
        .collect();
    params.extend(extra.iter().map(|s| (*s).to_owned()));
    Server::start(&setup.medium, &params).unwrap()
}

/// Blocks outside block 0 and the root area whose bytes differ between two images.
fn changed_outside_root_area(before: &[u8], after: &[u8]) -> usize {
    before
        .chunks_exact(4096)
        .zip(after.chunks_exact(4096))
        .enumerate()
        .filter(|(i, (a, b))| *i >= ROOT_AREA.end && a != b)
        .count()
}

#[test]
fn the_hidden_volume_closes_before_the_decoy_and_a_mount_writes_the_same_whatever_it_wrote() {
    if !tools(&["nbdkit"]) {
        return;
    }
    for hidden_sectors in [0u64, 40] {
        let setup = Setup::with_mode(32 * MIB, &[4 * MIB, 8 * MIB], SnapshotMode::Multi);
        let before = fs::read(&setup.medium).unwrap();
        // No timer: the mount spends a fixed budget of slots, the hidden volume's last flush
        // included, as long as it closes before the decoy ends the mount.
        let server = serve(&setup, &["commit-interval=0", "tick-rate=0"]);
        let mut client = NbdClient::connect(&server, "1").unwrap();
        for lba in 0..hidden_sectors {
            client.write(lba * 4096, &[0x5A ^ lba as u8; 4096]).unwrap();
        }
        drop(client);
        // Unflushed: the server's unload makes them durable.
        server.stop();
        let after = fs::read(&setup.medium).unwrap();
        assert_eq!(
            changed_outside_root_area(&before, &after) as u64,
            DEFAULT_TICK_SLOTS,
            "{hidden_sectors} hidden sectors written"
        );
        for block in ROOT_AREA {
            let at = block * 4096;
            assert_ne!(before[at..at + 4096], after[at..at + 4096], "block {block}");
        }
        let medium = Medium::open(&setup.medium).unwrap();
        let pass = fs::read_to_string(&setup.passfiles[1]).unwrap();
        let hidden = Volume::open(&medium, pass.trim_end().as_bytes()).unwrap();
        for lba in 0..hidden_sectors {
            let mut buf = [0u8; 4096];
            hidden.read(lba, &mut buf).unwrap();
            assert_eq!(buf, [0x5A ^ lba as u8; 4096], "sector {lba}");
        }
    }
}

/// `mke2fs` on the export seen through `nbdfuse`, then the tree copied in through `fuse2fs`.
fn mkfs_and_fill(server: &Server, export: &str, setup: &Setup, tree: &Path) {
    let nbd_dir = setup.path(&format!("nbd{export}"));
    let nbd = FuseMount::nbdfuse(server, export, &nbd_dir);
    let disk = nbd_dir.join("disk");
    run(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-t",
            "ext4",
            "-b",
            "4096",
            disk.to_str().unwrap(),
        ],
    );
    let mnt = setup.path(&format!("mnt{export}"));
    let fs_mount = FuseMount::fuse2fs(&disk, &mnt);
    run(
        "cp",
        &[
            "-a",
            &format!("{}/.", tree.display()),
            mnt.to_str().unwrap(),
        ],
    );
    fs_mount.unmount();
    nbd.unmount();
}

/// The files of the file system on an export.
fn mounted_digests(
    server: &Server,
    export: &str,
    setup: &Setup,
) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    let nbd_dir = setup.path(&format!("nbd{export}"));
    let nbd = FuseMount::nbdfuse(server, export, &nbd_dir);
    let mnt = setup.path(&format!("mnt{export}"));
    let fs_mount = FuseMount::fuse2fs(&nbd_dir.join("disk"), &mnt);
    let found = digests(&mnt);
    fs_mount.unmount();
    nbd.unmount();
    found
}

#[test]
fn ext4_on_the_decoy_and_the_hidden_volume_of_a_multi_snapshot_medium() {
    if !tools(&[
        "nbdkit", "nbdfuse", "fuse2fs", "mke2fs", "e2fsck", "nbdcopy",
    ]) || !fuse()
    {
        return;
    }
    let setup = Setup::with_mode(64 * MIB, &[16 * MIB, 16 * MIB], SnapshotMode::Multi);
    let decoy_tree = setup.path("decoy-tree");
    make_tree(&decoy_tree, 60, 3);
    let hidden_tree = setup.path("hidden-tree");
    make_tree(&hidden_tree, 60, 4);
    // A timed tick carries the hidden volume's writes, and a periodic commit runs.
    let extra = ["tick-rate=4000", "commit-interval=1"];

    let server = serve(&setup, &extra);
    mkfs_and_fill(&server, "0", &setup, &decoy_tree);
    mkfs_and_fill(&server, "1", &setup, &hidden_tree);
    server.stop();

    let server = serve(&setup, &extra);
    assert_eq!(mounted_digests(&server, "0", &setup), digests(&decoy_tree));
    assert_eq!(mounted_digests(&server, "1", &setup), digests(&hidden_tree));
    let decoy_image = setup.path("decoy.img");
    let hidden_image = setup.path("hidden.img");
    copy_out(&server, "0", &decoy_image);
    copy_out(&server, "1", &hidden_image);
    server.stop();
    fsck_clean(&decoy_image);
    fsck_clean(&hidden_image);
}
