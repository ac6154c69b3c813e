//! Periodic commit: a background thread that flushes a volume at most a fixed interval after its
//! first unflushed write, so that a crash of the process loses at most that interval of writes.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::volume::Volume;

/// A volume with a background commit: [`Self::note_write`] after each write or trim arms a
/// timer, and [`Volume::flush`] runs at most `interval` after the first write that no flush
/// has covered yet.
///
/// A server that only flushes when its client asks (NBD through FUSE sends no flush for
/// `fsync`) would otherwise keep every write since the last client flush in memory only, and a
/// crash or `SIGKILL` of the server would lose them all. With a committer, a crash loses at
/// most the writes of the last `interval` (plus the commit running at that moment).
///
/// The commit is the volume's own [`Volume::flush`]: it holds the volume's lock for one commit,
/// so I/O waits at most that long. Dropping the committer stops its thread (waiting for a commit
/// in progress) without a last flush: close or flush the volume afterwards.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use qsmm_volume::{AutoCommit, KdfCost, Medium, Volume};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("medium.img");
/// qsmm_volume::format(&path, 4 << 20, |_, _| {})?;
/// let medium = Medium::open_with_kdf_cost(&path, KdfCost::DANGER_INSECURE_FOR_TESTS)?;
/// let volume = Arc::new(Volume::create(&medium, b"pw", 1 << 20, &[])?);
/// let committer = AutoCommit::new(Arc::clone(&volume), Duration::from_millis(50), |_| {})?;
///
/// let before = volume.generation();
/// volume.write(0, &[7u8; 4096])?;
/// committer.note_write();
/// while volume.generation() == before {
///     std::thread::sleep(Duration::from_millis(10));
/// }
/// // The write is durable although nobody called `flush`.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AutoCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    volume: Arc<Volume>,
    interval: Duration,
    pending: Mutex<Pending>,
    wake: Condvar,
}

#[derive(Default)]
struct Pending {
    /// When the first write not covered by a flush was noted.
    since: Option<Instant>,
    /// The committer is being dropped.
    stop: bool,
}

impl AutoCommit {
    /// Starts the commit thread for `volume`. `on_error` is called (on that thread) when a
    /// background flush fails; the flush is then retried one `interval` later.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a zero `interval` (commit only on flush: do not start a
    /// committer); [`Error::Io`] if the thread cannot be started.
    pub fn new(
        volume: Arc<Volume>,
        interval: Duration,
        on_error: impl Fn(&Error) + Send + 'static,
    ) -> Result<Self> {
        if interval.is_zero() {
            return Err(Error::InvalidParameter("commit interval"));
        }
        let shared = Arc::new(Shared {
            volume,
            interval,
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("qsmm-commit".into())
                .spawn(move || shared.run(&on_error))?
        };
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Records that a write or trim was acknowledged: the volume will be flushed at most one
    /// interval from the first such call since the last flush. Call it after the write returns
    /// and before acknowledging it to the client.
    pub fn note_write(&self) {
        let mut pending = self.shared.lock();
        if pending.since.is_none() {
            pending.since = Some(Instant::now());
            self.shared.wake.notify_one();
        }
    }

    /// Flushes the volume now (a client's flush) and disarms the timer.
    ///
    /// # Errors
    ///
    /// As [`Volume::flush`]; the timer is then armed again.
    pub fn flush(&self) -> Result<()> {
        let since = self.shared.lock().since.take();
        let result = self.shared.volume.flush();
        if result.is_err() {
            let mut pending = self.shared.lock();
            if pending.since.is_none() {
                pending.since = Some(since.unwrap_or_else(Instant::now));
                self.shared.wake.notify_one();
            }
        }
        result
    }

    /// The volume this committer flushes.
    #[must_use]
    pub fn volume(&self) -> &Arc<Volume> {
        &self.shared.volume
    }

    /// The interval between the first unflushed write and its commit.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.shared.interval
    }
}

impl Drop for AutoCommit {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread only waits and flushes; a panic there has nothing left to clean up.
            drop(thread.join());
        }
    }
}

impl core::fmt::Debug for AutoCommit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AutoCommit")
            .field("interval", &self.shared.interval)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Every update of `Pending` is a single assignment: a panic cannot leave it half done.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self, on_error: &dyn Fn(&Error)) {
        let mut pending = self.lock();
        loop {
            if pending.stop {
                return;
            }
            let Some(since) = pending.since else {
                pending = self
                    .wake
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let due = since + self.interval;
            let now = Instant::now();
            if now < due {
                pending = self
                    .wake
                    .wait_timeout(pending, due - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            pending.since = None;
            drop(pending);
            let result = self.volume.flush();
            pending = self.lock();
            if let Err(error) = result {
                on_error(&error);
                pending.since.get_or_insert_with(Instant::now);
            }
        }
    }
}
