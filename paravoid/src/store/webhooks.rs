//! Webhook deliveries: what both stores keep beside a receipt whose creator gave a webhook URL
//! (`webhooks`), and the outbox the delivery worker drains.
//!
//! A webhook is stored with its receipt, in the same transaction
//! ([`NewWebhook`](super::receipts::NewWebhook)): the URL, the 32-byte secret and the opaque
//! webhook id. While the note lives nothing is due. The transaction that settles
//! the receipt (reveal, expiry — by the sweeper or a lazy check — or destruction by wrong
//! passphrases) also makes its delivery due, so a crash cannot lose it.
//!
//! The worker claims due deliveries ([`WebhookStore::claim_webhooks`]): claiming counts an
//! attempt and leases the delivery for [`LEASE_SECS`], so that another instance (PostgreSQL)
//! does not send it meanwhile, and a process that dies while sending leaves it due again once
//! the lease is over (at-least-once: the receiver deduplicates by id). The worker then reports
//! the result ([`WebhookStore::finish_webhook`]): a delivered or abandoned webhook forgets its
//! URL and secret and keeps only its state; a failed attempt is due again after
//! [`RETRY_DELAYS_SECS`], until [`MAX_ATTEMPTS`].

use std::future::Future;

use zeroize::Zeroizing;

use super::Storage;
use super::receipts::{ReceiptKey, ReceiptStatus, WEBHOOK_ID_LEN};
use crate::Result;

/// Bytes of a webhook secret.
pub(crate) use crate::webhooks::WEBHOOK_SECRET_LEN;

/// How long a claimed delivery is kept from other claims, in seconds (longer than a call).
pub(crate) const LEASE_SECS: u64 = 60;

/// The waits after each failed attempt, in seconds: 30 s, 2 min, 8 min, 30 min, 2 h.
pub(crate) const RETRY_DELAYS_SECS: [u64; 5] = [30, 120, 480, 1800, 7200];

/// Attempts before a delivery is abandoned.
pub(crate) const MAX_ATTEMPTS: u8 = 6;

/// The state of a stored webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WebhookState {
    /// Waiting for its note to go, or being delivered.
    Active,
    /// A 2xx answer was received.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl WebhookState {
    /// The stored code of the state.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Self::Active => 0,
            Self::Delivered => 1,
            Self::Failed => 2,
        }
    }

    /// The state of a stored code; `None` for an unknown one.
    pub(crate) const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Active),
            1 => Some(Self::Delivered),
            2 => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A claimed delivery.
pub(crate) struct Delivery {
    /// The receipt's key.
    pub(crate) key: ReceiptKey,
    /// The URL to call.
    pub(crate) url: String,
    /// The signing secret.
    pub(crate) secret: Zeroizing<[u8; WEBHOOK_SECRET_LEN]>,
    /// The opaque id the call carries.
    pub(crate) id: [u8; WEBHOOK_ID_LEN],
    /// The receipt's settled status.
    pub(crate) status: ReceiptStatus,
    /// The receipt's coarse time.
    pub(crate) at: u64,
    /// Which attempt this claim is (1 for the first).
    pub(crate) attempt: u8,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("status", &self.status)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// What a finished attempt leads to, at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Done: record the state, forget URL and secret.
    Done(WebhookState),
    /// Due again at this time.
    RetryAt(u64),
}

/// What follows attempt number `attempt` (1-based), `delivered` or not, claimed at `now`.
///
/// The backoff counts from the attempt's claim (its lease's start, `lease end − LEASE_SECS`),
/// not from the moment its result is recorded: a result recorded late (a slow receiver, a
/// clock that moved meanwhile) never pushes the retry further back.
pub(crate) fn next(attempt: u8, delivered: bool, now: u64) -> Next {
    if delivered {
        return Next::Done(WebhookState::Delivered);
    }
    if attempt >= MAX_ATTEMPTS {
        return Next::Done(WebhookState::Failed);
    }
    let wait = RETRY_DELAYS_SECS[usize::from(attempt.max(1) - 1).min(RETRY_DELAYS_SECS.len() - 1)];
    Next::RetryAt(now.saturating_add(wait))
}

/// The webhook outbox of a note database.
pub(crate) trait WebhookStore: Send + Sync {
    /// Claims up to `limit` deliveries due now: counts an attempt on each and leases it for
    /// [`LEASE_SECS`], in one transaction.
    fn claim_webhooks(&self, limit: usize) -> impl Future<Output = Result<Vec<Delivery>>> + Send;

    /// Records the result of attempt `attempt` of the delivery under `key` (see [`next`]). A
    /// report for another attempt than the last claimed one (its lease ran out and it was
    /// claimed again) changes nothing.
    fn finish_webhook(
        &self,
        key: ReceiptKey,
        attempt: u8,
        delivered: bool,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The state of the webhook stored with the receipt under `key`, and its attempts so far.
    #[cfg(any(test, feature = "test-hooks"))]
    fn webhook_state(
        &self,
        key: ReceiptKey,
    ) -> impl Future<Output = Result<Option<(WebhookState, u8)>>> + Send;
}

impl WebhookStore for Storage {
    async fn claim_webhooks(&self, limit: usize) -> Result<Vec<Delivery>> {
        dispatch!(self, store => store.claim_webhooks(limit).await)
    }

    async fn finish_webhook(&self, key: ReceiptKey, attempt: u8, delivered: bool) -> Result<()> {
        dispatch!(self, store => store.finish_webhook(key, attempt, delivered).await)
    }

    #[cfg(any(test, feature = "test-hooks"))]
    async fn webhook_state(&self, key: ReceiptKey) -> Result<Option<(WebhookState, u8)>> {
        dispatch!(self, store => store.webhook_state(key).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_end() {
        assert_eq!(next(1, false, 1_000), Next::RetryAt(1_030));
        assert_eq!(next(2, false, 1_000), Next::RetryAt(1_120));
        assert_eq!(next(3, false, 1_000), Next::RetryAt(1_480));
        assert_eq!(next(4, false, 1_000), Next::RetryAt(2_800));
        assert_eq!(next(5, false, 1_000), Next::RetryAt(8_200));
        assert_eq!(next(6, false, 1_000), Next::Done(WebhookState::Failed));
        assert_eq!(next(9, false, 1_000), Next::Done(WebhookState::Failed));
        assert_eq!(next(3, true, 1_000), Next::Done(WebhookState::Delivered));
        assert_eq!(next(0, false, u64::MAX), Next::RetryAt(u64::MAX));
        for state in [
            WebhookState::Active,
            WebhookState::Delivered,
            WebhookState::Failed,
        ] {
            assert_eq!(WebhookState::from_code(state.code()), Some(state));
        }
        assert_eq!(WebhookState::from_code(3), None);
    }
}
