//! The block lifecycle: a block allocated since the last durable root is free again as soon as
//! it is released; a block a durable root references is freed only after two newer roots are
//! durable, so that the fallback generation stays whole. Flushing commits a generation.

use super::state::{State, VolumeInner};
use crate::error::Result;
use crate::medium::Medium;
use crate::multi_snapshot::Class;

impl State {
    /// Whether blocks are waiting for durable roots to be freed.
    pub(super) fn has_pending(&self) -> bool {
        !(self.pending_now.is_empty() && self.pending_prev.is_empty())
    }

    /// The volume stops referencing `block`: free at once if no durable root references it,
    /// else after the next two roots are durable.
    pub(super) fn release(&mut self, medium: &Medium, block: u64) {
        if self.fresh.clear(block) {
            self.owned.clear(block);
            medium.release([block]);
        } else {
            self.pending_now.push(block);
        }
        self.changed = true;
    }
}

impl VolumeInner {
    /// Writes the dirty map, syncs, and commits the next root generation.
    pub(super) fn flush_locked(&self, state: &mut State) -> Result<()> {
        let medium = &self.medium;
        self.write_dirty_leaves(state)?;
        self.write_dirty_index(state)?;
        if self.class == Class::Higher {
            // Its map blocks must have travelled before the root that names them.
            medium.drain_queue()?;
        }
        medium.device().flush()?;
        // Nothing to record and nothing waiting to be freed: the durable root stands.
        if !state.changed && !state.has_pending() {
            return Ok(());
        }
        let root = state.root(self);
        let generation = state.generation + 1;
        self.commit_generation(state, &root, generation)?;
        state.generation = generation;
        state.changed = false;
        // Generation g+1 is durable: blocks the root before it still referenced are free now.
        let prev = core::mem::replace(
            &mut state.pending_prev,
            core::mem::take(&mut state.pending_now),
        );
        for &b in &prev {
            state.owned.clear(b);
        }
        medium.release(prev);
        state.fresh.clear_all();
        Ok(())
    }
}
