//! A mounted ext4 on a volume without kernel modules: `nbdfuse` exposes the export as a file,
//! `fuse2fs` mounts the file system on it; files written survive unmount, server restart and
//! remount byte for byte, and `e2fsck -fn` finds the file system clean.
#![allow(
    clippy::unwrap_used,
    clippy::let_underscore_must_use,
    reason = "test support outside the test functions; cleanup is best effort"
)]

#[allow(dead_code, reason = "each test file uses part of the harness")]
mod harness;

use std::fs;

use harness::{
    FuseMount, Setup, copy_in, copy_out, digests, fsck_clean, fuse, make_tree, mkfs_with,
};

const MIB: u64 = 1 << 20;

#[test]
fn ext4_mounted_through_fuse_survives_a_restart() {
    if !harness::tools(&[
        "nbdkit", "nbdfuse", "fuse2fs", "mke2fs", "e2fsck", "nbdcopy",
    ]) || !fuse()
    {
        return;
    }
    const SIZE: u64 = 32 * MIB;
    let setup = Setup::new(64 * MIB, &[SIZE]);
    let empty = setup.path("empty");
    fs::create_dir(&empty).unwrap();
    let image = setup.path("fs.img");
    mkfs_with(&image, SIZE, &empty);
    let tree = setup.path("tree");
    make_tree(&tree, 200, 7);
    let expected = digests(&tree);

    let server = setup.serve();
    copy_in(&server, "", &image);
    let nbd = FuseMount::nbdfuse(&server, "", &setup.path("nbd"));
    let fs_mount = FuseMount::fuse2fs(&setup.path("nbd/disk"), &setup.path("mnt"));
    harness::run(
        "cp",
        &[
            "-a",
            &format!("{}/.", tree.display()),
            setup.path("mnt").to_str().unwrap(),
        ],
    );
    fs_mount.unmount();
    nbd.unmount();
    server.stop();

    let server = setup.serve();
    let nbd = FuseMount::nbdfuse(&server, "", &setup.path("nbd"));
    let fs_mount = FuseMount::fuse2fs(&setup.path("nbd/disk"), &setup.path("mnt"));
    assert_eq!(digests(&setup.path("mnt")), expected);
    fs_mount.unmount();
    nbd.unmount();

    let back = setup.path("back.img");
    copy_out(&server, "", &back);
    server.stop();
    fsck_clean(&back);
}
