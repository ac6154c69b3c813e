//! The background task that deletes expired notes every `--sweep-interval-secs`.
//!
//! Expired notes are also removed lazily when a peek or reveal finds them; the sweeper makes
//! sure notes nobody asks for again do not stay on disk past their expiry.

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::AppState;

/// Starts the sweeper on the current tokio runtime. It runs once at once, then every interval,
/// until the handle is aborted.
pub(crate) fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(state.config.sweep_interval());
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            state.rate_limits.forget_idle();
            match state.sweep_expired().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "deleted expired notes"),
                Err(err) => tracing::warn!(error = %err, "sweeping expired notes failed"),
            }
        }
    })
}
