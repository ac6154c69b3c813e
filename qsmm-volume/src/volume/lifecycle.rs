//! The block lifecycle: a block allocated since the last durable root is free again as soon as
//! it is released; a block a durable root references is freed only after two newer roots are
//! durable, so that the fallback generation stays whole. Flushing commits a generation.

use super::state::{State, VolumeInner};
use crate::error::{Error, Result};
use crate::medium::Medium;
use crate::multi_snapshot::Class;

impl State {
    /// Whether blocks are waiting for durable roots to be freed.
    pub(super) fn has_pending(&self) -> bool {
        !(self.pending_now.is_empty()
            && self.pending_prev.is_empty()
            && self.fallback_only.is_empty()
            && self.scrub.is_empty())
    }

    /// The volume stops referencing `block`: free at once if no durable root references it
    /// (after the next flush overwrote it with noise, for a map block), else after the next two
    /// roots are durable.
    pub(super) fn release(&mut self, medium: &Medium, block: u64) {
        if self.fresh.clear(block) {
            if self.map_blocks.get(block) {
                self.scrub.push(block);
            } else {
                self.owned.clear(block);
                medium.release([block]);
            }
        } else {
            self.pending_now.push(block);
        }
        self.changed = true;
    }

    /// Returns `blocks` (no root of this volume references them any more) to the pool.
    pub(super) fn forget_blocks(&mut self, medium: &Medium, blocks: Vec<u64>) {
        for &b in &blocks {
            self.owned.clear(b);
            self.map_blocks.clear(b);
        }
        medium.release(blocks);
    }
}

impl VolumeInner {
    /// Writes the dirty map, syncs, and commits the next root generation.
    ///
    /// Map blocks only the root this one overwrites referenced (generation g − 1, whose slot
    /// generation g + 1 takes) are rewritten first: the new map blocks go into them, and those
    /// left over are overwritten with noise. Blocks map blocks no durable root referenced are
    /// overwritten with noise too. All of it is synced before the root is written, so no map
    /// block that a surrendered passphrase opens outlives the two roots after its release,
    /// while generation g stays whole as the fallback.
    pub(super) fn flush_locked(&self, state: &mut State) -> Result<()> {
        let medium = &self.medium;
        if state.read_only {
            return Err(Error::ReadOnly);
        }
        self.age(state, false)?;
        let commits = state.changed
            || !state.pending_now.is_empty()
            || !state.pending_prev.is_empty()
            || !state.dirty_index.is_empty()
            || state.cache.values().any(|l| l.dirty);
        // Map blocks a new root's reservation waits for are not rewritten in place: they are
        // overwritten with noise like the leftovers, and freed with them.
        let mut vacated = Vec::new();
        if commits {
            let leaving: Vec<u64> = state.pending_prev.drain(..).collect();
            let older: Vec<u64> = state.fallback_only.drain(..).collect();
            let map_blocks = &state.map_blocks;
            let (reuse, rest): (Vec<u64>, Vec<u64>) = leaving
                .into_iter()
                .chain(older)
                .partition(|&b| map_blocks.get(b));
            (vacated, state.reuse) = reuse.into_iter().partition(|&b| medium.is_reserved(b));
            state.pending_prev = rest;
        }
        let written = self
            .write_dirty_leaves(state)
            .and_then(|()| self.write_dirty_index(state));
        let mut leftover = core::mem::take(&mut state.reuse);
        leftover.append(&mut vacated);
        if let Err(e) = written {
            state.pending_prev.extend(leftover);
            return Err(e);
        }
        if self.class == Class::Higher {
            // Its map blocks must have travelled before the root that names them.
            medium.drain_queue()?;
        }
        // Nothing to record and nothing waiting to be freed: the durable root stands.
        if !commits {
            return sync(medium, state);
        }
        let mut noise = leftover.clone();
        noise.extend_from_slice(&state.scrub);
        state.pending_prev.extend(leftover);
        self.scrub_blocks(state, &noise)?;
        sync(medium, state)?;
        let scrubbed = core::mem::take(&mut state.scrub);
        state.forget_blocks(medium, scrubbed);
        let root = state.root(self);
        let generation = state.generation.wrapping_add(1);
        if let Err(e) = self
            .commit_generation(state, &root, generation)
            .and_then(|()| sync(medium, state))
        {
            // Some shares may have landed: that root may be read at the next open, so blocks
            // it references are no longer free for the taking when released.
            state.fresh.clear_all();
            return Err(e);
        }
        state.generation = generation;
        state.changed = false;
        // Generation g+1 is durable: blocks the root before it still referenced are free now.
        let prev = core::mem::replace(
            &mut state.pending_prev,
            core::mem::take(&mut state.pending_now),
        );
        state.forget_blocks(medium, prev);
        state.fresh.clear_all();
        self.release_superseded(state)
    }
}

/// Syncs the medium; a failure turns the volume read-only (the system may have dropped the
/// writes it was to make durable, and retrying the sync would not tell).
fn sync(medium: &Medium, state: &mut State) -> Result<()> {
    medium.device().flush().map_err(|e| {
        state.read_only = true;
        e.into()
    })
}
