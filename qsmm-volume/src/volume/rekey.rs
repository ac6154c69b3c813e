//! Changing a volume's passphrase: the volumes above name the new key (the old one as their
//! alternative), the root moves to the new passphrase's mesh with a record of the old root's
//! blocks, and the old root's blocks are overwritten with noise. After a crash anywhere in
//! between, the first open under the new passphrase finishes the noise (see [`crate::root`]).

use std::sync::Arc;

use qsmm_types::{BlockId, SecretKey};
use rand_core::Rng;

use super::open::scrub_best_effort;
use super::relocate::place_root;
use super::state::{VolumeInner, fingerprint};
use crate::error::{Error, Result};
use crate::medium::BLOCK_SIZE;
use crate::root::{Retired, find_root, write_root};

impl VolumeInner {
    /// The open volumes whose roots name this one as a lower volume, with the positions.
    fn volumes_above(&self) -> Vec<(Arc<Self>, Vec<usize>)> {
        let mut found = Vec::new();
        for other in self.medium.open_volumes() {
            let Ok(above) = other.downcast::<Self>() else {
                continue;
            };
            let positions: Vec<usize> = above
                .lower
                .iter()
                .enumerate()
                .filter(|(_, v)| core::ptr::eq(Arc::as_ptr(v), self))
                .map(|(i, _)| i)
                .collect();
            if !positions.is_empty() {
                found.push((above, positions));
            }
        }
        found
    }

    /// Makes every open volume whose root names this one name `new` instead, with `old` as
    /// its alternative key, and flushes it: durable before the new root is written, so that a
    /// volume above opens this one whichever of its roots survives a crash. On an error the
    /// volumes above keep naming `old` (a flush of theirs that landed part way names both).
    pub(super) fn relink_above(&self, old: &SecretKey, new: &SecretKey) -> Result<()> {
        for (above, positions) in self.volumes_above() {
            let mut state = above.lock();
            for &i in &positions {
                if let Some(key) = state.lower_keys.get_mut(i) {
                    *key = new.clone_key();
                }
                state.lower_alt = Some((i, old.clone_key()));
            }
            state.changed = true;
            if let Err(e) = above.flush_locked(&mut state) {
                for &i in &positions {
                    if let Some(key) = state.lower_keys.get_mut(i) {
                        *key = old.clone_key();
                    }
                }
                state.lower_alt = None;
                return Err(e);
            }
        }
        Ok(())
    }

    /// The change is complete: the volumes above drop the alternative key at their next root.
    pub(super) fn drop_alternatives_above(&self) {
        for (above, _) in self.volumes_above() {
            above.lock().lower_alt = None;
        }
    }

    /// The change failed before the new root was durable: the volumes above name `old` again
    /// (at their next root; the one they wrote names `old` as the alternative).
    pub(super) fn unlink_above(&self, old: &SecretKey) {
        for (above, positions) in self.volumes_above() {
            let mut state = above.lock();
            for &i in &positions {
                if let Some(key) = state.lower_keys.get_mut(i) {
                    *key = old.clone_key();
                }
            }
            state.lower_alt = None;
            state.changed = true;
        }
    }

    /// Records `blocks` as they are now, for the roll-forward record of the new root.
    pub(super) fn retire(&self, blocks: &[u64]) -> Result<Vec<Retired>> {
        let mut buf = vec![0u8; BLOCK_SIZE];
        let mut retired = Vec::with_capacity(blocks.len());
        for &b in blocks {
            self.medium.device().read_block(BlockId(b), &mut buf)?;
            retired.push(Retired::new(b, &buf));
        }
        Ok(retired)
    }

    /// See [`crate::Volume::change_passphrase`].
    pub(super) fn change_passphrase(&self, new_passphrase: &[u8]) -> Result<()> {
        if self.class.is_multi() {
            return self.change_passphrase_multi(new_passphrase);
        }
        let medium = &self.medium;
        let mesh_key = medium.kdf_cost().derive(new_passphrase, medium.salt())?;
        if find_root(medium, &mesh_key).is_ok() {
            return Err(Error::VolumeExists);
        }
        // The new root may reuse the old root's blocks; open volumes (this one included) move
        // out of the others, which stay reserved until the new root is written.
        let old_blocks = self.lock().mesh_blocks.clone();
        let (keyed, new_blocks, to_claim, reservation) =
            place_root(medium, &mesh_key, &old_blocks)?;
        let mut state = self.lock();
        if state.mesh_blocks != old_blocks {
            return Err(Error::InvalidParameter(
                "the passphrase was changed meanwhile",
            ));
        }
        self.flush_locked(&mut state)?;
        // The old root's blocks the new root does not reuse: recorded in the new root, so
        // that an open under the new passphrase overwrites them if a crash comes first.
        let old: Vec<u64> = state
            .mesh_blocks
            .iter()
            .copied()
            .filter(|b| !new_blocks.contains(b))
            .collect();
        self.relink_above(&state.mesh_key, &mesh_key)?;
        state.retired = self.retire(&old)?;
        let root = state.root(self);
        let generation = state.generation.wrapping_add(1);
        let written = write_root(medium, &keyed, &root, generation)
            .and_then(|()| Ok(medium.device().flush()?));
        if let Err(e) = written {
            state.retired.clear();
            scrub_best_effort(medium, &to_claim);
            self.unlink_above(&state.mesh_key);
            return Err(e);
        }
        reservation.keep()?;
        // Scrub the old root with noise; the next root drops the record.
        let mut noise = vec![0u8; BLOCK_SIZE];
        for &b in &old {
            state.rng.fill_bytes(&mut noise);
            medium.device().write_block(BlockId(b), &noise)?;
        }
        medium.device().flush()?;
        state.retired.clear();
        self.drop_alternatives_above();
        for &b in &to_claim {
            state.owned.set(b);
        }
        for &b in &old {
            state.owned.clear(b);
        }
        medium.release(old);
        let fingerprint = fingerprint(&mesh_key, medium.salt());
        medium.rename(&state.fingerprint, fingerprint);
        state.fingerprint = fingerprint;
        state.mesh_key = mesh_key;
        state.keyed = keyed;
        state.mesh_blocks = new_blocks;
        state.generation = generation;
        Ok(())
    }
}
