//! The volume's side of the multi-snapshot mode: the device its writes go through, committing
//! a generation to the root area, the end of a mount, and changing the passphrase.

use super::state::{State, VolumeInner, fingerprint};
use crate::error::{Error, Result};
use crate::multi_snapshot::{Class, VolumeDevice, find_root};
use crate::root::{Root, write_root};

impl VolumeInner {
    /// The device this volume's sectors and map blocks are read from and written to.
    pub(super) fn dev(&self) -> VolumeDevice<'_> {
        VolumeDevice::new(&self.medium, self.class)
    }

    /// Makes `root` durable as generation `generation`: the mesh in single-snapshot mode, a
    /// rewrite of the root area in multi-snapshot mode.
    pub(super) fn commit_generation(
        &self,
        state: &State,
        root: &Root,
        generation: u64,
    ) -> Result<()> {
        if self.class.is_multi() {
            self.medium
                .commit_root(&state.fingerprint, &root.encode(), generation)
        } else {
            write_root(&self.medium, &state.keyed, root, generation)
        }
    }

    /// After a commit in multi-snapshot mode: the root area keeps one root per volume, so the
    /// generation before this one is gone once this one is durable, and the blocks only it
    /// referenced are free now, not one commit later as with the mesh's fallback slot. Its map
    /// blocks are overwritten with noise first: a remount would otherwise forget them
    /// unscrubbed, and the decoy's stale leaves would open with its passphrase (its history).
    pub(super) fn release_superseded(&self, state: &mut State) -> Result<()> {
        if !self.class.is_multi() || state.pending_prev.is_empty() {
            return Ok(());
        }
        let superseded = core::mem::take(&mut state.pending_prev);
        let superseded = self.give_up_moved(state, superseded);
        let maps: Vec<u64> = superseded
            .iter()
            .copied()
            .filter(|&b| state.map_blocks.get(b))
            .collect();
        if let Err(e) = self.scrub_blocks(state, &maps) {
            state.pending_prev = superseded;
            return Err(e);
        }
        state.forget_blocks(&self.medium, superseded);
        Ok(())
    }

    /// After the final flush of a handle: a base volume in multi-snapshot mode lets the higher
    /// volumes still open make their moves (under a tick budget), spends the rest of the
    /// mount's tick budget and rewrites the root area, even when nothing changed.
    pub(super) fn end_mount(&self) -> Result<()> {
        match self.class {
            Class::Base => {
                self.age_higher_volumes()?;
                self.medium.spend_ticks()?;
                self.medium.rewrite_root_area()?;
            }
            Class::Higher | Class::Single => {}
        }
        Ok(())
    }

    /// [`crate::Volume::change_passphrase`] in multi-snapshot mode: the root moves to the new
    /// passphrase's key with the next rewrite of the root area, which overwrites the old one
    /// with noise. The new root records the old one's block (the roll-forward of a crash
    /// between the two), and the volumes above name the new key first, as in single-snapshot
    /// mode.
    pub(super) fn change_passphrase_multi(&self, new_passphrase: &[u8]) -> Result<()> {
        let medium = &self.medium;
        let mesh_key = medium.kdf_cost().derive(new_passphrase, medium.salt())?;
        let keyed = medium.mesh().for_key(&mesh_key, *medium.salt())?;
        let mut state = self.lock();
        self.flush_locked(&mut state)?;
        if find_root(medium, &mesh_key)?.is_some() {
            return Err(Error::VolumeExists);
        }
        let new = fingerprint(&mesh_key, medium.salt());
        let old = state.fingerprint;
        self.relink_above(&state.mesh_key, &mesh_key)?;
        // Where the root is now: the commits of the volumes above moved it.
        let old_block: Vec<u64> = medium.root_block(&old).into_iter().collect();
        state.retired = self.retire(&old_block)?;
        medium.rekey_root(&old, new, &mesh_key);
        let generation = state.generation + 1;
        let root = state.root(self);
        if let Err(e) = medium.commit_root(&new, &root.encode(), generation) {
            medium.rekey_root(&new, old, &state.mesh_key);
            state.retired.clear();
            self.unlink_above(&state.mesh_key);
            return Err(e);
        }
        state.retired.clear();
        self.drop_alternatives_above();
        medium.rename(&old, new);
        state.fingerprint = new;
        state.mesh_key = mesh_key;
        state.keyed = keyed;
        state.generation = generation;
        Ok(())
    }
}
