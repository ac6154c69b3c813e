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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use qsmm_void::MemoryDevice;

    use super::*;
    use crate::kdf::KdfCost;

    fn medium() -> Medium {
        let device = Arc::new(MemoryDevice::new(4096, 256).unwrap());
        qsmm_void::format(&*device).unwrap();
        Medium::from_device(device, KdfCost::DANGER_INSECURE_FOR_TESTS).unwrap()
    }

    #[test]
    fn reserved_blocks_wait_for_their_volumes_and_never_reach_the_allocator() {
        let medium = medium();
        medium.mark_used([10, 11]);
        let free = medium.free_blocks();
        let reservation = medium.reserve(&[10, 11, 12, 12]).unwrap();
        assert_eq!(
            medium.free_blocks(),
            free - 1,
            "the free one is taken at once"
        );
        assert_eq!(reservation.pending(), vec![10, 11]);
        assert!(matches!(
            medium.reserve(&[12]),
            Err(Error::PassphraseCollision)
        ));
        medium.release([10]);
        assert_eq!(reservation.pending(), vec![11]);
        assert!(medium.is_reserved(10));
        // Released into the reservation, not the pool.
        assert_eq!(medium.free_blocks(), free - 1);
        for _ in 0..free - 1 {
            let b = medium.allocate().unwrap();
            assert!(![10, 11, 12].contains(&b));
        }
        assert!(matches!(medium.allocate(), Err(Error::NoSpace)));
        assert!(matches!(
            Reservation::keep(medium.reserve(&[]).unwrap()),
            Ok(())
        ));
        // Dropped: the vacated and the free-from-the-start blocks return, the held one stays.
        drop(reservation);
        assert_eq!(medium.free_blocks(), 2);
        assert!(!medium.is_reserved(10));
        medium.release([11]);
        assert_eq!(medium.free_blocks(), 3);
    }

    #[test]
    fn a_kept_reservation_holds_its_blocks() {
        let medium = medium();
        medium.mark_used([20]);
        let free = medium.free_blocks();
        let reservation = medium.reserve(&[20, 21]).unwrap();
        assert!(matches!(
            medium.reserve(&[21, 22]),
            Err(Error::PassphraseCollision)
        ));
        medium.release([20]);
        reservation.keep().unwrap();
        assert_eq!(medium.free_blocks(), free - 1);
        assert!(!medium.is_reserved(20) && !medium.is_reserved(21));
        let stuck = medium.reserve(&[30]).unwrap();
        medium.mark_used([31]);
        let held = medium.reserve(&[31]).unwrap();
        assert!(matches!(held.keep(), Err(Error::Internal(_))));
        drop(stuck);
    }
}
