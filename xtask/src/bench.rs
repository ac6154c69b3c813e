//! `cargo xtask bench [--quick] [FILTER]`: runs the criterion benchmarks and prints one table of
//! our operations beside the raw primitives they wrap.
//!
//! Convention: every benchmark group that compares puts our operation under the function id
//! `ours` and the raw primitive under `raw` (with the same parameter, if any). The report pairs
//! them by group and parameter and prints `raw / ours` of the median times: the share of the raw
//! primitive's throughput that our wrapper keeps (1.00 = no overhead). Groups with only one side
//! are listed without a ratio.
//!
//! `cargo xtask bench volume [--quick]` runs the block-device benchmark instead (module
//! `volume`): the qsmm NBD export beside qemu-nbd on a raw file and on LUKS2.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod void;
/// `cargo xtask bench volume`: NBD servers compared with one client.
mod volume;

/// The crates whose benchmarks the report covers: the `benches` crate holds every comparison.
const BENCH_PACKAGES: &[&str] = &["qsmm-benches"];

/// The criterion targets of those crates. Other bench targets (such as the statistical timing
/// test `timing`, which has its own harness and runs for minutes) are left to be run by name.
const BENCH_TARGETS: &[&str] = &["shield", "shatter", "void", "proof"];

/// Runs the benchmarks and writes `target/bench-report.md`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some("volume") {
        return volume::run(&args[1..]);
    }
    let mut quick = false;
    let mut filter = None;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other if other.starts_with('-') => return Err(format!("unknown option `{other}`")),
            other if filter.is_none() => filter = Some(other.to_owned()),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }

    let target = target_dir();
    let criterion_dir = target.join("criterion");
    // Old results of benchmarks that no longer exist would otherwise reappear in the report.
    if criterion_dir.exists() && filter.is_none() {
        fs::remove_dir_all(&criterion_dir).map_err(|e| format!("cannot clear old results: {e}"))?;
    }

    let mut command = Command::new("cargo");
    command.arg("bench");
    for package in BENCH_PACKAGES {
        command.args(["-p", package]);
    }
    // Only the criterion targets: a libtest harness would reject criterion's options.
    for target in BENCH_TARGETS {
        command.args(["--bench", target]);
    }
    command.arg("--");
    if quick {
        command.args([
            "--warm-up-time",
            "0.5",
            "--measurement-time",
            "1",
            "--sample-size",
            "10",
        ]);
    }
    if let Some(filter) = &filter {
        command.arg(filter);
    }
    println!("==> {command:?}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !status.success() {
        return Err("cargo bench failed".into());
    }

    let results = collect(&criterion_dir)?;
    let mut report = render(&results, quick);
    if let Some(section) = void::section(&results) {
        report.push_str(&section);
    }
    println!("\n{report}");
    let path = target.join("bench-report.md");
    fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("report written to {}", path.display());
    Ok(())
}

/// One measured benchmark.
#[derive(Debug)]
struct Measurement {
    group: String,
    function: String,
    parameter: Option<String>,
    median_ns: f64,
}

/// The cargo target directory: `CARGO_TARGET_DIR`, else `target/` at the workspace root.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        },
        PathBuf::from,
    )
}

/// Reads every `new/benchmark.json` + `new/estimates.json` pair under `dir`.
fn collect(dir: &Path) -> Result<Vec<Measurement>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if let Some(m) = read_measurement(&path)? {
                    out.push(m);
                }
            } else if path
                .file_name()
                .is_some_and(|n| n != "report" && n != "base")
            {
                stack.push(path);
            }
        }
    }
    out.sort_by(|a, b| {
        (&a.group, &a.parameter, &a.function).cmp(&(&b.group, &b.parameter, &b.function))
    });
    Ok(out)
}

fn read_measurement(dir: &Path) -> Result<Option<Measurement>, String> {
    let (Ok(benchmark), Ok(estimates)) = (
        fs::read_to_string(dir.join("benchmark.json")),
        fs::read_to_string(dir.join("estimates.json")),
    ) else {
        return Ok(None);
    };
    // A run killed while writing leaves truncated files: skip them with a warning rather than
    // losing the whole report.
    let parsed = serde_json::from_str::<serde_json::Value>(&benchmark)
        .and_then(|b| Ok((b, serde_json::from_str::<serde_json::Value>(&estimates)?)));
    let (benchmark, estimates) = match parsed {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("xtask: skipping {}: {e}", dir.display());
            return Ok(None);
        }
    };
    let text = |key: &str| {
        benchmark
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let (Some(group), Some(median_ns)) = (
        text("group_id"),
        estimates
            .pointer("/median/point_estimate")
            .and_then(serde_json::Value::as_f64),
    ) else {
        return Ok(None);
    };
    Ok(Some(Measurement {
        group,
        function: text("function_id").unwrap_or_default(),
        parameter: text("value_str"),
        median_ns,
    }))
}

/// Formats a duration given in nanoseconds with a readable unit.
fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn render(results: &[Measurement], quick: bool) -> String {
    // (group, parameter) -> function -> median
    let mut rows: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
    for m in results {
        rows.entry((m.group.clone(), m.parameter.clone().unwrap_or_default()))
            .or_default()
            .insert(m.function.clone(), m.median_ns);
    }
    let mut out = String::new();
    push_line(
        &mut out,
        "| operation | ours (median) | raw baseline (median) | raw / ours |",
    );
    push_line(&mut out, "|---|---:|---:|---:|");
    for ((group, parameter), functions) in &rows {
        let name = if parameter.is_empty() {
            group.clone()
        } else {
            format!("{group} [{parameter}]")
        };
        let ours = functions.get("ours");
        let raw = functions.get("raw");
        match (ours, raw) {
            (Some(ours), Some(raw)) => {
                push_line(
                    &mut out,
                    &format!(
                        "| {name} | {} | {} | {:.2} |",
                        human(*ours),
                        human(*raw),
                        raw / ours
                    ),
                );
            }
            _ => {
                for (function, median) in functions {
                    let label = if function == "ours" || function.is_empty() {
                        name.clone()
                    } else {
                        format!("{name} / {function}")
                    };
                    push_line(
                        &mut out,
                        &format!("| {label} | {} | – | – |", human(*median)),
                    );
                }
            }
        }
    }
    if quick {
        out.push_str(
            "\n_Quick run (`--quick`): short measurement times, ratios are indicative._\n",
        );
    }
    out
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_ours_with_raw() {
        let results = vec![
            Measurement {
                group: "g".into(),
                function: "ours".into(),
                parameter: None,
                median_ns: 200.0,
            },
            Measurement {
                group: "g".into(),
                function: "raw".into(),
                parameter: None,
                median_ns: 100.0,
            },
            Measurement {
                group: "solo".into(),
                function: "x".into(),
                parameter: None,
                median_ns: 5.0,
            },
        ];
        let table = render(&results, false);
        assert!(
            table.contains("| g | 200.0 ns | 100.0 ns | 0.50 |"),
            "{table}"
        );
        assert!(table.contains("| solo / x | 5.0 ns | – | – |"), "{table}");
    }

    #[test]
    fn truncated_results_are_skipped() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        let good = dir.join("g").join("ours").join("new");
        let bad = dir.join("g").join("raw").join("new");
        fs::create_dir_all(&good).unwrap();
        fs::create_dir_all(&bad).unwrap();
        fs::write(
            good.join("benchmark.json"),
            r#"{"group_id":"g","function_id":"ours","value_str":null}"#,
        )
        .unwrap();
        fs::write(
            good.join("estimates.json"),
            r#"{"median":{"point_estimate":42.0}}"#,
        )
        .unwrap();
        fs::write(
            bad.join("benchmark.json"),
            r#"{"group_id":"g","function_id":"raw"}"#,
        )
        .unwrap();
        fs::write(bad.join("estimates.json"), "").unwrap();
        let results = collect(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0].function, "ours");
        assert!((results[0].median_ns - 42.0).abs() < f64::EPSILON);
        assert_eq!(results[0].parameter, None);
    }

    #[test]
    fn human_units() {
        assert_eq!(human(12.0), "12.0 ns");
        assert_eq!(human(1_500.0), "1.50 µs");
        assert_eq!(human(2_500_000.0), "2.50 ms");
        assert_eq!(human(3e9), "3.00 s");
    }
}
