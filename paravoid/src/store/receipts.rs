//! Read receipts: what both stores keep so that a note's creator can learn whether it was
//! revealed, expired or destroyed, and nothing else.
//!
//! At creation the creator may ask for a receipt: the server draws a random 32-byte *status
//! token*, answers it once, and stores only its SHA-256 as the key of a receipt record. The
//! record holds the note's id while the note lives (so that the transaction deleting the note
//! settles it), its status, the coarse time of the last change ([`coarse`], whole minutes), the
//! note's expiry, and the time the record itself is deleted ([`keep_until`]: the note's expiry
//! plus [`RECEIPT_GRACE_SECS`]). Settling a receipt clears its note id: a settled record names
//! no note. The record (and its webhook) is stored in the note's insert transaction
//! ([`NewReceipt`]): no note the creator was promised a receipt for exists without one.
//!
//! Exactly once: every store operation that deletes a note applies a deleting
//! [`Effect`](super::policy::Effect), and the store settles the receipt with that effect's
//! [`Outcome`] **in the same transaction** (redb: the same writer batch; PostgreSQL: the same
//! transaction or statement). A crash therefore never leaves `revealed` beside a note still
//! claimable, nor a pending receipt beside a note already handed out.
//!
//! A pending receipt whose note has passed its expiry reads as [`ReceiptStatus::Expired`] even
//! before the sweeper deleted the note: an expired note can no longer be revealed.

use std::future::Future;

use uuid::Uuid;

use super::Storage;
use super::policy::{self, Outcome};
use super::record::TOKEN_HASH_LEN;
use zeroize::Zeroizing;

use crate::Result;
use crate::webhooks::WEBHOOK_SECRET_LEN;

/// How long a receipt outlives its note's expiry, in seconds (7 days).
pub const RECEIPT_GRACE_SECS: u64 = 7 * 24 * 3600;

/// The granularity of a receipt's time, in seconds.
pub(crate) const RECEIPT_TIME_STEP: u64 = 60;

/// SHA-256 of a status token: the key of a receipt record.
pub(crate) type ReceiptKey = [u8; TOKEN_HASH_LEN];

/// The status a receipt reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReceiptStatus {
    /// The note is still stored and claimable.
    Pending,
    /// See [`Outcome::Revealed`].
    Revealed,
    /// See [`Outcome::Expired`].
    Expired,
    /// See [`Outcome::Destroyed`].
    Destroyed,
}

impl ReceiptStatus {
    /// The stored code of the status.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Revealed => 1,
            Self::Expired => 2,
            Self::Destroyed => 3,
        }
    }

    /// The status of a stored code; `None` for an unknown one.
    pub(crate) const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Pending),
            1 => Some(Self::Revealed),
            2 => Some(Self::Expired),
            3 => Some(Self::Destroyed),
            _ => None,
        }
    }

    /// The name the API answers.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Revealed => "revealed",
            Self::Expired => "expired",
            Self::Destroyed => "destroyed",
        }
    }
}

impl From<Outcome> for ReceiptStatus {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Revealed => Self::Revealed,
            Outcome::Expired => Self::Expired,
            Outcome::Destroyed => Self::Destroyed,
        }
    }
}

/// Bytes of the opaque id a webhook call carries (`store::webhooks`).
pub(crate) const WEBHOOK_ID_LEN: usize = 16;

/// A webhook to store with a new receipt.
pub(crate) struct NewWebhook {
    /// The URL, checked by `webhooks::target::admit`.
    pub(crate) url: String,
    /// The signing secret.
    pub(crate) secret: Zeroizing<[u8; WEBHOOK_SECRET_LEN]>,
    /// The opaque id the call carries.
    pub(crate) id: [u8; WEBHOOK_ID_LEN],
}

/// A receipt to store with a new note, in the note's insert transaction
/// (`FileStore::insert_with_files`): a crash or a
/// refusal never leaves a note whose creator was promised a receipt without one.
#[derive(Debug)]
pub(crate) struct NewReceipt {
    /// SHA-256 of the status token.
    pub(crate) key: ReceiptKey,
    /// The webhook to call when the receipt settles, if any.
    pub(crate) webhook: Option<NewWebhook>,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewWebhook(..)")
    }
}

/// What a store keeps of a receipt (its key aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReceiptRecord {
    /// The note, while the receipt is pending; `None` once settled.
    pub(crate) note: Option<Uuid>,
    /// The current status.
    pub(crate) status: ReceiptStatus,
    /// Coarse Unix seconds of the creation (pending) or of the change.
    pub(crate) changed_at: u64,
    /// Unix seconds at which the note expires.
    pub(crate) note_expires_at: u64,
    /// Unix seconds at which the record is deleted.
    pub(crate) keep_until: u64,
}

impl ReceiptRecord {
    /// A new pending receipt for `note`, created at `now`, expiring at `note_expires_at`.
    pub(crate) const fn pending(note: Uuid, now: u64, note_expires_at: u64) -> Self {
        Self {
            note: Some(note),
            status: ReceiptStatus::Pending,
            changed_at: coarse(now),
            note_expires_at,
            keep_until: keep_until(note_expires_at),
        }
    }

    /// The record once its note was deleted for `outcome` at `now`. An expiry is dated at the
    /// note's expiry, however late the deletion came.
    pub(crate) fn settled(self, outcome: Outcome, now: u64) -> Self {
        let at = match outcome {
            Outcome::Expired => self.note_expires_at,
            Outcome::Revealed | Outcome::Destroyed => now,
        };
        Self {
            note: None,
            status: outcome.into(),
            changed_at: coarse(at),
            ..self
        }
    }

    /// What a status request is answered at `now`; `None` once the record's time is over.
    pub(crate) const fn view(&self, now: u64) -> Option<ReceiptView> {
        if policy::is_expired(now, self.keep_until) {
            return None;
        }
        if matches!(self.status, ReceiptStatus::Pending)
            && policy::is_expired(now, self.note_expires_at)
        {
            return Some(ReceiptView {
                status: ReceiptStatus::Expired,
                at: coarse(self.note_expires_at),
            });
        }
        Some(ReceiptView {
            status: self.status,
            at: self.changed_at,
        })
    }
}

/// What a status request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReceiptView {
    /// The status.
    pub(crate) status: ReceiptStatus,
    /// Coarse Unix seconds (a multiple of [`RECEIPT_TIME_STEP`]) of the last change.
    pub(crate) at: u64,
}

/// `unix` rounded down to the minute.
pub(crate) const fn coarse(unix: u64) -> u64 {
    unix - unix % RECEIPT_TIME_STEP
}

/// When the receipt of a note expiring at `note_expires_at` is deleted.
pub(crate) const fn keep_until(note_expires_at: u64) -> u64 {
    note_expires_at.saturating_add(RECEIPT_GRACE_SECS)
}

/// The receipt records of a note database.
pub(crate) trait ReceiptStore: Send + Sync {
    /// The status of the receipt under `key`; `None` if there is none (or its time is over).
    fn receipt_status(
        &self,
        key: ReceiptKey,
    ) -> impl Future<Output = Result<Option<ReceiptView>>> + Send;

    /// Deletes every receipt whose time is over; returns how many.
    fn sweep_receipts(&self) -> impl Future<Output = Result<u64>> + Send;
}

impl ReceiptStore for Storage {
    async fn receipt_status(&self, key: ReceiptKey) -> Result<Option<ReceiptView>> {
        dispatch!(self, store => store.receipt_status(key).await)
    }

    async fn sweep_receipts(&self) -> Result<u64> {
        dispatch!(self, store => store.sweep_receipts().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_refused() {
        for status in [
            ReceiptStatus::Pending,
            ReceiptStatus::Revealed,
            ReceiptStatus::Expired,
            ReceiptStatus::Destroyed,
        ] {
            assert_eq!(ReceiptStatus::from_code(status.code()), Some(status));
        }
        assert_eq!(ReceiptStatus::from_code(4), None);
    }

    #[test]
    fn a_receipt_reads_coarse_times_and_ends_a_week_after_its_note() {
        let id = Uuid::from_u128(7);
        let pending = ReceiptRecord::pending(id, 1_000_059, 1_003_600);
        assert_eq!(pending.changed_at, 1_000_020);
        assert_eq!(
            pending.view(1_000_100),
            Some(ReceiptView {
                status: ReceiptStatus::Pending,
                at: 1_000_020
            })
        );
        // Past the note's expiry, a pending receipt reads expired (the note is no longer
        // claimable), at the expiry's minute.
        assert_eq!(
            pending.view(1_003_600),
            Some(ReceiptView {
                status: ReceiptStatus::Expired,
                at: 1_003_560
            })
        );
        assert_eq!(
            pending.settled(Outcome::Expired, 1_500_000).view(1_500_000),
            Some(ReceiptView {
                status: ReceiptStatus::Expired,
                at: 1_003_560
            })
        );
        let revealed = pending.settled(Outcome::Revealed, 1_000_259);
        assert_eq!(revealed.note, None);
        assert_eq!(
            revealed.view(1_003_600 + RECEIPT_GRACE_SECS - 1),
            Some(ReceiptView {
                status: ReceiptStatus::Revealed,
                at: 1_000_200
            })
        );
        assert_eq!(revealed.view(1_003_600 + RECEIPT_GRACE_SECS), None);
        assert_eq!(keep_until(u64::MAX), u64::MAX);
    }
}
