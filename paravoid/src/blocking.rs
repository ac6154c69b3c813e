//! Running blocking work (redb transactions, key files) off the async worker threads.

use crate::{Error, Result};

/// Runs `work` on tokio's blocking pool and returns its result.
///
/// # Errors
///
/// `work`'s error, or [`Error::Internal`] if the task panicked or was cancelled.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Error::Internal("blocking task failed"))?
}
