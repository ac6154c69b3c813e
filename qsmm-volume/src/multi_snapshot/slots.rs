//! Slots: the only writes that carry higher volumes' blocks, paired with base volumes' writes
//! or spent from the mount's tick budget; noise when nothing is queued.

use qsmm_types::{BlockId, Result};
use rand_core::Rng;
use zeroize::Zeroizing;

use super::{MAX_QUEUE, MultiState, SlotCounts};
use crate::medium::{BLOCK_SIZE, Medium};

impl Medium {
    /// Reads a queued block of a higher volume into `buf`; `false` if `block` is not queued.
    pub(crate) fn read_queued(&self, block: u64, buf: &mut [u8]) -> bool {
        let multi = self.multi();
        let Some(m) = multi.as_ref() else {
            return false;
        };
        match m.queue.iter().rev().find(|(b, _)| *b == block) {
            Some((_, bytes)) if bytes.len() == buf.len() => {
                buf.copy_from_slice(bytes);
                true
            }
            _ => false,
        }
    }

    /// Queues a higher volume's write of `block`; a full queue spends one tick slot first.
    pub(crate) fn enqueue(&self, block: u64, data: &[u8]) -> Result<()> {
        let mut multi = self.multi();
        let m = multi.as_mut().ok_or(qsmm_types::Error::InvalidLength {
            what: "slot queue of a single-snapshot medium",
            expected: 0,
            got: data.len(),
        })?;
        m.queue.retain(|(b, _)| *b != block);
        drop(multi);
        let mut multi = self.wait_for_ticker(|m| m.queue.len() < MAX_QUEUE);
        let m = multi.as_mut().ok_or(qsmm_types::Error::InvalidLength {
            what: "slot queue of a single-snapshot medium",
            expected: 0,
            got: data.len(),
        })?;
        while m.queue.len() >= MAX_QUEUE {
            self.slot(m)?;
            m.ticks_used += 1;
        }
        m.queue.push_back((block, Zeroizing::new(data.to_vec())));
        Ok(())
    }

    /// While a [`Ticker`](super::Ticker) runs and its slots succeed, waits until `ready` holds
    /// (its slots and the paired ones do the work); returns the state locked either way.
    pub(super) fn wait_for_ticker(
        &self,
        ready: impl Fn(&MultiState) -> bool,
    ) -> std::sync::MutexGuard<'_, Option<MultiState>> {
        loop {
            let multi = self.multi();
            match multi.as_ref() {
                Some(m) if m.timed && !m.tick_failing && !ready(m) => {}
                _ => return multi,
            }
            drop(multi);
            std::thread::sleep(super::ticker::WAIT_STEP);
        }
    }

    /// The slot paired with a base volume's write, which has just been made.
    pub(crate) fn paired_slot(&self) -> Result<()> {
        let mut multi = self.multi();
        match multi.as_mut() {
            Some(m) => {
                m.counts.base += 1;
                self.slot(m)
            }
            None => Ok(()),
        }
    }

    /// Spends tick slots until no block waits in the queue (a higher volume's flush); while a
    /// [`Ticker`](super::Ticker) runs, waits for its slots instead.
    pub(crate) fn drain_queue(&self) -> Result<()> {
        let mut multi = self.wait_for_ticker(|m| m.queue.is_empty());
        if let Some(m) = multi.as_mut() {
            while !m.queue.is_empty() {
                self.slot(m)?;
                m.ticks_used += 1;
            }
        }
        Ok(())
    }

    /// Spends what is left of the mount's tick budget (a base volume closes).
    pub(crate) fn spend_ticks(&self) -> Result<()> {
        let mut multi = self.multi();
        if let Some(m) = multi.as_mut() {
            while m.ticks_used < m.tick_slots {
                self.slot(m)?;
                m.ticks_used += 1;
            }
        }
        Ok(())
    }

    /// Spends `n` timed slots (a [`Ticker`](super::Ticker)'s); `false` once the medium has
    /// left multi-snapshot mode.
    pub(crate) fn timed_slots(&self, n: u64) -> Result<bool> {
        let mut multi = self.multi();
        let Some(m) = multi.as_mut() else {
            return Ok(false);
        };
        for _ in 0..n {
            if let Err(e) = self.slot(m) {
                m.tick_failing = true;
                return Err(e);
            }
        }
        m.tick_failing = false;
        Ok(true)
    }

    /// Starts (`true`) or ends timed ticks: from the start on, the mount's budget is what has
    /// been spent so far (the rate replaces it), and flushes wait for the ticker's slots.
    pub(crate) fn set_timed(&self, timed: bool) -> bool {
        let mut multi = self.multi();
        let Some(m) = multi.as_mut() else {
            return false;
        };
        if timed {
            m.tick_slots = m.ticks_used;
        }
        m.timed = timed;
        true
    }

    /// Ends the mount as closing a base volume does: spends what is left of the tick budget
    /// and rewrites the root area with the roots of every volume opened during the mount. A
    /// server whose exported volumes are all higher ones (their base volumes opened beneath
    /// them) calls it once they are closed. Nothing to do in single-snapshot mode.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Core`], [`crate::Error::Io`] from the medium.
    pub fn end_mount(&self) -> crate::Result<()> {
        self.spend_ticks()?;
        self.rewrite_root_area()
    }

    /// One slot: the oldest queued block, else noise over a block a higher volume moved away
    /// from, else noise over a uniformly random block no open volume holds.
    fn slot(&self, m: &mut MultiState) -> Result<()> {
        Self::earn_overwrite(m);
        if let Some((block, bytes)) = m.queue.front() {
            // Taken off the queue only once written: a failed slot leaves it for the next.
            self.device().write_block(BlockId(*block), bytes)?;
            m.carried_now.set(*block);
            m.queue.pop_front();
            m.counts.carried += 1;
            return Ok(());
        }
        if let Some(done) = self.overwrite_vacated(m) {
            return done;
        }
        let Some((block, free)) = self.hold_free(&mut m.rng) else {
            // A full medium: nothing to overwrite.
            return Ok(());
        };
        m.noise_held.push(block);
        // Given back only once they outnumber the blocks still free: a block given back
        // during the mount can be hit a second time, one change for two writes, and how soon
        // that happens would depend on what is hidden (carried blocks are never given back).
        // A mount under a tick budget stays far below it; an allocation that finds no free
        // block takes them back first (`Medium::allocate`).
        if m.noise_held.len() as u64 > free {
            let held = core::mem::take(&mut m.noise_held);
            self.release_held(&held);
        }
        let mut noise = Zeroizing::new(vec![0u8; BLOCK_SIZE]);
        m.rng.fill_bytes(&mut noise);
        m.counts.noise += 1;
        self.device().write_block(BlockId(block), &noise)
    }

    /// Gives back every block noise slots hold (an allocation found no free block); whether
    /// there were any. Never called while the slot state is locked.
    pub(crate) fn release_noise_held(&self) -> bool {
        let held = match self.multi().as_mut() {
            Some(m) if !m.noise_held.is_empty() => core::mem::take(&mut m.noise_held),
            _ => return false,
        };
        self.release_held(&held);
        true
    }

    /// Sets the tick budget of this mount in multi-snapshot mode: the slots a mount spends
    /// besides those paired with base volumes' writes (default
    /// [`DEFAULT_TICK_SLOTS`](crate::DEFAULT_TICK_SLOTS)). Higher volumes' flushes spend it to
    /// drain their writes; the close of a base volume spends the rest on noise. A mount whose
    /// higher volumes need more writes than the budget and the paired slots carry spends more,
    /// which an adversary comparing images can count. No effect in single-snapshot mode.
    pub fn set_tick_slots(&self, slots: u64) {
        if let Some(m) = self.multi().as_mut() {
            m.set_tick_slots(slots);
        }
    }

    /// The blocks written so far in multi-snapshot mode, by kind (`None` while no volume in
    /// that mode is open on this medium).
    #[must_use]
    pub fn slot_counts(&self) -> Option<SlotCounts> {
        self.multi().as_ref().map(MultiState::counts)
    }
}
