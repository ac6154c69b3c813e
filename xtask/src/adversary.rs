//! `cargo xtask adversary [--quick] [--mode single] [--control] [--trials N] [--mounts M]
//! [--mib S] [--seed X]`: the multi-snapshot adversary.
//!
//! It runs two kinds of world over many fresh media: the decoy alone, and the decoy with one or
//! two higher volumes that have workloads of their own. The decoy's workload is drawn the same
//! way in both. The adversary images the medium after the setup and after every mount and runs
//! the distinguishers of [`distinguish`] on the images, black box or with the decoy's
//! passphrase. For each distinguisher and each pair of worlds it reports the advantage of the
//! best threshold (balanced accuracy − 1/2) with a 95 % confidence interval, and the bound the
//! sample size sets ([`stats`]). The run fails when any advantage exceeds its bound: with the
//! same distribution in both worlds that happens by chance in at most 1 run in 1000.

use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

mod distinguish;
mod stats;
mod world;

use distinguish::ALL;
use stats::Comparison;
use world::{Mode, Observation, Shape};

/// The false-alarm budget of one run, shared by all comparisons.
const FALSE_ALARM: f64 = 1e-3;

/// The size of an experiment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    mode: Mode,
    /// Media per world.
    trials: usize,
    shape: Shape,
    /// Higher volumes of the worlds compared with the decoy-only world.
    higher: &'static [usize],
    seed: u64,
}

impl Config {
    /// `--quick`: 8 MiB media, 4 mounts, 32 media per world.
    fn quick(mode: Mode) -> Self {
        Self {
            mode,
            trials: 32,
            shape: Shape {
                blocks: 2048,
                mounts: 4,
            },
            higher: &[1, 2],
            seed: 0,
        }
    }

    /// The default: 32 MiB media, 6 mounts, 100 media per world.
    fn full(mode: Mode) -> Self {
        Self {
            trials: 100,
            shape: Shape {
                blocks: 8192,
                mounts: 6,
            },
            ..Self::quick(mode)
        }
    }
}

// `--control` compares the decoy-only world with a second, independent decoy-only world (world
// "+0"): a check that the bound does not fire when there is nothing to find.

/// The outcome of an experiment: per world compared with the decoy alone, per distinguisher.
#[derive(Debug)]
pub(crate) struct Report {
    config: Config,
    /// (higher volumes, distinguisher name, keyed, comparison, mean ± sd decoy-only, the other).
    rows: Vec<Row>,
    /// Per world (higher volumes): blocks written to the medium per sector the workloads
    /// wrote, over all its mounts.
    amplification: Vec<(usize, f64)>,
}

#[derive(Debug)]
struct Row {
    higher: usize,
    name: &'static str,
    keyed: bool,
    comparison: Comparison,
    alone: (f64, f64),
    other: (f64, f64),
}

impl Report {
    /// Whether no distinguisher told the worlds apart.
    pub(crate) fn passed(&self) -> bool {
        !self.rows.iter().any(|r| r.comparison.distinguishes())
    }

    /// Whether the named distinguisher told the decoy-only world from the world with `higher`
    /// higher volumes.
    #[cfg(test)]
    fn distinguishes(&self, higher: usize, name: &str) -> bool {
        self.rows
            .iter()
            .any(|r| r.higher == higher && r.name == name && r.comparison.distinguishes())
    }

    fn print(&self) {
        let c = &self.config;
        println!(
            "mode {}: {} media per world, {} MiB each, {} mounts, seed {:#x}; false-alarm budget {} over {} comparisons\n",
            c.mode.name(),
            c.trials,
            (c.shape.blocks * 4096) >> 20,
            c.shape.mounts,
            c.seed,
            FALSE_ALARM,
            self.rows.len(),
        );
        println!(
            "| world (+hidden volumes) | distinguisher | key | decoy only (mean ± sd) | other world (mean ± sd) | advantage [95 % CI] | bound | verdict |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        // Printed after the table.
        let amplification: Vec<String> = self
            .amplification
            .iter()
            .map(|(h, a)| format!("+{h}: {a:.2}"))
            .collect();
        for r in &self.rows {
            let k = &r.comparison;
            println!(
                "| +{} | {} | {} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} [{:.3}, {:.3}] | {:.3} | {} |",
                r.higher,
                r.name,
                if r.keyed { "decoy" } else { "none" },
                r.alone.0,
                r.alone.1,
                r.other.0,
                r.other.1,
                k.advantage,
                k.low,
                k.high,
                k.bound,
                if k.distinguishes() {
                    "TOLD APART"
                } else {
                    "ok"
                },
            );
        }
        println!(
            "\nwrite amplification (blocks written / sectors the workloads wrote, mounts only): {}",
            amplification.join(", ")
        );
    }
}

/// Runs the adversary from the command line.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut control = false;
    let mut mode = Mode::Single;
    let mut trials = None;
    let mut mounts = None;
    let mut mib = None;
    let mut seed = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("`{name}` needs a value"))
                .cloned()
        };
        match arg.as_str() {
            "--quick" => quick = true,
            "--control" => control = true,
            "--mode" => mode = Mode::parse(&value("--mode")?)?,
            "--trials" => trials = Some(number(&value("--trials")?)?),
            "--mounts" => mounts = Some(number(&value("--mounts")?)?),
            "--mib" => mib = Some(number(&value("--mib")?)?),
            "--seed" => seed = Some(number(&value("--seed")?)?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let mut config = if quick {
        Config::quick(mode)
    } else {
        Config::full(mode)
    };
    if control {
        config.higher = &[0];
    }
    if let Some(t) = trials {
        config.trials = usize::try_from(t).map_err(|_| "too many trials")?.max(2);
    }
    if let Some(m) = mounts {
        config.shape.mounts = usize::try_from(m).map_err(|_| "too many mounts")?.max(1);
    }
    if let Some(mib) = mib {
        config.shape.blocks = mib.max(2) * 256;
    }
    config.seed = match seed {
        Some(s) => s,
        None => {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
            u64::from_le_bytes(bytes)
        }
    };
    let start = Instant::now();
    let report = experiment(config)?;
    report.print();
    println!("\n{:.1} s", start.elapsed().as_secs_f64());
    if report.passed() {
        println!("PASS: no distinguisher beats its bound");
        Ok(())
    } else {
        Err(format!(
            "the {} mode is told apart from the decoy alone (rows marked TOLD APART)",
            config.mode.name()
        ))
    }
}

/// Runs every world `config.trials` times and compares each world with higher volumes with the
/// decoy-only world, distinguisher by distinguisher.
pub(crate) fn experiment(config: Config) -> Result<Report, String> {
    let worlds: Vec<usize> = core::iter::once(0)
        .chain(config.higher.iter().copied())
        .collect();
    let mut observations: Vec<Vec<Observation>> = worlds.iter().map(|_| Vec::new()).collect();
    let mut seeds = ChaCha20Rng::seed_from_u64(config.seed);
    // Interleave the worlds, so that anything drifting during the run touches all alike.
    for _ in 0..config.trials {
        for (w, &higher) in worlds.iter().enumerate() {
            let observation = world::trial(config.mode, config.shape, higher, seeds.next_u64())?;
            if let Some(list) = observations.get_mut(w) {
                list.push(observation);
            }
        }
    }
    let amplification = worlds
        .iter()
        .zip(&observations)
        .map(|(&h, list)| {
            let physical: u64 = list.iter().map(|o| o.physical_writes).sum();
            let logical: u64 = list.iter().map(|o| o.logical_writes).sum();
            (h, physical as f64 / logical.max(1) as f64)
        })
        .collect();
    let comparisons = config.higher.len() * ALL.len();
    let alpha = FALSE_ALARM / comparisons.max(1) as f64;
    let mut rows = Vec::new();
    let alone = observations.first().ok_or("no decoy-only world")?;
    for (w, &higher) in worlds.iter().enumerate().skip(1) {
        let other = observations.get(w).ok_or("missing world")?;
        for d in ALL {
            let a: Vec<f64> = alone.iter().map(d.feature).collect();
            let b: Vec<f64> = other.iter().map(d.feature).collect();
            rows.push(Row {
                higher,
                name: d.name,
                keyed: d.keyed,
                comparison: stats::compare(&a, &b, alpha),
                alone: stats::mean_sd(&a),
                other: stats::mean_sd(&b),
            });
        }
    }
    Ok(Report {
        config,
        rows,
        amplification,
    })
}

fn number(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("`{text}` is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast variant: small media, few mounts, only the world with one hidden volume.
    fn small(mode: Mode, seed: u64) -> Config {
        Config {
            mode,
            trials: 16,
            shape: Shape {
                blocks: 1024,
                mounts: 3,
            },
            higher: &[1],
            seed,
        }
    }

    /// Two independent samples of the decoy-only world: nothing to find, so nothing may beat its
    /// bound (by chance at most once in 1000 runs, the false-alarm budget).
    #[test]
    fn a_world_is_not_told_apart_from_itself() {
        let report = experiment(Config {
            higher: &[0],
            ..small(Mode::Single, 2)
        })
        .unwrap();
        assert_eq!(report.rows.len(), ALL.len());
        assert!(report.passed(), "{report:?}");
    }

    /// The multi-snapshot mode: every distinguisher stays below its bound (with the same seed
    /// the single-snapshot mode is told apart, above), and it pays for that in writes.
    #[test]
    fn the_multi_snapshot_mode_is_not_told_apart() {
        let report = experiment(small(Mode::Multi, 1)).unwrap();
        assert_eq!(report.rows.len(), ALL.len());
        assert!(report.passed(), "{report:?}");
        assert!(report.amplification.iter().all(|&(_, a)| a > 2.0));
    }

    #[test]
    fn the_single_snapshot_mode_is_told_apart() {
        let report = experiment(small(Mode::Single, 1)).unwrap();
        assert!(!report.passed());
        // Black box: the hidden volume's root shares sit at fixed positions rewritten every mount.
        assert!(report.distinguishes(1, "blocks changed in >= 2 mounts"));
        // With the decoy's passphrase: changes outside the decoy happen only with a hidden one.
        assert!(report.distinguishes(1, "changes outside the decoy"));
    }
}
