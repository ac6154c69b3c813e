//! Project automation, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask test [-- ARGS]`: the whole test suite (`cargo test --workspace --all-features`),
//!   then the list of tests skipped because a program they need is missing.
//! - `cargo xtask ci [--full] [STEP...]`: every check CI runs, in the order CI runs them, with a
//!   timing per step. `.ci/run` installs what a fresh machine lacks and then calls
//!   `cargo xtask ci --full`, so the steps are defined once, here.
//! - `cargo xtask msrv`: checks that the declared `rust-version` is the pinned toolchain.
//! - `cargo xtask layout`: no source file above 700 lines, no two modules of a crate importing
//!   each other.
//! - `cargo xtask api [--bless]`: one public path per item in every library crate, and the
//!   public API compared with the snapshots in `xtask/api/`.
//! - `cargo xtask bench [--quick] [FILTER]`: criterion benchmarks, reported as ratios to the raw
//!   primitives they wrap, in `target/bench-report.md`.
//! - `cargo xtask loadtest [--clients N] [--seconds S] [--message-bytes B] [--store redb|postgres]
//!   [--instances N] [--attack argon2 [--attackers A]]`: paravoid servers under concurrent HTTP
//!   load, against the note scheme's crypto-only bound and the store's commit latency; with
//!   `--attack argon2`, beside the same load under an Argon2id attack.
//! - `cargo xtask adversary [--quick] [--mode single]`: an adversary who images a medium after
//!   every mount tries to tell a decoy alone from a decoy with hidden volumes.
//! - `cargo xtask fuzz [--seconds N] [TARGET...]`: the libFuzzer targets of `fuzz/`, N seconds
//!   each, with runs and coverage per target.

mod adversary;
mod api;
mod bench;
mod ci;
mod fuzz;
mod layout;
mod loadtest;
mod msrv;
mod postgres;
mod test;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("adversary") => adversary::run(&args[1..]),
        Some("ci") => ci::run(&args[1..]),
        Some("msrv") => msrv::run(),
        Some("api") => api::run(&args[1..]),
        Some("layout") => layout::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("loadtest") => loadtest::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print_usage();
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`; try `cargo xtask help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_usage() {
    println!(
        "usage: cargo xtask <command>\n\n\
         commands:\n  \
         test [-- ARGS]          the whole test suite, then the tests skipped for a\n                          \
         missing program\n  \
         ci [--list] [--full] [STEP...]\n                          \
         run the CI checks (all, or the named steps; --full adds\n                          \
         fuzz and schemathesis)\n  \
         msrv                    check that rust-version is the pinned toolchain\n  \
         layout                  file sizes and module import cycles\n  \
         api [--bless]           one public path per item; compare the API snapshots\n  \
         bench [--quick] [FILTER]  run the criterion benchmarks, print ours vs raw\n  \
         bench volume [--quick]  NBD export: qsmm plugin vs qemu-nbd raw and LUKS2\n  \
         loadtest [--clients N] [--seconds S] [--message-bytes B]\n                          \
         [--store redb|postgres] [--instances N]\n                          \
         [--attack argon2 [--attackers A]]\n                          \
         load-test paravoid servers against the crypto-only bound\n  \
         adversary [--quick] [--mode single] [--control] [--trials N] [--mounts M]\n                          \
         [--mib S] [--seed X]\n                          \
         multi-snapshot adversary: decoy alone vs decoy with hidden volumes\n  \
         fuzz [--seconds N] [--list] [TARGET...]\n                          \
         run the libFuzzer targets (all by default), N seconds each\n"
    );
}
