//! A skip for a missing program is printed and logged, and fails the test under
//! `QSMM_REQUIRE_EXTERNAL`: each case re-runs this test binary's `child` test in a process of its
//! own, with the variables set there only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure"
)]

use std::process::{Command, Output};

use qsmm_test_support::external;

/// The test the cases below run in a child process: it skips.
#[test]
#[ignore = "run by the other tests of this file, in a child process"]
fn child() {
    external::skip("no frobnicator here");
}

/// Runs [`child`] with `envs` and returns its output.
fn run_child(envs: &[(&str, &std::ffi::OsStr)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--ignored", "--nocapture"])
        .env_remove(external::REQUIRE_VAR)
        .env_remove(external::SKIP_LOG_VAR);
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn a_skip_is_printed_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skipped.txt");
    std::fs::write(&log, "SKIPPED earlier: kept\n").unwrap();
    let output = run_child(&[(external::SKIP_LOG_VAR, log.as_os_str())]);
    assert!(output.status.success(), "{output:?}");
    let line = "SKIPPED skip child: no frobnicator here\n";
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(line),
        "{output:?}"
    );
    // Appended: the lines of earlier test binaries stay.
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("SKIPPED earlier: kept\n{line}")
    );
}

#[test]
fn a_skip_fails_the_test_when_external_programs_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skipped.txt");
    let output = run_child(&[
        (external::REQUIRE_VAR, "1".as_ref()),
        (external::SKIP_LOG_VAR, log.as_os_str()),
    ]);
    assert!(!output.status.success(), "{output:?}");
    let printed = [output.stdout.as_slice(), output.stderr.as_slice()].concat();
    assert!(
        String::from_utf8_lossy(&printed).contains("QSMM_REQUIRE_EXTERNAL is set"),
        "{output:?}"
    );
    assert!(!log.exists(), "a failure is not logged as a skip");
}

#[test]
fn zero_and_empty_do_not_require() {
    for value in ["0", ""] {
        let output = run_child(&[(external::REQUIRE_VAR, value.as_ref())]);
        assert!(output.status.success(), "{value:?}: {output:?}");
    }
}
