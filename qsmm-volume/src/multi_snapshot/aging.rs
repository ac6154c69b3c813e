//! Aging: the live blocks of higher volumes change from mount to mount at the rate free blocks
//! do, so that an adversary who images the medium many times finds no blocks that stay put
//! more often than chance allows.
//!
//! Every block no base volume holds is, to an adversary, either free or a higher volume's:
//! slots hit free blocks, and a higher volume's blocks it does not rewrite would never change.
//! So a higher volume *moves* some of its live blocks, chosen uniformly among those not written
//! during the mount: it rewrites them to fresh blocks (carried by slots, uniform over the free
//! blocks), and once the commit that stops referencing the old places is durable it hands them
//! to the slots ([`Medium::give_up`]), which overwrite them with noise, spread among the other
//! slots, and then hold them like noise blocks. How many it moves is set by [`Share`]: over a
//! mount of `S` slots, with `F` free and `L` live higher blocks, `S·L/(F+L)` moves leave
//! `S − S·L/(F+L)` slots on the free blocks, so each of the `F + L` blocks no base volume holds
//! changes with the same chance, `S/(F+L)`, as each free block does in a mount where nothing is
//! hidden. While a [`Ticker`](super::Ticker) runs, the moves are made at each flush of the
//! higher volume; under a tick budget, when the base volume closes, so that they travel in the
//! budget the close spends (see `volume/aging.rs`).
//!
//! Blocks a slot wrote during the mount and a volume then freed are held like noise blocks too
//! ([`Medium::hold_carried`]): a noise block is never written twice in a mount, and neither is
//! one of those (a second write would change no more blocks, and the mount would show fewer
//! changes than with nothing hidden).

use qsmm_types::{BlockId, Result};
use zeroize::Zeroizing;

use super::MultiState;
use crate::medium::{BLOCK_SIZE, Medium};

/// What a higher volume's flush needs to decide how many of its blocks to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Share {
    /// Slots of the mount so far, and those the tick budget still owes it.
    pub(crate) supply: u64,
    /// Blocks no base volume holds: free, held by slots, or held by higher volumes.
    pub(crate) pool: u64,
    /// Slots the budget still has room for beyond what waits already (`None`: a timed tick,
    /// whose slots the moves wait for).
    pub(crate) room: Option<u64>,
}

impl Medium {
    /// Records that the higher volume `fingerprint` holds `held` blocks and returns the share
    /// it moves by (`None` outside multi-snapshot mode).
    pub(crate) fn aging_share(&self, fingerprint: [u8; 32], held: u64) -> Option<Share> {
        let mut multi = self.multi();
        let m = multi.as_mut()?;
        match m.higher_held.iter_mut().find(|(f, _)| *f == fingerprint) {
            Some(entry) => entry.1 = held,
            None => m.higher_held.push((fingerprint, held)),
        }
        let waiting = (m.queue.len() + m.vacated.len()) as u64;
        let room = (!m.timed).then(|| {
            m.tick_slots
                .saturating_sub(m.ticks_used)
                .saturating_sub(waiting)
        });
        let supply = m.counts.carried
            + m.counts.noise
            + if m.timed {
                0
            } else {
                m.tick_slots.saturating_sub(m.ticks_used)
            };
        let higher: u64 = m.higher_held.iter().map(|(_, h)| h).sum();
        let pool = self.free_blocks() + m.noise_held.len() as u64 + m.vacated.len() as u64 + higher;
        m.vacate_rate = (higher, pool.max(1));
        Some(Share { supply, pool, room })
    }

    /// Hands blocks a higher volume moved away from (no durable root references them any
    /// more) to the slots: each is overwritten with noise by a slot, then held like a noise
    /// block. They stay taken until then, so nothing else can be written there first.
    pub(crate) fn give_up(&self, blocks: &[u64]) {
        if let Some(m) = self.multi().as_mut() {
            m.vacated.extend(blocks.iter().copied());
        }
    }

    /// Earns a slot's share of an overwrite of a vacated block (see
    /// [`Self::overwrite_vacated`]); nothing while none waits.
    pub(super) fn earn_overwrite(m: &mut MultiState) {
        if !m.vacated.is_empty() {
            m.vacate_credit = m.vacate_credit.saturating_add(m.vacate_rate.0);
        }
    }

    /// How many of `blocks` a slot wrote during this mount (they changed already).
    pub(crate) fn carried_among(&self, blocks: impl Iterator<Item = u64>) -> u64 {
        self.multi().as_ref().map_or(0, |m| {
            blocks.filter(|&b| m.carried_now.get(b)).count() as u64
        })
    }

    /// Whether a slot wrote `block` during this mount.
    pub(crate) fn was_carried(&self, block: u64) -> bool {
        self.multi()
            .as_ref()
            .is_some_and(|m| m.carried_now.get(block))
    }

    /// Takes out of `blocks` those a slot wrote during this mount and holds them like noise
    /// blocks (a no-op in single-snapshot mode).
    pub(crate) fn hold_carried(&self, blocks: &mut Vec<u64>) {
        if let Some(m) = self.multi().as_mut() {
            blocks.retain(|&b| {
                if m.carried_now.get(b) {
                    m.noise_held.push(b);
                    false
                } else {
                    true
                }
            });
        }
    }

    /// The slot's work when nothing is queued, a block waits to be overwritten and its turn
    /// has come: noise there, and the block is held. `None` otherwise (the slot writes noise
    /// over a random block).
    ///
    /// Every slot, carrying or not, earns `held / pool` of an overwrite (the share of the
    /// blocks no base volume holds that higher volumes hold); a slot that carries nothing
    /// overwrites a vacated block once a whole one is earned, the others hit free blocks: so the slots
    /// after any point of the mount hit free and higher volumes' blocks alike, as the slots of
    /// a mount where nothing is hidden hit free blocks. Giving them priority instead would
    /// push noise over free blocks to the end of the mount, where fewer slots then reach the
    /// blocks the decoy frees last.
    pub(super) fn overwrite_vacated(&self, m: &mut MultiState) -> Option<Result<()>> {
        let block = *m.vacated.front()?;
        let pool = m.vacate_rate.1;
        // Under a tick budget, the last slots it still owes overwrite every block that waits.
        let last = !m.timed && m.vacated.len() as u64 >= m.tick_slots.saturating_sub(m.ticks_used);
        if m.vacate_credit < pool && !last {
            return None;
        }
        m.vacate_credit = m.vacate_credit.saturating_sub(pool);
        let mut noise = Zeroizing::new(vec![0u8; BLOCK_SIZE]);
        rand_core::Rng::fill_bytes(&mut m.rng, &mut noise);
        if let Err(e) = self.device().write_block(BlockId(block), &noise) {
            return Some(Err(e));
        }
        m.vacated.pop_front();
        m.noise_held.push(block);
        m.counts.noise += 1;
        Some(Ok(()))
    }
}
