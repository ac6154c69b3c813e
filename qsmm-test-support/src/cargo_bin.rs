//! A binary of another package of the workspace, for a test that runs it (`qsmm-nbd`'s tests run
//! `qsmm`). Cargo gives a test the path of its own package's binaries (`CARGO_BIN_EXE_<name>`)
//! but not of another package's: this module builds it on demand, with the cargo that runs the
//! tests (`$CARGO`), into the same target directory and profile as the running test binary, so
//! nothing is built twice and the binary matches the code under test.
//!
//! ```no_run
//! let qsmm = qsmm_test_support::cargo_bin::cargo_bin("qsmm-cli", "qsmm");
//! assert!(qsmm.is_file());
//! ```

use std::path::PathBuf;
use std::process::Command;

/// The path of binary `bin` of workspace package `package`: `$QSMM_BIN_<BIN>` (upper case, `-`
/// as `_`) when set, else built now (`cargo build -p <package> --bin <bin>`; a no-op when it is
/// up to date) into `target/<profile>/<bin>`.
///
/// # Panics
///
/// If the build fails.
pub fn cargo_bin(package: &str, bin: &str) -> PathBuf {
    let var = format!("QSMM_BIN_{}", bin.to_ascii_uppercase().replace('-', "_"));
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    build(&["-p", package, "--bin", bin]);
    let path = profile_dir().join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// Runs `cargo build <args>` for the running test binary's target directory and profile.
///
/// # Panics
///
/// If cargo cannot run or the build fails.
pub fn build(args: &[&str]) {
    let profile_dir = profile_dir();
    let profile = profile_dir
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("debug")
        .to_owned();
    let target_dir = profile_dir.parent().unwrap().to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--quiet")
        .args(args)
        .arg("--manifest-path")
        .arg(workspace_manifest())
        .env("CARGO_TARGET_DIR", &target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// The profile directory of the running test binary (`target/debug` for
/// `target/debug/deps/<test>`).
///
/// # Panics
///
/// If the running binary's path has fewer than two parents.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let dir = if deps.file_name().is_some_and(|name| name == "deps") {
        deps.parent().unwrap()
    } else {
        deps
    };
    dir.to_path_buf()
}

/// The workspace's `Cargo.toml` (this crate is one of its members).
fn workspace_manifest() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
}
