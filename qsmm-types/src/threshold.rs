//! Shamir `k`-of-`n` thresholds.

use crate::{Error, Result};

/// The smallest meaningful `k`: with `k = 1` every share would be the secret itself.
pub const MIN_THRESHOLD: usize = 2;

/// The largest `n`: shares are numbered by non-zero bytes.
pub const MAX_SHARES: usize = 255;

/// A Shamir threshold: any `k` of `n` shares reconstruct, fewer reveal nothing.
///
/// Valid thresholds satisfy `2 ≤ k ≤ n ≤ 255`. [`Threshold::try_new`] checks this at once.
/// [`Threshold::new`] accepts any numbers and leaves the check to the first operation that uses
/// the threshold, which then returns [`Error::InvalidThreshold`] — never a panic. Both forms
/// exist so that configuration literals such as
/// `MeshConfig { threshold: Threshold::new(3, 5), .. }` read naturally.
///
/// ```
/// use qsmm_types::{Error, Threshold};
///
/// let t = Threshold::try_new(3, 5)?;
/// assert_eq!((t.k(), t.n()), (3, 5));
///
/// // Invalid thresholds are reported when checked, never by a panic.
/// let bad = Threshold::new(1, 5);
/// assert!(matches!(bad.validate(), Err(Error::InvalidThreshold { k: 1, n: 5 })));
/// assert!(Threshold::try_new(2, 256).is_err());
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Threshold {
    k: usize,
    n: usize,
}

impl Threshold {
    /// A threshold that is checked later, by [`Threshold::validate`] or by whichever operation
    /// uses it first.
    ///
    /// Accepts any integer type; values that do not fit a `usize` (negative numbers) are kept
    /// as an invalid threshold.
    #[must_use]
    pub fn new<K: TryInto<usize>, N: TryInto<usize>>(k: K, n: N) -> Self {
        // 0 is never a valid k or n, so it stands in for "not representable".
        Self {
            k: k.try_into().unwrap_or(0),
            n: n.try_into().unwrap_or(0),
        }
    }

    /// A threshold checked now.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidThreshold`] unless `2 ≤ k ≤ n ≤ 255`.
    pub fn try_new<K: TryInto<usize>, N: TryInto<usize>>(k: K, n: N) -> Result<Self> {
        Self::new(k, n).validate()
    }

    /// Returns the threshold if `2 ≤ k ≤ n ≤ 255`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidThreshold`] otherwise.
    pub fn validate(self) -> Result<Self> {
        if MIN_THRESHOLD <= self.k && self.k <= self.n && self.n <= MAX_SHARES {
            Ok(self)
        } else {
            Err(Error::InvalidThreshold {
                k: self.k,
                n: self.n,
            })
        }
    }

    /// Whether `2 ≤ k ≤ n ≤ 255`.
    #[must_use]
    pub fn is_valid(self) -> bool {
        self.validate().is_ok()
    }

    /// The number of shares needed to reconstruct.
    #[must_use]
    pub const fn k(self) -> usize {
        self.k
    }

    /// The total number of shares.
    #[must_use]
    pub const fn n(self) -> usize {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn boundaries() {
        assert!(Threshold::try_new(2, 2).is_ok());
        assert!(Threshold::try_new(255, 255).is_ok());
        assert!(Threshold::try_new(2, 255).is_ok());
        assert!(Threshold::try_new(1, 2).is_err());
        assert!(Threshold::try_new(0, 0).is_err());
        assert!(Threshold::try_new(3, 2).is_err());
        assert!(Threshold::try_new(2, 256).is_err());
        assert!(Threshold::try_new(256, 256).is_err());
        assert!(Threshold::try_new(-1, 5).is_err());
        assert!(Threshold::try_new(3u8, 5u8).is_ok());
    }

    #[test]
    fn error_carries_the_request() {
        let err = Threshold::try_new(7, 4).unwrap_err();
        assert!(matches!(err, Error::InvalidThreshold { k: 7, n: 4 }));
        assert_eq!(
            err.to_string(),
            "invalid threshold 7-of-4: need 2 <= k <= n <= 255"
        );
    }

    proptest! {
        #[test]
        fn validity_matches_the_rule(k in 0usize..600, n in 0usize..600) {
            let expected = (2..=255).contains(&k) && k <= n && n <= 255;
            prop_assert_eq!(Threshold::try_new(k, n).is_ok(), expected);
            prop_assert_eq!(Threshold::new(k, n).is_valid(), expected);
            if expected {
                let t = Threshold::try_new(k, n).unwrap();
                prop_assert_eq!((t.k(), t.n()), (k, n));
            }
        }
    }
}
