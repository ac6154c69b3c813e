//! One trial: a fresh medium used over several mounts in one of the worlds, imaged after the
//! setup and after every mount, and what those images show.
//!
//! The user of the medium opens every volume they know at every mount (the top passphrase opens
//! the lower ones). The decoy's workload comes from a random stream of its own, drawn the same
//! way in every world; the higher volumes' workloads and the interleaving come from other
//! streams.

use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use qsmm_types::BlockId;
use qsmm_void::{BlockDevice, MemoryDevice};
use qsmm_volume::{Error, KdfCost, Medium, SnapshotMode, Volume};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Passphrases cost nothing here: the adversary is given the decoy's anyway.
const KDF: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;
const SECTOR: u64 = 4096;
/// The tick of the multi-snapshot mode, modelled as a fixed number of slots per mount (the
/// same in every world): enough to carry the higher volumes' writes of a mount here.
pub(crate) const TICK_SLOTS: u64 = 256;

/// How the media of a run are formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The default mode: deniable against one image of the medium.
    Single,
    /// The multi-snapshot mode: roots in the root area, higher volumes' writes in slots.
    Multi,
}

impl Mode {
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        match name {
            "single" => Ok(Self::Single),
            "multi" => Ok(Self::Multi),
            other => Err(format!("unknown mode `{other}` (known: single, multi)")),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Multi => "multi",
        }
    }

    fn snapshot(self) -> SnapshotMode {
        match self {
            Self::Single => SnapshotMode::Single,
            Self::Multi => SnapshotMode::Multi,
        }
    }
}

/// The size of a trial.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Blocks of the medium.
    pub(crate) blocks: u64,
    /// Mounts between images (the first image is taken after the setup).
    pub(crate) mounts: usize,
}

/// What the adversary holds after one trial.
#[derive(Debug)]
pub(crate) struct Observation {
    /// Blocks of the medium.
    pub(crate) blocks: u64,
    /// Per mount: the blocks whose content differs between the images before and after it,
    /// ascending.
    pub(crate) changed: Vec<Vec<u64>>,
    /// Per image (setup, then after each mount): the blocks the decoy's passphrase shows the
    /// decoy holding (roots, map, data).
    pub(crate) decoy: Vec<Vec<bool>>,
    /// Blocks written to the medium during the mounts.
    pub(crate) physical_writes: u64,
    /// Sectors the workloads of the mounts wrote.
    pub(crate) logical_writes: u64,
}

/// A memory device that counts the blocks written to it.
struct Counted {
    device: MemoryDevice,
    writes: AtomicU64,
}

impl BlockDevice for Counted {
    fn block_size(&self) -> usize {
        self.device.block_size()
    }

    fn block_count(&self) -> u64 {
        self.device.block_count()
    }

    fn read_block(&self, id: BlockId, buf: &mut [u8]) -> qsmm_void::Result<()> {
        self.device.read_block(id, buf)
    }

    fn write_block(&self, id: BlockId, data: &[u8]) -> qsmm_void::Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.device.write_block(id, data)
    }

    fn flush(&self) -> qsmm_void::Result<()> {
        self.device.flush()
    }
}

impl Counted {
    fn to_bytes(&self) -> Vec<u8> {
        self.device.to_bytes()
    }

    fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// Runs one trial with `higher` volumes above the decoy (0 = the decoy-only world).
pub(crate) fn trial(
    mode: Mode,
    shape: Shape,
    higher: usize,
    seed: u64,
) -> Result<Observation, String> {
    let device = Arc::new(Counted {
        device: MemoryDevice::new(4096, shape.blocks).map_err(err("device"))?,
        writes: AtomicU64::new(0),
    });
    qsmm_void::format(&*device).map_err(err("format"))?;
    let mut decoy_rng = ChaCha20Rng::seed_from_u64(seed);
    let mut higher_rng = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed_0001);
    let mut user_rng = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed_0002);

    // Setup: create the volumes and fill a third of each.
    let decoy_sectors = shape.blocks / 4;
    let higher_sectors = shape.blocks / 8;
    let passphrases = {
        let medium = Medium::from_device(device.clone(), KDF).map_err(err("medium"))?;
        let mut passphrases = Vec::new();
        let mut volumes: Vec<Volume> = Vec::new();
        for level in 0..=higher {
            let sectors = if level == 0 {
                decoy_sectors
            } else {
                higher_sectors
            };
            let below: Vec<&Volume> = volumes.last().into_iter().collect();
            let (volume, passphrase) = create(&medium, mode, level, sectors * SECTOR, &below)?;
            let rng = if level == 0 {
                &mut decoy_rng
            } else {
                &mut higher_rng
            };
            fill(&volume, sectors, rng)?;
            volumes.push(volume);
            passphrases.push(passphrase);
        }
        close(volumes)?;
        passphrases
    };

    let mut images = vec![device.to_bytes()];
    let mut decoy = vec![decoy_blocks(&device, &passphrases[0])?];
    let mut changed = Vec::with_capacity(shape.mounts);
    let before = device.writes();
    let mut logical_writes = 0;
    for _ in 0..shape.mounts {
        logical_writes += mount(
            mode,
            &device,
            &passphrases,
            &mut decoy_rng,
            &mut higher_rng,
            &mut user_rng,
        )?;
        let image = device.to_bytes();
        changed.push(diff(images.last().map_or(&[][..], Vec::as_slice), &image));
        images.clear();
        images.push(image);
        decoy.push(decoy_blocks(&device, &passphrases[0])?);
    }
    Ok(Observation {
        blocks: shape.blocks,
        changed,
        decoy,
        physical_writes: device.writes() - before,
        logical_writes,
    })
}

/// One mount: open every volume (top first, which opens the ones below), run the decoy's and
/// the higher volumes' workloads interleaved, commit now and then, close. Returns the sectors
/// the workloads wrote.
fn mount(
    mode: Mode,
    device: &Arc<Counted>,
    passphrases: &[String],
    decoy_rng: &mut ChaCha20Rng,
    higher_rng: &mut ChaCha20Rng,
    user_rng: &mut ChaCha20Rng,
) -> Result<u64, String> {
    let medium = Medium::from_device(device.clone(), KDF).map_err(err("medium"))?;
    let mut volumes = Vec::new();
    for passphrase in passphrases.iter().rev() {
        volumes.push(Volume::open(&medium, passphrase.as_bytes()).map_err(err("open"))?);
    }
    volumes.reverse();
    medium.set_tick_slots(TICK_SLOTS);
    // The decoy's session: 1–6 files of 1–24 sectors, and a trim of 1–16 sectors one time in
    // three; each higher volume: 1–4 files of 1–16 sectors.
    let mut ops: Vec<(usize, Op)> = Vec::new();
    let decoy_sectors = volumes[0].logical_size() / SECTOR;
    for _ in 0..range(decoy_rng, 1, 6) {
        ops.push((0, Op::write(decoy_rng, decoy_sectors, 24)));
    }
    if below(decoy_rng, 3) == 0 {
        ops.push((0, Op::trim(decoy_rng, decoy_sectors, 16)));
    }
    for (level, volume) in volumes.iter().enumerate().skip(1) {
        let sectors = volume.logical_size() / SECTOR;
        for _ in 0..range(higher_rng, 1, 4) {
            ops.push((level, Op::write(higher_rng, sectors, 16)));
        }
    }
    let logical: u64 = ops.iter().map(|(_, op)| op.sectors_written()).sum();
    // The user interleaves the volumes' requests. After about one request in four of a volume,
    // that volume commits (a commit of the decoy commits every open volume); whether it does
    // is drawn from the volume's own stream, so the decoy commits at the same points of its
    // own workload in every world.
    while !ops.is_empty() {
        let pick = usize::try_from(below(user_rng, ops.len() as u64)).unwrap_or(0);
        let (level, op) = ops.swap_remove(pick);
        op.apply(&volumes[level])?;

        let rng = if level == 0 {
            &mut *decoy_rng
        } else {
            &mut *higher_rng
        };
        if below(rng, 4) == 0 {
            let flushed = if level == 0 {
                &volumes[..]
            } else {
                &volumes[level..=level]
            };
            for volume in flushed {
                volume.flush().map_err(err("flush"))?;
            }
        }
    }
    // Before the decoy closes (lowest first, see `close`), the higher volumes commit, so that
    // their writes travel within the mount's tick.
    for volume in volumes.iter().skip(1) {
        volume.flush().map_err(err("flush"))?;
    }
    if mode == Mode::Multi {
        let counts = medium
            .slot_counts()
            .ok_or("a multi-snapshot medium without slots")?;
        let spent = counts.carried + counts.noise;
        if spent > counts.base + TICK_SLOTS {
            return Err(format!(
                "the higher volumes needed {spent} slots, more than the {} a mount gives",
                counts.base + TICK_SLOTS
            ));
        }
    }
    // Every volume must still read back whole: an adversary measuring a medium that lost data
    // would measure the wrong thing.
    let mut sector = vec![0u8; 4096];
    for volume in &volumes {
        for lba in 0..volume.logical_size() / SECTOR {
            volume
                .read(lba, &mut sector)
                .map_err(err("read back after the workload"))?;
        }
    }
    close(volumes)?;
    Ok(logical)
}

/// Closes the volumes of a mount, lowest first: a higher volume keeps the ones below it open
/// until it is closed itself, while a volume closed before the others would no longer be
/// protected from their last flushes.
fn close(volumes: Vec<Volume>) -> Result<(), String> {
    for volume in volumes {
        volume.close().map_err(err("close"))?;
    }
    Ok(())
}

/// A request of a workload.
#[derive(Debug, Clone, Copy)]
enum Op {
    Write { lba: u64, count: u64 },
    Trim { lba: u64, count: u64 },
}

impl Op {
    fn sectors_written(self) -> u64 {
        match self {
            Self::Write { count, .. } => count,
            Self::Trim { .. } => 0,
        }
    }

    fn write(rng: &mut ChaCha20Rng, sectors: u64, most: u64) -> Self {
        let count = range(rng, 1, most.min(sectors));
        Self::Write {
            lba: below(rng, sectors - count + 1),
            count,
        }
    }

    fn trim(rng: &mut ChaCha20Rng, sectors: u64, most: u64) -> Self {
        let count = range(rng, 1, most.min(sectors));
        Self::Trim {
            lba: below(rng, sectors - count + 1),
            count,
        }
    }

    fn apply(self, volume: &Volume) -> Result<(), String> {
        match self {
            Self::Write { lba, count } => {
                let data = vec![0x5a; usize::try_from(count * SECTOR).map_err(err("size"))?];
                volume.write(lba, &data).map_err(err("write"))
            }
            Self::Trim { lba, count } => volume.trim(lba, count).map_err(err("trim")),
        }
    }
}

/// Creates the volume of `level` above `below`, drawing passphrases until one does not collide
/// with the blocks of the open volumes.
fn create(
    medium: &Medium,
    mode: Mode,
    level: usize,
    size: u64,
    below: &[&Volume],
) -> Result<(Volume, String), String> {
    for attempt in 0..64 {
        let passphrase = format!("level {level} passphrase {attempt}");
        match Volume::create_with_mode(medium, passphrase.as_bytes(), size, below, mode.snapshot())
        {
            Ok(volume) => return Ok((volume, passphrase)),
            Err(Error::PassphraseCollision | Error::RootBlocksHeld) => {}
            Err(e) => return Err(format!("create: {e}")),
        }
    }
    Err("create: 64 passphrase collisions in a row".into())
}

/// Writes a third of the volume's sectors, in runs of up to 32.
fn fill(volume: &Volume, sectors: u64, rng: &mut ChaCha20Rng) -> Result<(), String> {
    let mut written = 0;
    while written < sectors / 3 {
        let op = Op::write(rng, sectors, 32);
        if let Op::Write { count, .. } = op {
            written += count;
        }
        op.apply(volume)?;
    }
    Ok(())
}

/// The blocks the decoy's passphrase shows the decoy holding in the medium's current state.
fn decoy_blocks(device: &Arc<Counted>, passphrase: &str) -> Result<Vec<bool>, String> {
    let medium = Medium::from_device(device.clone(), KDF).map_err(err("medium"))?;
    let volume = Volume::open(&medium, passphrase.as_bytes()).map_err(err("open decoy"))?;
    let mut owned = vec![false; usize::try_from(device.block_count()).map_err(err("size"))?];
    for block in volume.physical_blocks() {
        if let Some(slot) = usize::try_from(block).ok().and_then(|b| owned.get_mut(b)) {
            *slot = true;
        }
    }
    Ok(owned)
}

/// The blocks whose bytes differ between two images of the same size.
fn diff(before: &[u8], after: &[u8]) -> Vec<u64> {
    (0u64..)
        .zip(before.chunks_exact(4096).zip(after.chunks_exact(4096)))
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i)
        .collect()
}

/// A uniform value in `[0, n)` (`n > 0`).
fn below(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return x % n;
        }
    }
}

/// A uniform value in `[low, high]`.
fn range(rng: &mut ChaCha20Rng, low: u64, high: u64) -> u64 {
    low + below(rng, high - low + 1)
}

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every world keeps every volume readable over its mounts, and the images show what the
    /// workloads did.
    #[test]
    fn trials_keep_every_volume_intact() {
        let shape = Shape {
            blocks: 1024,
            mounts: 3,
        };
        for mode in [Mode::Single, Mode::Multi] {
            for higher in 0..=2 {
                for seed in 0..3 {
                    let o = trial(mode, shape, higher, seed).unwrap();
                    assert_eq!(o.changed.len(), 3);
                    assert_eq!(o.decoy.len(), 4);
                    assert!(o.changed.iter().all(|m| !m.is_empty()));
                    assert!(o.physical_writes > o.logical_writes);
                }
            }
        }
    }
}
