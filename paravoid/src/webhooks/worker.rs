//! The delivery worker: a task beside the server that drains the webhook outbox
//! (`store::webhooks`). It claims due deliveries when woken ([`Wake`]: after a claim of a note
//! or a sweep, which may have settled receipts) and every [`POLL_INTERVAL`] (retries, lazy
//! expiries, other instances' settlements), calls each receiver concurrently, and records the
//! results.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use super::signature::{Payload, header};
use super::{send, target};
use crate::AppState;
use crate::store::webhooks::{Delivery, WebhookStore as _};

/// How often the worker looks for due deliveries without being woken.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Most deliveries claimed (and called at once) per round.
const BATCH: usize = 32;

/// Wakes the worker: something may have become due.
#[derive(Clone, Debug, Default)]
pub(crate) struct Wake(Arc<Notify>);

impl Wake {
    /// Wakes the worker if it waits.
    pub(crate) fn wake(&self) {
        self.0.notify_waiters();
    }
}

/// Starts the worker on the current runtime, until the handle is aborted.
pub(crate) fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let notify = state.webhook_wake.0.clone();
        loop {
            // Registered before the claim, so a wake during the claim is not lost.
            let woken = notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match round(&state).await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(err) => tracing::warn!(error = %err, "claiming webhook deliveries failed"),
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    })
}

/// Claims and calls one batch; returns how many were claimed.
async fn round(state: &AppState) -> crate::Result<usize> {
    let deliveries = state.store.claim_webhooks(BATCH).await?;
    let claimed = deliveries.len();
    let mut calls = JoinSet::new();
    for delivery in deliveries {
        let state = state.clone();
        calls.spawn(async move {
            let delivered = deliver(&state, &delivery).await;
            if let Err(err) = state
                .store
                .finish_webhook(delivery.key, delivery.attempt, delivered)
                .await
            {
                tracing::warn!(error = %err, "recording a webhook delivery failed");
            }
        });
    }
    while let Some(joined) = calls.join_next().await {
        if let Err(err) = joined {
            tracing::warn!(error = %err, "a webhook call task failed");
        }
    }
    Ok(claimed)
}

/// Makes one call; whether it delivered. Logs the attempt and the reason, never the URL.
async fn deliver(state: &AppState, delivery: &Delivery) -> bool {
    let result = match target::admit(&delivery.url, &state.config) {
        Ok(target) => {
            let token = URL_SAFE_NO_PAD.encode(delivery.id);
            let body = Payload {
                token: &token,
                status: delivery.status.as_str(),
                at: delivery.at,
            }
            .to_body();
            let signature = header(&delivery.secret, unix_now(), &body);
            send::call(&target, body, signature).await
        }
        Err(_) => Err("the URL is no longer allowed"),
    };
    match result {
        Ok(()) => {
            tracing::info!(attempt = delivery.attempt, "webhook delivered");
            true
        }
        Err(reason) => {
            tracing::info!(
                attempt = delivery.attempt,
                reason,
                "webhook delivery failed"
            );
            false
        }
    }
}

/// The signature's time: the system clock (the receiver compares it with its own).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
