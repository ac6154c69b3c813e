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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use harness::{Server, Setup, copy_in, copy_out, digests, fsck_clean, fuse, make_tree, mkfs_with};

const MIB: u64 = 1 << 20;

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
        harness::run("umount", &[self.mountpoint.to_str().unwrap()]);
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
