//! Copy-on-write relocation: the blocks of open volumes that lie where a new root must go are
//! moved elsewhere, so that `create` and `change_passphrase` find room while free blocks exist.
//!
//! A root's blocks are fixed by its passphrase. Each block an open volume holds there is moved
//! by that volume's own copy-on-write machinery: a data sector is rewritten to a fresh block, a
//! map block is rewritten by the next commit, and two commits later (the fallback generation
//! included) the old block is free. At every point each volume's last durable root is whole, so
//! a crash during a relocation loses nothing: the volume opens at its last durable generation,
//! with some sectors in their new places. The blocks being vacated are reserved on the medium,
//! so no allocation takes them meanwhile, and the new root is written only once all are free.
//!
//! What cannot move: another open volume's own root blocks (their places are fixed by its
//! passphrase: [`Error::PassphraseCollision`], choose another passphrase), and blocks still
//! held by a volume closed while others stay open ([`Error::RootBlocksHeld`]). Volumes that are
//! not open are invisible: their blocks count as free, and a new root may overwrite them like
//! any write — open every volume you know before creating or changing a passphrase.

use std::collections::BTreeSet;

use super::cache::read_leaf;
use super::state::{State, VolumeInner, to_usize};
use crate::error::{Error, Result};
use crate::map::{ENTRIES_PER_LEAF, LEAVES_PER_INDEX};
use crate::medium::{BLOCK_SIZE, Medium, Reservation};

/// Passes over the open volumes before giving up: one pass moves every block found in a map;
/// more are needed only for writes that were in flight (allocated, not yet in the map).
const PASSES: usize = 4;

/// Reserves `blocks` for a new root and moves the open volumes' blocks out of them.
///
/// The caller must hold no volume's lock. On success every block is reserved and free; the
/// caller writes the root and then [`Reservation::keep`]s them (or drops the reservation to
/// give them back).
///
/// # Errors
///
/// [`Error::PassphraseCollision`] if one is an open volume's root block;
/// [`Error::RootBlocksHeld`] if one is held by no open volume (a volume closed while others
/// stay open); [`Error::Integrity`] if one holds a map block that failed to authenticate at
/// open; errors of the rewrites and commits that move the blocks.
pub(super) fn make_room(medium: &Medium, blocks: &[u64]) -> Result<Reservation> {
    let reservation = medium.reserve(blocks)?;
    for _ in 0..PASSES {
        let taken: BTreeSet<u64> = reservation.pending().into_iter().collect();
        if taken.is_empty() {
            return Ok(reservation);
        }
        let mut owners = 0usize;
        for open in medium.open_volumes() {
            let Ok(volume) = open.downcast::<VolumeInner>() else {
                continue;
            };
            let mut state = volume.lock();
            let mine: BTreeSet<u64> = taken
                .iter()
                .copied()
                .filter(|&b| state.owned.get(b))
                .collect();
            if mine.is_empty() {
                continue;
            }
            if state.mesh_blocks.iter().any(|b| mine.contains(b)) {
                return Err(Error::PassphraseCollision);
            }
            owners += 1;
            volume.vacate(&mut state, &mine)?;
        }
        if owners == 0 {
            return Err(Error::RootBlocksHeld);
        }
    }
    if reservation.pending().is_empty() {
        Ok(reservation)
    } else {
        Err(Error::RootBlocksHeld)
    }
}

impl VolumeInner {
    /// Moves this volume out of `targets` (blocks it holds): sectors stored there are rewritten
    /// elsewhere, map blocks stored there are marked for rewriting, then two generations are
    /// committed, after which no root of this volume references a target and every target it
    /// held has been released to the reservation.
    fn vacate(&self, state: &mut State, targets: &BTreeSet<u64>) -> Result<()> {
        // A map block that failed to authenticate at open cannot be rewritten (what it held
        // is unknown): the volume is damaged there, and the new root cannot go there.
        for (i, p) in (0u64..).zip(&state.index_ptrs) {
            if targets.contains(&p.block) {
                let leaves = i * LEAVES_PER_INDEX..(i + 1) * LEAVES_PER_INDEX;
                if state.bad_leaves.iter().any(|l| leaves.contains(l)) {
                    return Err(Error::Integrity);
                }
                state.dirty_index.insert(to_usize(i)?);
            }
        }
        let mut sectors = Vec::new();
        for leaf in 0..state.leaf_ptrs.len() as u64 {
            let ptr = state
                .leaf_ptrs
                .get(to_usize(leaf)?)
                .copied()
                .ok_or(Error::Internal("leaf past the map"))?;
            if state.bad_leaves.contains(&leaf) {
                if targets.contains(&ptr.block) {
                    return Err(Error::Integrity);
                }
                continue;
            }
            let entries: Vec<u64> = match state.cache.get(&leaf) {
                Some(l) => l.entries.iter().map(|e| e.block).collect(),
                None if ptr.block == 0 => continue,
                None => read_leaf(&self.dev(), &self.map, leaf, ptr)
                    .ok_or(Error::Integrity)?
                    .entries
                    .iter()
                    .map(|e| e.block)
                    .collect(),
            };
            for (k, block) in (0u64..).zip(entries) {
                if targets.contains(&block) {
                    sectors.push(leaf * ENTRIES_PER_LEAF + k);
                }
            }
            if targets.contains(&ptr.block) {
                self.mark_leaf_dirty(state, leaf)?;
            }
        }
        let mut sector = vec![0u8; BLOCK_SIZE];
        for lba in sectors {
            self.read_sector(state, lba, &mut sector)?;
            self.write_sector(state, lba, &sector)?;
        }
        zeroize::Zeroize::zeroize(&mut sector);
        // Two commits: the first stops the durable root referencing the old places, the second
        // the fallback; blocks only the fallback references and map blocks waiting for noise
        // are freed by them too.
        for _ in 0..2 {
            state.changed = true;
            self.flush_locked(state)?;
        }
        Ok(())
    }
}
