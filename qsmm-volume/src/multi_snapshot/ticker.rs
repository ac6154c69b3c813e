//! The timed tick: a thread that spends slots of a multi-snapshot medium at a fixed rate while
//! it is mounted, so that how many blocks a mount changes depends on its length and the base
//! volumes' writes only, not on when or how much the higher volumes write.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::medium::Medium;

/// Slots per second a server spends unless told otherwise: 256, one MiB of writes per second
/// while mounted, which is also the most a higher volume writes while the base volumes are idle.
pub const DEFAULT_TICK_RATE: u32 = 256;

/// Highest rate accepted, in slots per second (64 MiB/s of writes).
const MAX_TICK_RATE: u32 = 16_384;

/// How often the thread wakes: it spends the slots due since the last wake-up.
const PERIOD: Duration = Duration::from_millis(20);

/// How long a flush or a write into a full queue sleeps between looks at the queue.
pub(crate) const WAIT_STEP: Duration = Duration::from_millis(2);

/// Spends the slots of a multi-snapshot medium at a fixed rate while it lives.
///
/// A slot carries the oldest queued block of a higher volume or writes noise to a uniformly
/// random free block. While a ticker runs, a higher volume's flush waits until the slots (the
/// ticker's and those paired with base volumes' writes) have carried its queue, and a write
/// into a full queue waits for room: higher volumes never cause a write themselves. The rate
/// replaces the mount's tick budget ([`Medium::set_tick_slots`]): the close of a base volume
/// spends no more.
///
/// Dropping the ticker stops the thread; flushes then spend their own slots again. A server
/// closes its higher volumes while the ticker still runs, then drops it, then closes the base
/// volumes (or calls [`Medium::end_mount`]).
///
/// # Examples
///
/// ```
/// use qsmm_volume::{KdfCost, Medium, SnapshotMode, Ticker, Volume};
///
/// let device = std::sync::Arc::new(qsmm_void::MemoryDevice::new(4096, 1024)?);
/// qsmm_void::format(&*device)?;
/// let medium = Medium::from_device(device, KdfCost::DANGER_INSECURE_FOR_TESTS)?;
/// let decoy = Volume::create_with_mode(&medium, b"decoy", 1 << 20, &[], SnapshotMode::Multi)?;
/// let hidden =
///     Volume::create_with_mode(&medium, b"hidden", 1 << 20, &[&decoy], SnapshotMode::Multi)?;
/// let ticker = Ticker::start(&medium, 2000, |_| {})?;
/// hidden.write(0, &[2u8; 4096])?;
/// hidden.close()?; // returns once the ticker's slots have carried its blocks
/// drop(ticker);
/// decoy.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    medium: Medium,
    rate: u32,
    stop: Mutex<bool>,
    wake: Condvar,
    spent: Mutex<u64>,
}

impl Ticker {
    /// Starts spending `slots_per_second` slots per second on `medium`. `on_error` is called
    /// (on the ticker's thread) when a slot cannot be written; the ticker goes on.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a rate of zero or above 16384, or a medium on which no
    /// volume in multi-snapshot mode is open; [`Error::Io`] if the thread cannot be started.
    pub fn start(
        medium: &Medium,
        slots_per_second: u32,
        on_error: impl Fn(&Error) + Send + 'static,
    ) -> Result<Self> {
        if slots_per_second == 0 || slots_per_second > MAX_TICK_RATE {
            return Err(Error::InvalidParameter("tick rate"));
        }
        if !medium.set_timed(true) {
            return Err(Error::InvalidParameter(
                "a ticker on a medium without multi-snapshot volumes",
            ));
        }
        let shared = Arc::new(Shared {
            medium: medium.clone(),
            rate: slots_per_second,
            stop: Mutex::new(false),
            wake: Condvar::new(),
            spent: Mutex::new(0),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("qsmm-tick".into())
                .spawn(move || shared.run(&on_error))
        };
        match thread {
            Ok(thread) => Ok(Self {
                shared,
                thread: Some(thread),
            }),
            Err(e) => {
                medium.set_timed(false);
                Err(e.into())
            }
        }
    }

    /// The rate, in slots per second.
    #[must_use]
    pub fn rate(&self) -> u32 {
        self.shared.rate
    }

    /// Slots spent so far.
    #[must_use]
    pub fn spent(&self) -> u64 {
        *lock(&self.shared.spent)
    }

    /// Stops the ticker (as dropping it does) and returns how many slots it spent.
    #[must_use]
    pub fn stop(mut self) -> u64 {
        self.halt();
        self.spent()
    }

    fn halt(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread only sleeps and writes slots; a panic there leaves nothing to clean.
            drop(thread.join());
            self.shared.medium.set_timed(false);
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.halt();
    }
}

impl core::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ticker")
            .field("rate", &self.shared.rate)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each value is updated by one assignment: a panic cannot leave it half done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn run(&self, on_error: &dyn Fn(&Error)) {
        let start = Instant::now();
        // Slots due by `start + t`: floor(t × rate), counted from `origin` after a backlog drop.
        let mut origin = 0u64;
        let mut done = 0u64;
        let mut stop = lock(&self.stop);
        loop {
            if *stop {
                return;
            }
            stop = self
                .wake
                .wait_timeout(stop, PERIOD)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if *stop {
                return;
            }
            drop(stop);
            let elapsed = start.elapsed().as_micros();
            let due = u64::try_from(elapsed * u128::from(self.rate) / 1_000_000)
                .unwrap_or(u64::MAX)
                .saturating_sub(origin);
            let mut owed = due.saturating_sub(done);
            // Slots due beyond one second's worth are dropped: a suspended machine does not
            // spend hours of slots at once on wake-up.
            let cap = u64::from(self.rate);
            if owed > cap {
                origin += owed - cap;
                owed = cap;
            }
            match self.medium.timed_slots(owed) {
                Ok(true) => {
                    done += owed;
                    *lock(&self.spent) += owed;
                }
                Ok(false) => return,
                Err(e) => on_error(&e.into()),
            }
            stop = lock(&self.stop);
        }
    }
}
