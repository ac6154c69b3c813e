//! Changing a volume's passphrase: the root moves to the new passphrase's mesh, the old root's
//! blocks are overwritten with noise.

use qsmm_types::BlockId;
use rand_core::Rng;

use super::state::{VolumeInner, fingerprint};
use crate::error::{Error, Result};
use crate::medium::BLOCK_SIZE;
use crate::root::{physical_mesh_blocks, read_root, write_root};

impl VolumeInner {
    /// See [`crate::Volume::change_passphrase`].
    pub(super) fn change_passphrase(&self, new_passphrase: &[u8]) -> Result<()> {
        if self.class.is_multi() {
            return self.change_passphrase_multi(new_passphrase);
        }
        let medium = &self.medium;
        let mesh_key = medium.kdf_cost().derive(new_passphrase, medium.salt())?;
        let keyed = medium.mesh().for_key(&mesh_key, *medium.salt())?;
        let mut state = self.lock();
        self.flush_locked(&mut state)?;
        if read_root(medium, &keyed).is_ok() {
            return Err(Error::VolumeExists);
        }
        let new_blocks = physical_mesh_blocks(&keyed);
        // The new root may reuse the old root's blocks, but no other block of this volume.
        let to_claim: Vec<u64> = new_blocks
            .iter()
            .copied()
            .filter(|b| !state.mesh_blocks.contains(b))
            .collect();
        medium.claim(&to_claim)?;
        let root = state.root(self);
        let generation = state.generation + 1;
        if let Err(e) = write_root(medium, &keyed, &root, generation) {
            medium.release(to_claim);
            return Err(e);
        }
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
