//! The bounded pool for passphrase stretching (Argon2id, 19 MiB and tens of milliseconds each).
//!
//! At most `threads` Argon2id computations run at once (so at most `threads × 19 MiB` of
//! Argon2id memory), and at most `queue` requests wait for one; a request that finds the queue
//! full is answered 503 with `Retry-After` at once. The writer thread never runs Argon2id.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;
use crate::{Error, Result};

/// The pool: a semaphore of `threads` permits and a bounded count of waiters.
#[derive(Debug)]
pub(crate) struct Argon2Pool {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    metrics: Arc<Metrics>,
}

/// The right to run one Argon2id computation; held until the computation ends.
#[derive(Debug)]
pub(crate) struct Argon2Permit {
    _permit: OwnedSemaphorePermit,
}

impl Argon2Pool {
    /// A pool running at most `threads` computations with at most `max_waiting` waiters.
    pub(crate) fn new(threads: usize, max_waiting: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(threads.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            metrics,
        }
    }

    /// Waits for a free worker.
    ///
    /// # Errors
    ///
    /// [`Error::Overloaded`] at once if `max_waiting` requests already wait.
    pub(crate) async fn acquire(&self) -> Result<Argon2Permit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(Argon2Permit { _permit: permit });
        }
        let waiting = Waiting::enter(self)?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("the Argon2id pool is closed"))?;
        drop(waiting);
        Ok(Argon2Permit { _permit: permit })
    }

    /// Runs `work` on a blocking thread while holding `permit`. The permit is released when the
    /// work ends, even if the caller stops waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] if the work panicked.
    pub(crate) async fn run<T, F>(permit: Argon2Permit, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            let value = work();
            drop(permit);
            value
        })
        .await
        .map_err(|_| Error::Internal("an Argon2id task failed"))
    }
}

/// One waiter, counted while it waits (also when its request is dropped meanwhile).
struct Waiting<'a>(&'a Argon2Pool);

impl<'a> Waiting<'a> {
    fn enter(pool: &'a Argon2Pool) -> Result<Self> {
        let before = pool.waiting.fetch_add(1, Ordering::SeqCst);
        if before >= pool.max_waiting {
            pool.waiting.fetch_sub(1, Ordering::SeqCst);
            pool.metrics.overloaded();
            return Err(Error::Overloaded);
        }
        pool.metrics.set_argon2_queue(before.saturating_add(1));
        Ok(Self(pool))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let before = self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.set_argon2_queue(before.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_is_refused_and_frees_up() {
        let pool = Arc::new(Argon2Pool::new(1, 1, Arc::new(Metrics::new())));
        let first = pool.acquire().await.unwrap();
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire().await.map(drop) })
        };
        while pool.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.acquire().await, Err(Error::Overloaded)));
        Argon2Pool::run(first, || ()).await.unwrap();
        waiter.await.unwrap().unwrap();
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
        let again = pool.acquire().await.unwrap();
        drop(again);
    }
}
