//! Tests that need a program from outside the workspace (PostgreSQL, node, Chromium, curl).
//!
//! When the program is missing such a test skips: it prints `SKIPPED <test>: <why>` straight to
//! standard error (the harness captures `eprintln!` of passing tests) and appends the same line to
//! the file named by `QSMM_SKIP_LOG`, which `cargo xtask test` sets and prints as its summary of
//! skipped tests. With `QSMM_REQUIRE_EXTERNAL=1` (set by `.ci/run`) a missing program fails the
//! test instead.

use std::io::Write as _;

/// Whether a missing external program must fail the test: `QSMM_REQUIRE_EXTERNAL` is set to
/// anything but empty or `0`.
pub fn required() -> bool {
    std::env::var_os("QSMM_REQUIRE_EXTERNAL").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Reports that the running test skips because `why` (a missing program); panics instead when
/// [`required`]. The test then returns without checking anything.
///
/// # Panics
///
/// Under `QSMM_REQUIRE_EXTERNAL`.
pub fn skip(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("(not a test thread)")
        .to_owned();
    let test = format!("{} {test}", test_binary());
    assert!(
        !required(),
        "{test} needs a program that is missing (QSMM_REQUIRE_EXTERNAL is set): {why}"
    );
    let line = format!("SKIPPED {test}: {why}\n");
    let _printed = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os("QSMM_SKIP_LOG")
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
/// another store in its place.
///
/// # Panics
///
/// Under `QSMM_REQUIRE_EXTERNAL`.
pub fn skip_binary(why: &str) -> ! {
    skip(&format!("{why}; the rest of this test binary is skipped"));
    std::process::exit(0)
}

/// The name of the running test binary, without the hash cargo appends (`api`, `paravoid`).
fn test_binary() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(std::path::Path::file_stem)
        .and_then(std::ffi::OsStr::to_str)
        .unwrap_or("tests");
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.bytes().all(|b| b.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem.to_owned(),
    }
}
