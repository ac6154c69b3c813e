//! `cargo xtask ci`: the one definition of the CI steps.

use std::process::Command;
use std::time::Instant;

/// One CI step: a name and the command it runs, with extra environment variables.
struct Step {
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    /// The cargo subcommand binary the step needs (`.ci/run` installs it), if any.
    tool: Option<&'static str>,
    /// A line printed before the step runs.
    note: Option<&'static str>,
}

/// The test step's command (`cargo xtask test` runs the same and prints the skip summary).
pub(crate) const TEST_ARGS: &[&str] = crate::test::TEST_ARGS;

// The facade's feature combinations are checked by the `hack` step (every feature on its own,
// none and the default set) and built by `test` (all features), so no separate build steps.
const STEPS: &[Step] = &[
    Step {
        name: "msrv",
        program: "cargo",
        args: &["xtask", "msrv"],
        env: &[],
        tool: None,
        note: None,
    },
    Step {
        name: "fmt",
        program: "cargo",
        args: &["fmt", "--all", "--check"],
        env: &[],
        tool: None,
        note: None,
    },
    Step {
        name: "layout",
        program: "cargo",
        args: &["xtask", "layout"],
        env: &[],
        tool: None,
        note: None,
    },
    Step {
        name: "clippy",
        program: "cargo",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
        tool: None,
        note: None,
    },
    Step {
        name: "test",
        program: "cargo",
        args: TEST_ARGS,
        env: &[],
        tool: None,
        note: None,
    },
    // qsmm-cloak's heavy tests (TFHE-rs with its default parameters: key generation, lookups
    // and updates on indexes of several entries), `#[ignore]`d in the test step and run here
    // once. The same `--workspace --all-features` selection as the test step, so the build of
    // that step is reused.
    Step {
        name: "cloak",
        program: "cargo",
        args: &[
            "test",
            "--workspace",
            "--all-features",
            "--test",
            "cloak",
            "--",
            "--ignored",
        ],
        env: &[],
        tool: None,
        note: None,
    },
    Step {
        name: "doc",
        program: "cargo",
        args: &["doc", "--workspace", "--no-deps", "--all-features"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
        tool: None,
        note: None,
    },
    Step {
        name: "api",
        program: "cargo",
        args: &["xtask", "api"],
        env: &[],
        tool: None,
        note: None,
    },
    Step {
        name: "deny",
        program: "cargo",
        args: &["deny", "check", "bans", "licenses", "sources"],
        env: &[],
        tool: Some("cargo-deny"),
        note: Some(
            "advisories skipped: `cargo deny check advisories` needs the RustSec database \
             from the network; run it by hand where the network is available",
        ),
    },
    Step {
        name: "machete",
        // Called directly: run as `cargo machete` from within `cargo xtask`, it takes the
        // subcommand name for a path.
        program: "cargo-machete",
        args: &[],
        env: &[],
        tool: Some("cargo-machete"),
        note: None,
    },
    Step {
        name: "hack",
        program: "cargo",
        // The library crates, each checked with every feature on its own.
        args: &[
            "hack",
            "check",
            "--each-feature",
            "--no-dev-deps",
            "--package",
            "qsmm-types",
            "--package",
            "qsmm-shield",
            "--package",
            "qsmm-shatter",
            "--package",
            "qsmm-void",
            "--package",
            "qsmm-proof-stub",
            "--package",
            "qsmm-proof-halo2",
            "--package",
            "qsmm",
            // `cloak` builds TFHE-rs (minutes); the test, clippy and doc steps cover it with
            // all features on.
            "--exclude-features",
            "cloak",
        ],
        env: &[],
        tool: Some("cargo-hack"),
        note: None,
    },
    // The multi-snapshot adversary, quick variant: every distinguisher below its bound.
    Step {
        name: "adversary",
        program: "cargo",
        args: &["xtask", "adversary", "--quick", "--mode", "multi"],
        env: &[],
        tool: None,
        note: None,
    },
    // The same over 12 images of each medium (48 media per world): higher volumes' blocks must
    // age like free blocks, and slots never hit a block twice in a mount.
    Step {
        name: "adversary-12",
        program: "cargo",
        args: &[
            "xtask",
            "adversary",
            "--quick",
            "--mode",
            "multi",
            "--mounts",
            "12",
            "--trials",
            "48",
        ],
        env: &[],
        tool: None,
        note: None,
    },
    // The two slow adversarial steps run only with `--full` (as `.ci/run` does) or when named.
    Step {
        name: "fuzz",
        program: "cargo",
        args: &["xtask", "fuzz", "--seconds", "10"],
        env: &[],
        tool: None,
        note: None,
    },
    Step {
        name: "schemathesis",
        program: "bash",
        args: &[".ci/schemathesis.sh"],
        env: &[],
        tool: None,
        note: None,
    },
];

/// Steps that run only with `--full` (`.ci/run` passes it) or when named on the command line, so
/// that a local `cargo xtask ci` stays fast.
const CI_ONLY: &[&str] = &["fuzz", "schemathesis"];

/// Runs the named steps (all of them when `args` is empty) and prints a timing table.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--list") {
        for step in STEPS {
            println!("{}", step.name);
        }
        return Ok(());
    }
    let full = args.iter().any(|a| a == "--full");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--full").collect();
    for name in &args {
        if !STEPS.iter().any(|s| s.name == *name) {
            return Err(format!(
                "unknown step `{name}`; `cargo xtask ci --list` lists them"
            ));
        }
    }
    let selected: Vec<&Step> = STEPS
        .iter()
        .filter(|s| {
            if args.is_empty() {
                full || !CI_ONLY.contains(&s.name)
            } else {
                args.iter().any(|a| *a == s.name)
            }
        })
        .collect();
    if args.is_empty() && !full {
        println!(
            "(skipping {}: they run with --full or when named)",
            CI_ONLY.join(", ")
        );
    }

    let mut timings = Vec::new();
    let mut failed = None;
    for step in selected {
        println!(
            "==> [{}] {} {}",
            step.name,
            step.program,
            step.args.join(" ")
        );
        if let Some(note) = step.note {
            println!("    note: {note}");
        }
        if let Some(tool) = step.tool
            && !tool_installed(tool)
        {
            return Err(format!(
                "step `{}` needs `{tool}`: `cargo install --locked {tool}` (`.ci/run` does)",
                step.name
            ));
        }
        let start = Instant::now();
        let success = if step.name == "test" {
            // The test step also prints which tests skipped for a missing program.
            crate::test::run_with_summary(&[])?
        } else {
            Command::new(step.program)
                .args(step.args)
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                .envs(step.env.iter().copied())
                .status()
                .map_err(|e| format!("cannot start `{}`: {e}", step.program))?
                .success()
        };
        let seconds = start.elapsed().as_secs_f64();
        timings.push((step.name, seconds, success));
        println!(
            "<== [{}] {} in {seconds:.1} s",
            step.name,
            if success { "ok" } else { "FAILED" }
        );
        if !success {
            failed = Some(step.name);
            break;
        }
    }

    println!("\nCI step timings:");
    for (name, seconds, ok) in &timings {
        println!(
            "  {name:<20} {seconds:>8.1} s  {}",
            if *ok { "ok" } else { "FAILED" }
        );
    }
    match failed {
        Some(name) => Err(format!("step `{name}` failed")),
        None => Ok(()),
    }
}

/// Whether the cargo subcommand binary `tool` (for example `cargo-deny`) can be started.
fn tool_installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}
