//! Requests for a secret: what both stores keep of a request, and the decision on a response.
//!
//! A requester registers a request with the SHA-256 of the claim token of its own link keys
//! (`routes::requests`). One response may follow while the request lives: it is a sealed note
//! stored as an end-to-end note **under the request's id**, with the request's claim hash, in
//! the same transaction that marks the request answered. The requester then claims it like any
//! end-to-end note. Its files, uploaded first as a note's are (`store::files`), are attached to
//! it in that transaction too, so a refused response leaves its uploads unattached (they are
//! deleted with the other unattached uploads). A request record holds no secret: its expiry, the response's lifetime, the
//! answered flag and a one-way hash of a token that only the requester's link keys give.

use std::future::Future;

use qsmm_shield::note::StoredNote;
use uuid::Uuid;

use super::record::{ClaimHashes, TOKEN_HASH_LEN};
use super::{Storage, policy};
use crate::{Error, Result};

/// What a store keeps of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RequestRecord {
    /// SHA-256 of the requester's claim token; the response is stored with it.
    pub(crate) claim: [u8; TOKEN_HASH_LEN],
    /// How long the response lives once stored, in seconds.
    pub(crate) response_ttl_secs: u64,
}

impl RequestRecord {
    /// The claim hashes of the response note (a response has no passphrase).
    pub(crate) const fn response_hashes(&self) -> ClaimHashes {
        ClaimHashes {
            claim: self.claim,
            passphrase: None,
        }
    }
}

/// What a look at a request reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestSummary {
    /// Unix seconds at which the request stops taking a response.
    pub(crate) expires_at: u64,
    /// Whether the response has been stored.
    pub(crate) answered: bool,
}

/// Whether a request expiring at `expires_at`, `answered` or not, takes a response at `now`.
///
/// # Errors
///
/// [`Error::RequestExpired`] (410) or [`Error::AlreadyAnswered`] (409).
pub(crate) const fn admit_response(now: u64, summary: &RequestSummary) -> Result<()> {
    if policy::is_expired(now, summary.expires_at) {
        Err(Error::RequestExpired)
    } else if summary.answered {
        Err(Error::AlreadyAnswered)
    } else {
        Ok(())
    }
}

/// What a look at a request found at `now`: an expired request without an answer is refused.
///
/// # Errors
///
/// [`Error::RequestExpired`].
pub(crate) const fn admit_peek(now: u64, summary: RequestSummary) -> Result<RequestSummary> {
    if !summary.answered && policy::is_expired(now, summary.expires_at) {
        Err(Error::RequestExpired)
    } else {
        Ok(summary)
    }
}

/// The request records of a note database.
pub(crate) trait RequestStore: Send + Sync {
    /// Stores a new request that takes a response for `ttl_secs`; returns its `expires_at`.
    /// Durable once this returns `Ok`.
    fn insert_request(
        &self,
        id: Uuid,
        ttl_secs: u64,
        request: RequestRecord,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Looks a request up.
    ///
    /// # Errors
    ///
    /// [`Error::RequestExpired`] for an expired request without an answer (until the sweeper
    /// deletes it), or a storage error.
    fn peek_request(&self, id: Uuid)
    -> impl Future<Output = Result<Option<RequestSummary>>> + Send;

    /// Stores `note` as the one response of request `id` and attaches the complete uploads
    /// `files` (manifest order) to it, in one transaction with marking the request answered
    /// ([`admit_response`] decides); returns the response's `expires_at`, which its files share.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::RequestExpired`], [`Error::AlreadyAnswered`],
    /// [`Error::StoreFull`], [`Error::Unprocessable`] if a file is unknown, incomplete, already
    /// attached or named twice (nothing stored then), or a storage error.
    fn respond(
        &self,
        id: Uuid,
        note: StoredNote,
        files: Vec<Uuid>,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes every expired request record; returns how many.
    fn sweep_requests(&self) -> impl Future<Output = Result<u64>> + Send;
}

impl RequestStore for Storage {
    async fn insert_request(&self, id: Uuid, ttl_secs: u64, request: RequestRecord) -> Result<u64> {
        dispatch!(self, store => store.insert_request(id, ttl_secs, request).await)
    }

    async fn peek_request(&self, id: Uuid) -> Result<Option<RequestSummary>> {
        dispatch!(self, store => store.peek_request(id).await)
    }

    async fn respond(&self, id: Uuid, note: StoredNote, files: Vec<Uuid>) -> Result<u64> {
        dispatch!(self, store => store.respond(id, note, files).await)
    }

    async fn sweep_requests(&self) -> Result<u64> {
        dispatch!(self, store => store.sweep_requests().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_needs_a_live_unanswered_request() {
        let open = RequestSummary {
            expires_at: 100,
            answered: false,
        };
        assert!(admit_response(99, &open).is_ok());
        assert!(matches!(
            admit_response(100, &open),
            Err(Error::RequestExpired)
        ));
        let answered = RequestSummary {
            answered: true,
            ..open
        };
        assert!(matches!(
            admit_response(99, &answered),
            Err(Error::AlreadyAnswered)
        ));
    }
}
