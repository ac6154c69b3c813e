//! Wall-clock time in Unix seconds, behind a trait so tests can move time by hand.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in whole seconds since the Unix epoch.
///
/// Expiry is decided with this clock on redb: a note expires when `now >= expires_at`. On
/// PostgreSQL, which several instances share, expiry, the sweeper and the hour keys follow the
/// database's clock instead, never an instance's, unless the clock is moved by hand
/// ([`Clock::is_manual`]).
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time in seconds since 1970-01-01T00:00:00Z.
    fn now_unix(&self) -> u64;

    /// Whether this clock is moved by hand, as tests do. A manual clock also stands in for
    /// PostgreSQL's clock, so that tests move time alike on both stores; any other clock is
    /// the instance's own and PostgreSQL decides with its own. `false` unless overridden.
    fn is_manual(&self) -> bool {
        false
    }
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct SystemClock;

impl SystemClock {
    /// The system clock.
    #[must_use]
    pub const fn new() -> Self {
        Self
    }
}

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        // A clock before 1970 is treated as 1970: nothing expires early because of it.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}

/// A clock that only moves when told to, for tests.
///
/// ```
/// use paravoid::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_000);
/// clock.advance(60);
/// assert_eq!(clock.now_unix(), 1_060);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock standing at `now` seconds.
    #[must_use]
    pub const fn new(now: u64) -> Self {
        Self(AtomicU64::new(now))
    }

    /// Moves the clock forward by `secs` seconds (saturating).
    pub fn advance(&self, secs: u64) {
        let mut current = self.0.load(Ordering::SeqCst);
        loop {
            let next = current.saturating_add(secs);
            match self
                .0
                .compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn is_manual(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock::new().now_unix() > 1_577_836_800);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(5);
        assert_eq!(clock.now_unix(), 5);
        clock.advance(10);
        assert_eq!(clock.now_unix(), 15);
        clock.advance(u64::MAX);
        assert_eq!(clock.now_unix(), u64::MAX);
        clock.set(7);
        assert_eq!(clock.now_unix(), 7);
        assert!(clock.is_manual() && !SystemClock::new().is_manual());
    }
}
