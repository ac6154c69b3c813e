//! The distinguishers: one number per trial that an attacker computes from the images, without
//! a key (black box) or with the decoy's passphrase.
//!
//! Black box (Barker et al., "A Multiple Snapshot Attack on Deniable Storage Systems", 2021,
//! look at exactly these): how many blocks change per mount, how many change in several mounts
//! (anything rewritten in place, such as a root at a fixed position), and how changed blocks
//! cluster (runs of consecutive changed blocks). With the decoy's passphrase: how many changes
//! the decoy's own state does not explain, how many of those repeat, how many blocks the decoy
//! gave up that something else then overwrote, and how much of the rest of the medium never
//! changes at all (blocks a higher volume keeps are never overwritten by anyone else).

use super::world::Observation;

/// A named feature of a trial.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Distinguisher {
    /// Short name, as the report prints it.
    pub(crate) name: &'static str,
    /// Whether it needs the decoy's passphrase.
    pub(crate) keyed: bool,
    /// The feature.
    pub(crate) feature: fn(&Observation) -> f64,
}

/// Every distinguisher the adversary runs.
pub(crate) const ALL: &[Distinguisher] = &[
    Distinguisher {
        name: "changed blocks per mount",
        keyed: false,
        feature: changed_per_mount,
    },
    Distinguisher {
        name: "blocks changed in >= 2 mounts",
        keyed: false,
        feature: repeated,
    },
    Distinguisher {
        name: "adjacent changed pairs / changed",
        keyed: false,
        feature: adjacency,
    },
    Distinguisher {
        name: "longest run of changed blocks",
        keyed: false,
        feature: longest_run,
    },
    Distinguisher {
        name: "changes outside the decoy",
        keyed: true,
        feature: unexplained,
    },
    Distinguisher {
        name: "outside changes in >= 2 mounts",
        keyed: true,
        feature: unexplained_repeated,
    },
    Distinguisher {
        name: "decoy garbage overwritten",
        keyed: true,
        feature: garbage_overwritten,
    },
    Distinguisher {
        name: "non-decoy blocks never changed",
        keyed: true,
        feature: never_changed,
    },
    Distinguisher {
        name: "outside minus decoy changes per mount",
        keyed: true,
        feature: outside_minus_decoy,
    },
];

fn changed_per_mount(o: &Observation) -> f64 {
    let total: usize = o.changed.iter().map(Vec::len).sum();
    total as f64 / o.changed.len().max(1) as f64
}

/// Times each block changed over all mounts.
fn change_counts(o: &Observation) -> Vec<u32> {
    let mut counts = vec![0u32; usize::try_from(o.blocks).unwrap_or(0)];
    for mount in &o.changed {
        for &b in mount {
            if let Some(c) = usize::try_from(b).ok().and_then(|b| counts.get_mut(b)) {
                *c += 1;
            }
        }
    }
    counts
}

fn repeated(o: &Observation) -> f64 {
    change_counts(o).iter().filter(|&&c| c >= 2).count() as f64
}

fn adjacency(o: &Observation) -> f64 {
    let mut pairs = 0usize;
    let mut total = 0usize;
    for mount in &o.changed {
        total += mount.len();
        pairs += mount.windows(2).filter(|w| w[1] == w[0] + 1).count();
    }
    pairs as f64 / total.max(1) as f64
}

fn longest_run(o: &Observation) -> f64 {
    let mut longest = 0u64;
    for mount in &o.changed {
        let mut run = 0u64;
        let mut prev = None;
        for &b in mount {
            run = if prev.is_some_and(|p: u64| p + 1 == b) {
                run + 1
            } else {
                1
            };
            longest = longest.max(run);
            prev = Some(b);
        }
    }
    longest as f64
}

fn is_decoy(o: &Observation, image: usize, block: u64) -> bool {
    o.decoy
        .get(image)
        .and_then(|d| d.get(usize::try_from(block).ok()?))
        .copied()
        .unwrap_or(false)
}

/// Per mount: the changed blocks the decoy does not hold in the image after the mount (the
/// decoy's own writes all land in blocks its new state holds).
fn outside(o: &Observation) -> impl Iterator<Item = (usize, u64)> + '_ {
    o.changed.iter().enumerate().flat_map(move |(m, mount)| {
        mount
            .iter()
            .copied()
            .filter(move |&b| !is_decoy(o, m + 1, b))
            .map(move |b| (m, b))
    })
}

fn unexplained(o: &Observation) -> f64 {
    outside(o).count() as f64 / o.changed.len().max(1) as f64
}

fn unexplained_repeated(o: &Observation) -> f64 {
    let mut counts = vec![0u32; usize::try_from(o.blocks).unwrap_or(0)];
    for (_, b) in outside(o) {
        if let Some(c) = usize::try_from(b).ok().and_then(|b| counts.get_mut(b)) {
            *c += 1;
        }
    }
    counts.iter().filter(|&&c| c >= 2).count() as f64
}

/// Changes outside the decoy less changes the decoy holds, per mount: pairing makes the two
/// grow together, so what is left is the rest of the medium's traffic with the decoy's
/// variation taken out.
fn outside_minus_decoy(o: &Observation) -> f64 {
    let total: usize = o.changed.iter().map(Vec::len).sum();
    let outside = outside(o).count();
    let inside = total - outside;
    (outside as f64 - inside as f64) / o.changed.len().max(1) as f64
}

fn garbage_overwritten(o: &Observation) -> f64 {
    outside(o).filter(|&(m, b)| is_decoy(o, m, b)).count() as f64
}

/// Among the blocks the decoy holds in no image, the fraction that never changed.
fn never_changed(o: &Observation) -> f64 {
    let counts = change_counts(o);
    let mut others = 0usize;
    let mut still = 0usize;
    for (b, &c) in (0u64..).zip(&counts) {
        if (0..o.decoy.len()).any(|i| is_decoy(o, i, b)) {
            continue;
        }
        others += 1;
        if c == 0 {
            still += 1;
        }
    }
    still as f64 / others.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation() -> Observation {
        let mut decoy = vec![vec![false; 16]; 3];
        decoy[1][2] = true;
        decoy[2][2] = true;
        decoy[0][9] = true;
        Observation {
            blocks: 16,
            // Mount 1 changes 2, 3, 4 and 9; mount 2 changes 3, 9 and 12.
            changed: vec![vec![2, 3, 4, 9], vec![3, 9, 12]],
            decoy,
            physical_writes: 0,
            logical_writes: 0,
        }
    }

    #[test]
    fn features_of_a_known_observation() {
        let o = observation();
        assert!((changed_per_mount(&o) - 3.5).abs() < 1e-12);
        assert!((repeated(&o) - 2.0).abs() < 1e-12);
        assert!((adjacency(&o) - 2.0 / 7.0).abs() < 1e-12);
        assert!((longest_run(&o) - 3.0).abs() < 1e-12);
        // Outside the decoy: 3, 4, 9 in mount 1 (2 is the decoy's), 3, 9, 12 in mount 2.
        assert!((unexplained(&o) - 3.0).abs() < 1e-12);
        assert!((unexplained_repeated(&o) - 2.0).abs() < 1e-12);
        // Block 9 was the decoy's before mount 1 and was overwritten by something else.
        assert!((garbage_overwritten(&o) - 1.0).abs() < 1e-12);
        // 14 blocks never held by the decoy; 3, 4 and 12 of them changed.
        assert!((never_changed(&o) - 11.0 / 14.0).abs() < 1e-12);
        // 6 changes outside the decoy, 1 inside, over 2 mounts.
        assert!((outside_minus_decoy(&o) - 2.5).abs() < 1e-12);
    }
}
