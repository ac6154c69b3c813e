//! A higher volume's side of aging (see `multi_snapshot::aging`): at each flush it moves a
//! share of its live blocks, chosen uniformly, so that they change from mount to mount at the
//! rate free blocks do.
//!
//! A move is a copy-on-write like any write: a data sector is read and written again (sealed
//! afresh for its new block, so the ciphertext is new), a leaf is marked dirty and rewritten by
//! the commit. The old place stays referenced by the durable root until the commit after the
//! move is durable; only then is it handed to the slots, which overwrite it with noise. A crash
//! at any point leaves the last durable root whole: at worst some sectors are found in their
//! new places.

use rand_core::Rng;
use zeroize::Zeroizing;

use super::state::{SECTOR, State, VolumeInner, to_usize};
use crate::error::{Error, Result};
use crate::map::ENTRIES_PER_LEAF;
use crate::medium::BLOCK_SIZE;
use crate::multi_snapshot::Class;

/// Most moves one flush makes.
const MAX_MOVES: u64 = 256;

/// Draws of a sector or leaf before a move gives up (an almost empty volume).
const DRAWS: usize = 32;

/// Slots one move takes at most: the copy, the overwrite of the old place, a leaf.
const SLOTS_PER_MOVE: u64 = 3;

impl VolumeInner {
    /// Moves the share of live blocks due (higher volumes in multi-snapshot mode only): at
    /// each flush while a [`crate::Ticker`] runs, whose slots are spread over the mount; under
    /// a tick budget once, when the base volume closes (`at_end`), so that the moves travel
    /// in the budget the close spends, as noise would with nothing hidden. Moving earlier
    /// would spend that budget before the decoy's last commit, and the blocks that commit
    /// frees would then see fewer slots than with nothing hidden.
    pub(super) fn age(&self, state: &mut State, at_end: bool) -> Result<()> {
        if self.class != Class::Higher || state.read_only || state.aging.busy {
            return Ok(());
        }
        let held = state.owned.ones();
        let Some(share) = self.medium.aging_share(state.fingerprint, held) else {
            return Ok(());
        };
        if share.room.is_some() != at_end {
            return Ok(());
        }
        let new = share.supply.saturating_sub(state.aging.credited);
        state.aging.credited = state.aging.credited.max(share.supply);
        // Blocks written this mount (fresh, or carried and committed) changed already, and
        // those on their way out (pending) are no longer live.
        let carried = self.medium.carried_among(state.owned.iter_ones());
        let live = held
            .saturating_sub(carried.max(state.fresh.ones()))
            .saturating_sub(state.pending_now.len() as u64);
        // new × live / pool moves, the fraction rounded up with its own probability: the
        // expected number of moves is exact.
        let pool = share.pool.max(1);
        let owed = u128::from(new) * u128::from(live);
        let whole = u64::try_from(owed / u128::from(pool)).unwrap_or(u64::MAX);
        let rest = u64::try_from(owed % u128::from(pool)).unwrap_or(0);
        let mut moves = whole.saturating_add(u64::from(below(&mut state.rng, pool) < rest));
        moves = moves.min(MAX_MOVES);
        if let Some(room) = share.room {
            // Under a tick budget, moves never make the mount write more than it gives.
            moves = moves.min(room / SLOTS_PER_MOVE);
        }
        state.aging.busy = true;
        let result = (0..moves).try_for_each(|_| self.move_live_block(state));
        state.aging.busy = false;
        match result {
            Err(Error::NoSpace) => Ok(()),
            other => other,
        }
    }

    /// The close of a base volume under a tick budget: every higher volume still open moves
    /// its share of live blocks and commits them, before the rest of the budget is spent.
    pub(super) fn age_higher_volumes(&self) -> Result<()> {
        for open in self.medium.open_volumes() {
            let Ok(volume) = open.downcast::<Self>() else {
                continue;
            };
            if volume.class != Class::Higher {
                continue;
            }
            let mut state = volume.lock();
            volume.age(&mut state, true)?;
            if state.changed {
                volume.flush_locked(&mut state)?;
            }
        }
        Ok(())
    }

    /// Moves one live block chosen uniformly among the mapped sectors and the leaves not
    /// written during this mount (a second write there would change no more blocks than
    /// one); none if the draws find none.
    fn move_live_block(&self, state: &mut State) -> Result<()> {
        let sectors = self.logical_size / SECTOR;
        let leaves = state.leaf_ptrs.len() as u64;
        if sectors + leaves == 0 {
            return Ok(());
        }
        for _ in 0..DRAWS {
            let pick = below(&mut state.rng, sectors + leaves);
            if pick >= sectors {
                let leaf = pick - sectors;
                let ptr = state
                    .leaf_ptrs
                    .get(to_usize(leaf)?)
                    .copied()
                    .ok_or(Error::Internal("leaf past the map"))?;
                if ptr.block == 0
                    || state.fresh.get(ptr.block)
                    || self.medium.was_carried(ptr.block)
                    || state.bad_leaves.contains(&leaf)
                {
                    continue;
                }
                self.mark_leaf_dirty(state, leaf)?;
                state.aging.moved.insert(ptr.block);
                state.changed = true;
                return Ok(());
            }
            let leaf = pick / ENTRIES_PER_LEAF;
            if state.bad_leaves.contains(&leaf) || !Self::has_leaf(state, leaf)? {
                continue;
            }
            let entry = self.entry(state, pick)?;
            if entry.block == 0
                || state.fresh.get(entry.block)
                || self.medium.was_carried(entry.block)
            {
                continue;
            }
            let mut sector = Zeroizing::new(vec![0u8; BLOCK_SIZE]);
            // A sector that does not authenticate stays where it is (the volume is damaged
            // there; moving it would hide that).
            if self.read_sector(state, pick, &mut sector).is_err() {
                continue;
            }
            self.write_sector(state, pick, &sector)?;
            state.aging.moved.insert(entry.block);
            return Ok(());
        }
        Ok(())
    }

    /// Splits the blocks a durable commit just stopped referencing: the old places of moves
    /// go to the slots to be overwritten, the rest is returned.
    pub(super) fn give_up_moved(&self, state: &mut State, superseded: Vec<u64>) -> Vec<u64> {
        if state.aging.moved.is_empty() {
            return superseded;
        }
        let (moved, rest): (Vec<u64>, Vec<u64>) = superseded
            .into_iter()
            .partition(|b| state.aging.moved.remove(b));
        for &b in &moved {
            state.owned.clear(b);
            state.map_blocks.clear(b);
        }
        self.medium.give_up(&moved);
        rest
    }
}

/// A uniform value in `[0, n)` (`0` for `n = 0`).
fn below(rng: &mut impl Rng, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return x % n;
        }
    }
}
