//! `cargo xtask fuzz [--seconds N] [TARGET...]`: the libFuzzer targets of `fuzz/`, each for a
//! fixed time, with a summary of runs, coverage and time per target.
//!
//! cargo-fuzz needs nightly-only compiler flags (`-Zsanitizer`, sancov passes); on the pinned
//! stable toolchain (`rust-toolchain.toml`) they are enabled with `RUSTC_BOOTSTRAP=1`, set here
//! for the fuzz commands only, never for the workspace's own build. There is no alternative on
//! the machines CI runs on: they cannot download a nightly toolchain, and one installed by hand
//! would be a second, unpinned compiler whose results CI could not reproduce.
//! Targets are built without a sanitizer (`-s none`): the code under test forbids `unsafe`, so
//! the address sanitizer would mostly slow the search; panics, overflow checks (debug assertions are
//! on) and libFuzzer's own leak, timeout and memory limits still apply. Pass
//! `--sanitizer address` to use it anyway.
//!
//! New inputs go to `fuzz/target/corpus/<target>/` (ignored by git); the committed seeds in
//! `fuzz/corpus/<target>/` are only read. A crash leaves its input in
//! `fuzz/artifacts/<target>/` and fails the command.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The fuzz targets, in the order they run.
pub(crate) const TARGETS: &[&str] = &[
    "wrapped_key",
    "kem_decoders",
    "dsa_decoders_verify",
    "xwing_decoders",
    "open_block",
    "mesh_reconstruct",
    "proof_decode_verify",
    "halo2_proof_decode_verify",
    "note_decoders",
    "age_header_stanzas",
    "age_decrypt",
    "attachment_bundle",
    "paravoid_http",
    "volume_open",
];

/// Seconds per target unless `--seconds` says otherwise.
const DEFAULT_SECONDS: u64 = 30;

/// What one target's run reported.
struct Outcome {
    target: &'static str,
    runs: Option<u64>,
    cov: Option<u64>,
    ft: Option<u64>,
    corpus: Option<String>,
    seconds: f64,
    ok: bool,
}

/// Parses the arguments, makes sure cargo-fuzz is installed, builds every target once and runs
/// the selected ones in turn.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut sanitizer = String::from("none");
    let mut selected: Vec<&'static str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or("`--seconds` needs a positive number")?;
            }
            "--sanitizer" => sanitizer = args.next().ok_or("`--sanitizer` needs a value")?.clone(),
            "--list" => {
                TARGETS.iter().for_each(|t| println!("{t}"));
                return Ok(());
            }
            name => selected.push(
                TARGETS
                    .iter()
                    .find(|t| **t == name)
                    .ok_or_else(|| format!("unknown fuzz target `{name}`; try `--list`"))?,
            ),
        }
    }
    if selected.is_empty() {
        selected = TARGETS.to_vec();
    }

    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    ensure_cargo_fuzz()?;
    println!("==> building the fuzz targets (sanitizer: {sanitizer})");
    let status = fuzz_command(&fuzz_dir)
        .args(["build", "-s", &sanitizer])
        .status()
        .map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
    if !status.success() {
        return Err("building the fuzz targets failed".into());
    }

    let mut outcomes = Vec::new();
    for target in selected {
        println!("==> fuzzing {target} for {seconds} s");
        outcomes.push(run_target(&fuzz_dir, target, seconds, &sanitizer)?);
    }

    println!(
        "\n{:<22} {:>12} {:>7} {:>8} {:>16} {:>8}",
        "target", "runs", "cov", "ft", "corpus", "time"
    );
    for o in &outcomes {
        let show = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        println!(
            "{:<22} {:>12} {:>7} {:>8} {:>16} {:>7.0}s  {}",
            o.target,
            show(o.runs),
            show(o.cov),
            show(o.ft),
            o.corpus.as_deref().unwrap_or("?"),
            o.seconds,
            if o.ok { "ok" } else { "FAILED" }
        );
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.target)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz targets failed: {}", failed.join(", ")))
    }
}

/// Runs one target for `seconds`, echoing libFuzzer's status lines, and parses its summary.
fn run_target(
    fuzz_dir: &Path,
    target: &'static str,
    seconds: u64,
    sanitizer: &str,
) -> Result<Outcome, String> {
    let work = fuzz_dir.join("target/corpus").join(target);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let seeds = PathBuf::from("corpus").join(target);
    let start = Instant::now();
    let mut child = fuzz_command(fuzz_dir)
        .args(["run", "-s", sanitizer, target])
        .arg(&work)
        .arg(&seeds)
        .args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-timeout=20",
            "-rss_limit_mb=4096",
            "-print_final_stats=1",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
    let mut outcome = Outcome {
        target,
        runs: None,
        cov: None,
        ft: None,
        corpus: None,
        seconds: 0.0,
        ok: false,
    };
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Progress lines (`#N ... cov: ...`) only when libFuzzer reports a milestone, plus
            // everything that is not a progress line (errors, crash reports, final stats).
            let progress = line.starts_with('#');
            if !progress
                || line.contains("DONE")
                || line.contains("INITED")
                || line.contains("pulse")
            {
                eprintln!("{line}");
            }
            if progress {
                outcome.cov = field(&line, "cov:").or(outcome.cov);
                outcome.ft = field(&line, "ft:").or(outcome.ft);
                outcome.corpus = word_after(&line, "corp:").or(outcome.corpus.take());
            }
            if let Some(runs) = line.strip_prefix("stat::number_of_executed_units:") {
                outcome.runs = runs.trim().parse().ok();
            }
        }
    }
    let status = child.wait().map_err(|e| format!("cargo fuzz: {e}"))?;
    outcome.seconds = start.elapsed().as_secs_f64();
    outcome.ok = status.success();
    Ok(outcome)
}

/// `cargo fuzz` in `fuzz/`, with the nightly flags unlocked and cargo-fuzz's own target dir.
fn fuzz_command(fuzz_dir: &Path) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("fuzz")
        .current_dir(fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("CARGO_TARGET_DIR");
    command
}

/// Installs cargo-fuzz from crates.io if `cargo fuzz` is not available.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    println!("==> installing cargo-fuzz");
    let status = Command::new("cargo")
        .args(["install", "--locked", "cargo-fuzz@0.13.2"])
        .status()
        .map_err(|e| format!("cannot start cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("installing cargo-fuzz failed".into())
    }
}

/// The number after `key` in a libFuzzer status line.
fn field(line: &str, key: &str) -> Option<u64> {
    word_after(line, key)?.parse().ok()
}

/// The word after `key` in a libFuzzer status line.
fn word_after(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        let line =
            "#65536\tpulse  cov: 1234 ft: 5678 corp: 89/12Kb lim: 4096 exec/s: 2184 rss: 80Mb";
        assert_eq!(field(line, "cov:"), Some(1234));
        assert_eq!(field(line, "ft:"), Some(5678));
        assert_eq!(word_after(line, "corp:").as_deref(), Some("89/12Kb"));
        assert_eq!(field(line, "nothing:"), None);
    }
}
