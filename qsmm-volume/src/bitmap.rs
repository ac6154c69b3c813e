//! A fixed-size set of block numbers: the medium's used blocks and each volume's own.

/// A fixed-size set of block numbers.
#[derive(Clone)]
pub(crate) struct Bitmap {
    words: Vec<u64>,
    len: u64,
    ones: u64,
}

impl Bitmap {
    pub(crate) fn new(len: u64) -> Self {
        let words = usize::try_from(len.div_ceil(64)).unwrap_or(0);
        Self {
            words: vec![0; words],
            len,
            ones: 0,
        }
    }

    pub(crate) const fn len(&self) -> u64 {
        self.len
    }

    pub(crate) const fn ones(&self) -> u64 {
        self.ones
    }

    fn word(&self, i: u64) -> Option<(usize, u64)> {
        if i >= self.len {
            return None;
        }
        Some((usize::try_from(i / 64).ok()?, 1u64 << (i % 64)))
    }

    pub(crate) fn get(&self, i: u64) -> bool {
        self.word(i)
            .and_then(|(w, bit)| self.words.get(w).map(|word| word & bit != 0))
            .unwrap_or(false)
    }

    /// Sets bit `i`; true if it was clear.
    pub(crate) fn set(&mut self, i: u64) -> bool {
        let Some((w, bit)) = self.word(i) else {
            return false;
        };
        match self.words.get_mut(w) {
            Some(word) if *word & bit == 0 => {
                *word |= bit;
                self.ones += 1;
                true
            }
            _ => false,
        }
    }

    /// Clears bit `i`; true if it was set.
    pub(crate) fn clear(&mut self, i: u64) -> bool {
        let Some((w, bit)) = self.word(i) else {
            return false;
        };
        match self.words.get_mut(w) {
            Some(word) if *word & bit != 0 => {
                *word &= !bit;
                self.ones -= 1;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn clear_all(&mut self) {
        self.words.fill(0);
        self.ones = 0;
    }

    /// The set bits, ascending.
    pub(crate) fn iter_ones(&self) -> impl Iterator<Item = u64> + '_ {
        (0u64..).zip(&self.words).flat_map(|(w, &word)| {
            let mut rest = word;
            core::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = u64::from(rest.trailing_zeros());
                rest &= rest - 1;
                Some(w * 64 + bit)
            })
        })
    }

    /// The `rank`-th clear bit (from 0), ascending.
    pub(crate) fn nth_zero(&self, mut rank: u64) -> Option<u64> {
        for (w, &word) in (0u64..).zip(&self.words) {
            let base = w * 64;
            let valid = (self.len - base).min(64);
            let mask = if valid == 64 {
                u64::MAX
            } else {
                (1u64 << valid) - 1
            };
            let zeros = u64::from((!word & mask).count_ones());
            if rank < zeros {
                let mut rest = !word & mask;
                for _ in 0..rank {
                    rest &= rest - 1;
                }
                return Some(base + u64::from(rest.trailing_zeros()));
            }
            rank -= zeros;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_counts_and_ranks() {
        let mut b = Bitmap::new(130);
        assert!(b.set(0) && b.set(64) && b.set(129));
        assert!(!b.set(64));
        assert_eq!(b.ones(), 3);
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), [0, 64, 129]);
        assert_eq!(b.nth_zero(0), Some(1));
        assert_eq!(b.nth_zero(62), Some(63));
        assert_eq!(b.nth_zero(63), Some(65));
        assert_eq!(b.nth_zero(126), Some(128));
        assert_eq!(b.nth_zero(127), None);
        assert!(b.clear(64) && !b.clear(64));
        assert!(!b.set(130));
        assert!(!b.get(130));
    }
}
