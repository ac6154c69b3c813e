//! nbdkit, the NBD client tools and FUSE for the tests of `qsmm-nbd` and `qsmm-cli`, and the
//! `qsmm-nbd` plugin itself.

use std::path::{Path, PathBuf};

use crate::{cargo_bin, external};

/// The Debian packages of the programs these tests use.
pub const PACKAGES: &str = "Debian packages nbdkit, libnbd-bin, nbdfuse, qemu-utils, e2fsprogs, \
                            fuse2fs";

/// Returns whether every program of `names` is on `PATH`; when one is missing the test is
/// reported skipped ([`external::skip`], a failure under `QSMM_REQUIRE_EXTERNAL=1`).
///
/// # Panics
///
/// When a program is missing under `QSMM_REQUIRE_EXTERNAL`.
pub fn tools(names: &[&str]) -> bool {
    external::programs(names, PACKAGES)
}

/// Returns whether FUSE mounts are possible here (root and `/dev/fuse`); like [`tools`] else.
///
/// # Panics
///
/// When they are not under `QSMM_REQUIRE_EXTERNAL`.
pub fn fuse() -> bool {
    let ok = Path::new("/dev/fuse").exists() && external::is_root();
    if !ok {
        external::skip("FUSE mounts need root and /dev/fuse");
    }
    ok
}

/// The plugin: `QSMM_NBD_PLUGIN`; else the `libqsmm_nbd.so` that `cargo test -p qsmm-nbd` built
/// beside the running test binary (in `target/<profile>/deps`), or that a build of the package
/// left one level up; else built now with `cargo build -p qsmm-nbd --lib` ([`cargo_bin`]).
///
/// # Panics
///
/// If the plugin is not there and cannot be built.
pub fn plugin() -> PathBuf {
    if let Some(path) = std::env::var_os("QSMM_NBD_PLUGIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    for dir in [deps, cargo_bin::profile_dir().as_path()] {
        let path = dir.join(PLUGIN_FILE);
        if path.is_file() {
            return path;
        }
    }
    cargo_bin::build(&["-p", "qsmm-nbd", "--lib"]);
    let path = cargo_bin::profile_dir().join(PLUGIN_FILE);
    assert!(path.is_file(), "plugin not built: {}", path.display());
    path
}

/// The plugin's file name.
const PLUGIN_FILE: &str = "libqsmm_nbd.so";
