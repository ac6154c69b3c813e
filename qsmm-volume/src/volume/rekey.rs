//! Changing a volume's passphrase: the root moves to the new passphrase's mesh, the old root's
//! blocks are overwritten with noise.

use std::sync::Arc;

use qsmm_types::{BlockId, SecretKey};
use rand_core::Rng;

use super::open::scrub_best_effort;
use super::relocate::make_room;
use super::state::{VolumeInner, fingerprint};
use crate::error::{Error, Result};
use crate::medium::BLOCK_SIZE;
use crate::root::{find_root, physical_mesh_blocks, write_root};

impl VolumeInner {
    /// Points every open volume whose root names this one as a lower volume at `mesh_key`, and
    /// flushes it.
    fn relink_above(&self, mesh_key: &SecretKey) -> Result<()> {
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
            if positions.is_empty() {
                continue;
            }
            let mut state = above.lock();
            for i in positions {
                if let Some(key) = state.lower_keys.get_mut(i) {
                    *key = mesh_key.clone_key();
                }
            }
            state.changed = true;
            above.flush_locked(&mut state)?;
        }
        Ok(())
    }

    /// See [`crate::Volume::change_passphrase`].
    pub(super) fn change_passphrase(&self, new_passphrase: &[u8]) -> Result<()> {
        if self.class.is_multi() {
            return self.change_passphrase_multi(new_passphrase);
        }
        let medium = &self.medium;
        let mesh_key = medium.kdf_cost().derive(new_passphrase, medium.salt())?;
        let keyed = medium.mesh().for_key(&mesh_key, *medium.salt())?;
        if find_root(medium, &mesh_key).is_ok() {
            return Err(Error::VolumeExists);
        }
        let new_blocks = physical_mesh_blocks(&keyed);
        // The new root may reuse the old root's blocks; open volumes (this one included) move
        // out of the others, which stay reserved until the new root is written.
        let old_blocks = self.lock().mesh_blocks.clone();
        let to_claim: Vec<u64> = new_blocks
            .iter()
            .copied()
            .filter(|b| !old_blocks.contains(b))
            .collect();
        let reservation = make_room(medium, &to_claim)?;
        let mut state = self.lock();
        if state.mesh_blocks != old_blocks {
            return Err(Error::InvalidParameter(
                "the passphrase was changed meanwhile",
            ));
        }
        self.flush_locked(&mut state)?;
        let root = state.root(self);
        let generation = state.generation.wrapping_add(1);
        let written = write_root(medium, &keyed, &root, generation)
            .and_then(|()| Ok(medium.device().flush()?));
        if let Err(e) = written {
            scrub_best_effort(medium, &to_claim);
            return Err(e);
        }
        reservation.keep()?;
        // Open volumes above this one name it by its mesh key: give them the new one, durable
        // before the old root goes.
        self.relink_above(&mesh_key)?;
        // Scrub the old root with noise, except blocks the new root uses.
        let old: Vec<u64> = state
            .mesh_blocks
            .iter()
            .copied()
            .filter(|b| !new_blocks.contains(b))
            .collect();
        let mut noise = vec![0u8; BLOCK_SIZE];
        for &b in &old {
            state.rng.fill_bytes(&mut noise);
            medium.device().write_block(BlockId(b), &noise)?;
        }
        medium.device().flush()?;
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
