//! `cargo xtask ci`: the one definition of the CI steps.

use std::process::Command;
use std::time::Instant;

/// One CI step: a name and the command it runs, with extra environment variables.
struct Step {
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

/// The README's test command; keep the two in step.
pub(crate) const TEST_ARGS: &[&str] = &["test", "--workspace", "--all-features"];

const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        program: "cargo",
        args: &["fmt", "--all", "--check"],
        env: &[],
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
    },
    Step {
        name: "test",
        program: "cargo",
        args: TEST_ARGS,
        env: &[],
    },
    Step {
        name: "build-default",
        program: "cargo",
        args: &["build", "-p", "qsmm"],
        env: &[],
    },
    Step {
        name: "build-all-features",
        program: "cargo",
        args: &["build", "-p", "qsmm", "--all-features"],
        env: &[],
    },
    Step {
        name: "build-shatter-void",
        program: "cargo",
        args: &[
            "build",
            "-p",
            "qsmm",
            "--no-default-features",
            "--features",
            "shatter,void",
        ],
        env: &[],
    },
    Step {
        name: "doc",
        program: "cargo",
        args: &["doc", "--workspace", "--no-deps", "--all-features"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
];

/// Runs the named steps (all of them when `args` is empty) and prints a timing table.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--list") {
        for step in STEPS {
            println!("{}", step.name);
        }
        return Ok(());
    }
    for name in args {
        if !STEPS.iter().any(|s| s.name == name) {
            return Err(format!(
                "unknown step `{name}`; `cargo xtask ci --list` lists them"
            ));
        }
    }
    let selected: Vec<&Step> = STEPS
        .iter()
        .filter(|s| args.is_empty() || args.iter().any(|a| a == s.name))
        .collect();

    let mut timings = Vec::new();
    let mut failed = None;
    for step in selected {
        println!(
            "==> [{}] {} {}",
            step.name,
            step.program,
            step.args.join(" ")
        );
        let start = Instant::now();
        let status = Command::new(step.program)
            .args(step.args)
            .envs(step.env.iter().copied())
            .status()
            .map_err(|e| format!("cannot start `{}`: {e}", step.program))?;
        let seconds = start.elapsed().as_secs_f64();
        timings.push((step.name, seconds, status.success()));
        println!(
            "<== [{}] {} in {seconds:.1} s",
            step.name,
            if status.success() { "ok" } else { "FAILED" }
        );
        if !status.success() {
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
