//! Multi-snapshot mode: a medium that two images taken at different times do not betray.
//!
//! A volume chooses the mode when it is created ([`SnapshotMode`]); its root records it by
//! where it lives, and nothing on a medium that no passphrase opens tells the modes apart. In
//! this mode:
//!
//! - **Roots live in the root area**, blocks `1..=128` of every medium, one sealed block per
//!   root, anywhere in the area: a passphrase finds its root by trying to open every block of
//!   the area. The first commit of a mount (of any volume, or the close of a base volume when
//!   nothing was committed) rewrites the whole area: the new roots of every volume opened
//!   during the mount to blocks holding no live root, noise to the others, a sync, then noise
//!   over the previous roots and a sync. Later commits of the mount write the new roots to
//!   blocks holding no live root and noise over the previous ones, the area being already
//!   changed whole. Every mount changes all of the area, whatever exists.
//! - **Writes travel in slots.** A *base* volume (one whose root names no lower volume) writes
//!   its blocks in place, and each of those writes is paired with one slot. A *higher* volume
//!   never writes the medium itself: its blocks wait in a queue (reads see them there) until a
//!   slot carries them. A slot writes the oldest queued block, or, with none queued, fresh
//!   noise to a uniformly random block no open volume holds.
//! - **The tick** is a budget of slots per mount ([`crate::Medium::set_tick_slots`]): a
//!   higher volume's flush spends it to drain the queue before its root is committed, and the
//!   close of a base volume spends what is left on noise. As long as the higher volumes need
//!   no more than the budget, a mount writes the base volumes' blocks, as many slots again,
//!   the budget and the root area, in every world.
//! - **Or the tick is timed** ([`Ticker`], what a server uses): a thread spends slots at a
//!   fixed rate while the medium is mounted, and a higher volume's flush (or write into a full
//!   queue) waits for those slots instead of spending its own. A mount then writes the base
//!   volumes' blocks, as many slots, rate × duration slots and the root area, whatever the
//!   higher volumes do and whenever they do it.

mod aging;
mod device;
pub(crate) mod root_area;
mod slots;
mod ticker;

use std::collections::VecDeque;

use qsmm_types::SecretKey;

use crate::bitmap::Bitmap;
use rand_chacha::ChaCha20Rng;
use zeroize::Zeroizing;

pub(crate) use self::device::{Class, VolumeDevice};
pub(crate) use self::root_area::{RootEntry, find_root};
pub use self::ticker::{DEFAULT_TICK_RATE, Ticker};

/// The blocks of the root area: `1..=128` (block 0 holds the salt).
pub(crate) const ROOT_AREA: core::ops::Range<u64> = 1..129;

/// Tick slots a mount spends unless [`crate::Medium::set_tick_slots`] says otherwise.
pub const DEFAULT_TICK_SLOTS: u64 = 256;

/// Most blocks of higher volumes waiting for a slot; a write beyond it spends a tick slot
/// first.
const MAX_QUEUE: usize = 1024;

/// How a volume hides from an adversary who images its medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotMode {
    /// Deniable against one image of the medium: the root is a Shamir mesh at positions its
    /// passphrase derives, every write lands on a random free block at once.
    Single,
    /// Deniable against images taken between any mounts: roots in the root area, writes of
    /// higher volumes only inside slots paired with the base volumes' writes and the tick.
    Multi,
}

/// Physical block writes of a medium in multi-snapshot mode, by kind, since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotCounts {
    /// Blocks base volumes wrote in place (data, leaves, index blocks).
    pub base: u64,
    /// Slots that carried a queued block of a higher volume.
    pub carried: u64,
    /// Slots that wrote noise.
    pub noise: u64,
    /// Blocks written to the root area.
    pub root_area: u64,
}

impl SlotCounts {
    /// Every block written to the medium.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.base + self.carried + self.noise + self.root_area
    }
}

/// What a medium in multi-snapshot mode holds in memory.
pub(crate) struct MultiState {
    /// Blocks of higher volumes waiting for a slot, oldest first.
    queue: VecDeque<(u64, Zeroizing<Vec<u8>>)>,
    /// The root of every volume opened during this mount.
    roots: Vec<RootEntry>,
    /// The tick budget of the mount and what has been spent of it.
    tick_slots: u64,
    ticks_used: u64,
    /// A [`Ticker`] spends slots at a fixed rate: flushes and a full queue wait for its
    /// slots instead of spending their own.
    timed: bool,
    /// The ticker's last slot failed: flushes stop waiting for it and spend their own slots
    /// (which then report the error instead of waiting for ever).
    tick_failing: bool,
    /// Every block of the root area has been rewritten during this mount: later commits
    /// write only the new roots and noise over the previous ones.
    area_rewritten: bool,
    counts: SlotCounts,
    /// Blocks noise slots wrote, held as used so that no volume takes them later in the mount
    /// (as no volume takes a block a slot carried); given back when they outnumber the free
    /// blocks or an allocation finds none free.
    noise_held: Vec<u64>,
    /// Blocks higher volumes moved their live blocks away from, still taken: the next slots
    /// overwrite them with noise (before any random block) and then hold them like noise.
    vacated: VecDeque<u64>,
    /// Blocks a slot carried during this mount: freed, they are held like noise blocks.
    carried_now: Bitmap,
    /// The blocks each open higher volume holds, as of its last flush (see [`Share`]).
    higher_held: Vec<([u8; 32], u64)>,
    /// The share of slots that overwrite a vacated block, `held / pool` of the last
    /// [`Share`], and the credit towards the next such slot (in units of `1 / pool`).
    vacate_rate: (u64, u64),
    vacate_credit: u64,
    rng: ChaCha20Rng,
}

impl MultiState {
    pub(crate) fn new(rng: ChaCha20Rng, blocks: u64) -> Self {
        Self {
            queue: VecDeque::new(),
            roots: Vec::new(),
            tick_slots: DEFAULT_TICK_SLOTS,
            ticks_used: 0,
            timed: false,
            tick_failing: false,
            area_rewritten: false,
            counts: SlotCounts::default(),
            noise_held: Vec::new(),
            vacated: VecDeque::new(),
            carried_now: Bitmap::new(blocks),
            higher_held: Vec::new(),
            vacate_rate: (0, 1),
            vacate_credit: 0,
            rng,
        }
    }

    /// Drops queued blocks that were freed before a slot carried them.
    pub(crate) fn forget_queued(&mut self, blocks: &[u64]) {
        if !self.queue.is_empty() {
            self.queue.retain(|(b, _)| !blocks.contains(b));
        }
    }

    pub(crate) fn set_tick_slots(&mut self, slots: u64) {
        self.tick_slots = slots;
    }

    pub(crate) fn counts(&self) -> SlotCounts {
        self.counts
    }
}

/// The key that seals a volume's root in the root area.
pub(crate) fn root_key(mesh_key: &SecretKey, salt: &[u8]) -> SecretKey {
    qsmm_types::derive_subkey(mesh_key, salt, qsmm_types::labels::VOLUME_ROOT_AREA)
}
