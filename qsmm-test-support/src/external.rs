//! Tests that need a program from outside the workspace (PostgreSQL, nbdkit, node, Chromium,
//! `age`, …).
//!
//! When the program is missing such a test skips: it prints `SKIPPED <binary> <test>: <why>`
//! straight to standard error (the harness captures `eprintln!` of passing tests) and appends the
//! same line to the file named by `QSMM_SKIP_LOG`, which `cargo xtask test` sets and prints as its
//! summary of skipped tests. With `QSMM_REQUIRE_EXTERNAL=1` (set by `.ci/run`) a missing program
//! fails the test instead.
//!
//! ```
//! use qsmm_test_support::external;
//!
//! if external::find_program("surely-not-an-installed-program").is_none() {
//!     // In a test: `external::skip("…")` and return.
//! }
//! ```

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The variable that makes a missing program fail its test.
pub const REQUIRE_VAR: &str = "QSMM_REQUIRE_EXTERNAL";

/// The variable naming the file skips are appended to.
pub const SKIP_LOG_VAR: &str = "QSMM_SKIP_LOG";

/// Whether a missing external program must fail the test: `QSMM_REQUIRE_EXTERNAL` is set to
/// anything but empty or `0`.
pub fn required() -> bool {
    std::env::var_os(REQUIRE_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Reports that the running test skips because `why` (a missing program); panics instead when
/// [`required`]. The test then returns without checking anything.
///
/// # Panics
///
/// Under `QSMM_REQUIRE_EXTERNAL`.
pub fn skip(why: &str) {
    let test = format!(
        "{} {}",
        test_binary(),
        std::thread::current()
            .name()
            .unwrap_or("(not a test thread)")
    );
    assert!(
        !required(),
        "{test} needs a program that is missing ({REQUIRE_VAR} is set): {why}"
    );
    let line = format!("SKIPPED {test}: {why}\n");
    let _printed = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os(SKIP_LOG_VAR)
        && let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _logged = log.write_all(line.as_bytes());
    }
}

/// [`skip`] for a whole test binary whose every test needs the program (a suite re-run on
/// PostgreSQL): reports once and ends the process with success, so no test of it runs on
/// something else in its place.
///
/// # Panics
///
/// Under `QSMM_REQUIRE_EXTERNAL`.
pub fn skip_binary(why: &str) -> ! {
    skip(&format!("{why}; the rest of this test binary is skipped"));
    std::process::exit(0)
}

/// The first file named `name` in a directory of `PATH`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Whether every program of `names` is on `PATH`; when one is missing, the test is reported
/// skipped ([`skip`], a failure under `QSMM_REQUIRE_EXTERNAL`) with the missing names and
/// `install` (how to get them).
///
/// # Panics
///
/// When a program is missing under `QSMM_REQUIRE_EXTERNAL`.
pub fn programs(names: &[&str], install: &str) -> bool {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| find_program(name).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    skip(&format!("missing {} ({install})", missing.join(", ")));
    false
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// The name of the running test binary, without the hash cargo appends (`api`, `paravoid`).
fn test_binary() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(OsStr::to_str)
        .unwrap_or("tests");
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_on_path_are_found_and_missing_ones_are_not() {
        assert!(find_program("sh").is_some(), "sh is on every PATH");
        assert!(find_program("qsmm-no-such-program-anywhere").is_none());
    }

    #[test]
    fn the_test_binary_name_drops_cargos_hash() {
        // This unit test binary is `qsmm_test_support-<hash>`.
        assert_eq!(test_binary(), "qsmm_test_support");
    }
}
