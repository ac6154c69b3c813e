//! `cargo xtask test`: the workspace's test suite (`cargo test --workspace --all-features`),
//! followed by a summary of the tests that skipped because a program they need is missing.
//!
//! Tests that need a program from outside the workspace (nbdkit, Chromium, node, PostgreSQL, …)
//! skip when it is missing: they print `SKIPPED <test>: <why>` and append that line to the file
//! named by `QSMM_SKIP_LOG`, which this command sets to a fresh file in the target directory and
//! prints after the run. With `QSMM_REQUIRE_EXTERNAL=1` (set by `.ci/run`) such a test fails
//! instead, so under CI the summary is always empty.
//!
//! The suite shares one throwaway PostgreSQL server, started here when PostgreSQL is installed.

use std::path::PathBuf;
use std::process::Command;

use qsmm_test_support::pg_cluster::{self, Durability, PgCluster};

/// What `cargo xtask test` (the README's test command) and the CI test step run.
pub(crate) const TEST_ARGS: &[&str] = &["test", "--workspace", "--all-features"];

/// Runs `cargo xtask test [EXTRA...]`: the extra arguments go to `cargo test` after
/// [`TEST_ARGS`] (for example `-- --nocapture`).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if run_with_summary(args)? {
        Ok(())
    } else {
        Err("the test suite failed".into())
    }
}

/// Runs the suite with a fresh skip log and prints the summary; whether the suite passed.
pub(crate) fn run_with_summary(extra: &[String]) -> Result<bool, String> {
    let log = skip_log_path();
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::remove_file(&log) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", log.display())),
    }
    let mut command = Command::new("cargo");
    command
        .args(TEST_ARGS)
        .args(extra)
        .current_dir(workspace_root())
        .env(qsmm_test_support::external::SKIP_LOG_VAR, &log);
    let cluster = shared_postgres(&mut command);
    let status = command
        .status()
        .map_err(|e| format!("cannot start cargo test: {e}"))?;
    drop(cluster);
    print_summary(&log);
    Ok(status.success())
}

/// Starts the PostgreSQL server the test binaries share (each test makes databases of its own
/// there; tests that stop or restart PostgreSQL start clusters of their own) and names it to
/// `command`, unless one is named already. Without PostgreSQL the tests that need it skip (or
/// fail under `QSMM_REQUIRE_EXTERNAL`) on their own; the server stops when the result is
/// dropped.
fn shared_postgres(command: &mut Command) -> Option<PgCluster> {
    if std::env::var_os(pg_cluster::SHARED_SOCKET_VAR).is_some() {
        return None;
    }
    match PgCluster::try_start(Durability::Fast) {
        Ok(cluster) => {
            println!(
                "throwaway PostgreSQL cluster for the tests on {}",
                cluster.socket_dir().display()
            );
            command.env(pg_cluster::SHARED_SOCKET_VAR, cluster.socket_dir());
            Some(cluster)
        }
        Err(why) => {
            println!("no shared PostgreSQL cluster for the tests: {why}");
            None
        }
    }
}

/// Prints the tests the skip log names, or that none skipped.
fn print_summary(log: &std::path::Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.sort_unstable();
    let required = qsmm_test_support::external::required();
    println!();
    if lines.is_empty() {
        println!(
            "skipped for a missing program: none{}",
            if required {
                " (QSMM_REQUIRE_EXTERNAL is set: a missing program fails its test)"
            } else {
                ""
            }
        );
    } else {
        println!(
            "skipped for a missing program: {} (install them, see .ci/run):",
            lines.len()
        );
        for line in lines {
            println!("  {line}");
        }
    }
}

/// The skip log: `qsmm-skipped-tests.txt` in the target directory.
fn skip_log_path() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("qsmm-skipped-tests.txt")
}

/// The workspace root (the parent of this crate's directory).
pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}
