//! Blocks held for a new root while the open volumes move out of them.
//!
//! A root's blocks are fixed by its passphrase. When some of them are in use, the volumes that
//! hold them move those blocks elsewhere by ordinary copy-on-write commits; meanwhile the
//! reservation keeps every one of them from the allocator, so that a block, once vacated, is
//! not handed to another write before the root takes it.

use super::{Medium, MediumInner};
use crate::error::{Error, Result};
use std::sync::Arc;

/// Blocks reserved for a new root. Dropped without [`Self::keep`], it gives the blocks back:
/// those vacated (or free from the start) return to the pool, those still in use stay with
/// their volumes.
pub(crate) struct Reservation {
    medium: Arc<MediumInner>,
    blocks: Vec<u64>,
}

impl Medium {
    /// Reserves `blocks`: the free ones are taken at once, the others as their volumes release
    /// them. Fails with [`Error::PassphraseCollision`] if another reservation holds one of them
    /// (two roots created at once on the same blocks).
    pub(crate) fn reserve(&self, blocks: &[u64]) -> Result<Reservation> {
        let mut state = self.inner.lock();
        if blocks.iter().any(|b| state.reserved.contains_key(b)) {
            return Err(Error::PassphraseCollision);
        }
        let mut distinct = blocks.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for &b in &distinct {
            let was_free = state.used.set(b);
            state.reserved.insert(b, was_free);
        }
        Ok(Reservation {
            medium: Arc::clone(&self.inner),
            blocks: distinct,
        })
    }
}

impl Medium {
    /// Whether a reservation holds `block` (a map block there must not be rewritten in place).
    pub(crate) fn is_reserved(&self, block: u64) -> bool {
        self.inner.lock().reserved.contains_key(&block)
    }
}

impl Reservation {
    /// The reserved blocks still in use by a volume.
    pub(crate) fn pending(&self) -> Vec<u64> {
        let state = self.medium.lock();
        self.blocks
            .iter()
            .copied()
            .filter(|b| state.reserved.get(b) == Some(&false))
            .collect()
    }

    /// Takes every reserved block for good (they stay used); fails without taking any if one
    /// is still in use by a volume.
    pub(crate) fn keep(mut self) -> Result<()> {
        let mut state = self.medium.lock();
        if self
            .blocks
            .iter()
            .any(|b| state.reserved.get(b) != Some(&true))
        {
            return Err(Error::Internal("a reserved block is still in use"));
        }
        for b in core::mem::take(&mut self.blocks) {
            state.reserved.remove(&b);
        }
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut state = self.medium.lock();
        for &b in &self.blocks {
            if state.reserved.remove(&b) == Some(true) {
                state.used.clear(b);
            }
        }
    }
}
