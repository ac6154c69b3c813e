//! The decisions both stores make the same way, written once: expiry, which endpoints see which
//! notes, the order of the checks of a reveal and of a claim, and the counting of passphrase
//! tries. Each decision is a pure function of the note's clear state and of what the request
//! proved; it returns the [`Effect`] the store applies in the transaction that read the note,
//! and the answer. No I/O, no clock: the store passes `now`.

use qsmm_shield::note::NoteOpenError;

use super::record::{ClaimHashes, MAX_PASSPHRASE_ATTEMPTS, Tokens};
use crate::Error;
use crate::metrics::Metrics;

/// What the decisions read of a stored note: its clear header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NoteState {
    /// Unix seconds at which the note stops existing.
    pub(crate) expires_at: u64,
    /// Passphrase tries used (or reserved) so far.
    pub(crate) attempts: u8,
    /// Whether the note was sealed in the browser (claimed, never revealed).
    pub(crate) end_to_end: bool,
}

/// What the store writes, in the transaction that read the note, before it answers. Every
/// deleting effect settles the note's receipt, if it has one, in the same transaction
/// ([`Effect::outcome`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing.
    Keep,
    /// Delete the note because it has expired (counted as an expiry).
    Expire,
    /// Delete the note: handed out (revealed or claimed).
    HandOut,
    /// Delete the note: destroyed by its last wrong passphrase.
    Destroy,
    /// Set the try counter to this value.
    SetAttempts(u8),
}

impl Effect {
    /// What a receipt reports of a note this effect deletes; `None` if it keeps the note.
    pub(crate) const fn outcome(self) -> Option<Outcome> {
        match self {
            Self::Keep | Self::SetAttempts(_) => None,
            Self::Expire => Some(Outcome::Expired),
            Self::HandOut => Some(Outcome::Revealed),
            Self::Destroy => Some(Outcome::Destroyed),
        }
    }
}

/// A refused request: the store applies `effect`, commits, then answers `error`.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// What to write first.
    pub(crate) effect: Effect,
    /// The answer.
    pub(crate) error: Error,
}

impl Refusal {
    /// A refusal that writes nothing.
    const fn keep(error: Error) -> Self {
        Self {
            effect: Effect::Keep,
            error,
        }
    }

    /// Counts the refusal in the metrics (expiries, wrong keys, wrong passphrases).
    pub(crate) fn observe(&self, metrics: &Metrics) {
        if self.effect == Effect::Expire {
            metrics.note_expired(1);
        }
        match self.error {
            Error::WrongKeys => metrics.wrong_keys(),
            Error::WrongPassphrase { .. } => metrics.wrong_passphrase(),
            _ => {}
        }
    }
}

/// The `expires_at` of a note stored at `now` for `ttl_secs`.
pub(crate) const fn expires_at(now: u64, ttl_secs: u64) -> u64 {
    now.saturating_add(ttl_secs)
}

/// Why a note was deleted, as its receipt reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Handed out: revealed (published API) or claimed (end to end).
    Revealed,
    /// Deleted at its expiry.
    Expired,
    /// Destroyed by its last wrong passphrase (or a record that failed its authentication).
    Destroyed,
}

/// Whether a note expiring at `expires_at` has expired at `now`.
pub(crate) const fn is_expired(now: u64, expires_at: u64) -> bool {
    now >= expires_at
}

/// The first check of a reveal or claim: an expired note is deleted and absent; a note of the
/// other mode (`end_to_end` says which the endpoint serves) is absent and untouched.
///
/// # Errors
///
/// The [`Refusal`] to apply and answer.
pub(crate) fn admit(now: u64, state: &NoteState, end_to_end: bool) -> Result<(), Refusal> {
    if is_expired(now, state.expires_at) {
        return Err(Refusal {
            effect: Effect::Expire,
            error: Error::NotFound,
        });
    }
    if state.end_to_end != end_to_end {
        return Err(Refusal::keep(Error::NotFound));
    }
    Ok(())
}

/// A claim of an admitted end-to-end note: `Ok` means hand the note out after
/// [`Effect::HandOut`]. Every try used is absent; a wrong claim token and a missing passphrase
/// token write nothing; a wrong passphrase token counts a try and the last one destroys the
/// note.
///
/// # Errors
///
/// The [`Refusal`] to apply and answer.
pub(crate) fn claim(
    state: &NoteState,
    hashes: &ClaimHashes,
    tokens: &Tokens,
) -> Result<(), Refusal> {
    if state.attempts >= MAX_PASSPHRASE_ATTEMPTS {
        return Err(Refusal::keep(Error::NotFound));
    }
    match tokens.check(hashes) {
        Ok(()) => Ok(()),
        Err(NoteOpenError::WrongPassphrase) => Err(count_wrong_passphrase(state.attempts)),
        Err(NoteOpenError::PassphraseRequired) => Err(Refusal::keep(Error::PassphraseRequired)),
        // A wrong claim token, and anything a newer shield may add: change nothing.
        Err(_) => Err(Refusal::keep(Error::WrongKeys)),
    }
}

/// A wrong passphrase after `attempts` tries: one more is counted, and the last destroys.
fn count_wrong_passphrase(attempts: u8) -> Refusal {
    let used = attempts.saturating_add(1);
    Refusal {
        effect: if used >= MAX_PASSPHRASE_ATTEMPTS {
            Effect::Destroy
        } else {
            Effect::SetAttempts(used)
        },
        error: Error::WrongPassphrase {
            attempts_left: MAX_PASSPHRASE_ATTEMPTS.saturating_sub(used),
        },
    }
}

/// What the first step of a reveal goes on with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reveal {
    /// Open the note with the link keys, apply [`Effect::HandOut`], and hand the message out
    /// after the commit.
    Open,
    /// Apply [`Effect::SetAttempts`] with this try number (1-based), commit, and let the caller
    /// check the passphrase outside any transaction.
    Reserve(u8),
}

/// The first step of a reveal of an admitted note: wrong link keys, or no passphrase for a note
/// that needs one, write nothing; a note without passphrase is opened; a note with one reserves
/// its next try, and is absent once every try is reserved.
///
/// # Errors
///
/// The [`Refusal`] to apply and answer.
pub(crate) fn reveal(
    state: &NoteState,
    keys_right: bool,
    needs_passphrase: bool,
    with_passphrase: bool,
) -> Result<Reveal, Refusal> {
    if !keys_right {
        return Err(Refusal::keep(Error::WrongKeys));
    }
    if !needs_passphrase {
        return Ok(Reveal::Open);
    }
    if !with_passphrase {
        return Err(Refusal::keep(Error::PassphraseRequired));
    }
    if state.attempts >= MAX_PASSPHRASE_ATTEMPTS {
        return Err(Refusal::keep(Error::NotFound));
    }
    Ok(Reveal::Reserve(state.attempts.saturating_add(1)))
}

/// The last step of a passphrase reveal, before the store is touched: a wrong passphrase with
/// tries left is answered at once (its try stays counted, nothing else is written).
pub(crate) fn finish_without_store(attempt: u8, opened: bool) -> Option<Error> {
    let attempts_left = MAX_PASSPHRASE_ATTEMPTS.saturating_sub(attempt);
    (!opened && attempts_left > 0).then_some(Error::WrongPassphrase { attempts_left })
}

/// The last step of a passphrase reveal that reached the store, which has deleted the note if
/// it found it (`found`: its `expires_at`): the right passphrase hands the message out if the
/// note was there and live; the last wrong one destroyed it.
///
/// # Errors
///
/// [`Error::NotFound`] (gone or expired meanwhile) or [`Error::WrongPassphrase`].
pub(crate) fn finish(now: u64, found: Option<u64>, attempt: u8, opened: bool) -> Result<(), Error> {
    if !opened {
        return Err(Error::WrongPassphrase {
            attempts_left: MAX_PASSPHRASE_ATTEMPTS.saturating_sub(attempt),
        });
    }
    match found {
        Some(expires_at) if !is_expired(now, expires_at) => Ok(()),
        _ => Err(Error::NotFound),
    }
}

/// Why the last step of a passphrase reveal deleted a note it found (expiring at
/// `expires_at`) at `now`: the last wrong passphrase destroyed it, a right one came too late or
/// handed it out.
pub(crate) const fn finish_outcome(now: u64, expires_at: u64, opened: bool) -> Outcome {
    if !opened {
        Outcome::Destroyed
    } else if is_expired(now, expires_at) {
        Outcome::Expired
    } else {
        Outcome::Revealed
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest as _, Sha256};

    use super::*;
    use crate::store::record::TOKEN_HASH_LEN;

    const fn state(expires_at: u64, attempts: u8, end_to_end: bool) -> NoteState {
        NoteState {
            expires_at,
            attempts,
            end_to_end,
        }
    }

    fn refused(result: Result<impl std::fmt::Debug, Refusal>) -> (Effect, Error) {
        let refusal = result.expect_err("refused");
        (refusal.effect, refusal.error)
    }

    #[test]
    fn expiry_is_at_expires_at_and_deletes() {
        assert_eq!(expires_at(100, 20), 120);
        assert_eq!(expires_at(u64::MAX, 20), u64::MAX);
        let note = state(120, 0, false);
        assert!(admit(119, &note, false).is_ok());
        assert!(matches!(
            refused(admit(120, &note, false)),
            (Effect::Expire, Error::NotFound)
        ));
        // Expiry wins over the mode: an expired note of the other mode is deleted too.
        assert!(matches!(
            refused(admit(120, &note, true)),
            (Effect::Expire, Error::NotFound)
        ));
        assert!(matches!(
            refused(admit(119, &note, true)),
            (Effect::Keep, Error::NotFound)
        ));
    }

    #[test]
    fn reveal_checks_keys_then_passphrase_then_tries() {
        let fresh = state(9, 0, false);
        assert!(matches!(
            refused(reveal(&fresh, false, true, true)),
            (Effect::Keep, Error::WrongKeys)
        ));
        assert_eq!(reveal(&fresh, true, false, false).unwrap(), Reveal::Open);
        assert!(matches!(
            refused(reveal(&fresh, true, true, false)),
            (Effect::Keep, Error::PassphraseRequired)
        ));
        assert_eq!(
            reveal(&fresh, true, true, true).unwrap(),
            Reveal::Reserve(1)
        );
        let last = state(9, MAX_PASSPHRASE_ATTEMPTS - 1, false);
        assert_eq!(
            reveal(&last, true, true, true).unwrap(),
            Reveal::Reserve(MAX_PASSPHRASE_ATTEMPTS)
        );
        let spent = state(9, MAX_PASSPHRASE_ATTEMPTS, false);
        assert!(matches!(
            refused(reveal(&spent, true, true, true)),
            (Effect::Keep, Error::NotFound)
        ));
        // Wrong keys are answered as such even when every try is reserved.
        assert!(matches!(
            refused(reveal(&spent, false, true, true)),
            (Effect::Keep, Error::WrongKeys)
        ));
    }

    #[test]
    fn finishing_counts_down_and_only_a_live_note_is_handed_out() {
        for attempt in 1..MAX_PASSPHRASE_ATTEMPTS {
            assert!(matches!(
                finish_without_store(attempt, false),
                Some(Error::WrongPassphrase { attempts_left }) if attempts_left == MAX_PASSPHRASE_ATTEMPTS - attempt
            ));
        }
        assert!(finish_without_store(MAX_PASSPHRASE_ATTEMPTS, false).is_none());
        assert!(finish_without_store(1, true).is_none());
        assert!(finish(5, Some(6), 1, true).is_ok());
        assert!(matches!(finish(6, Some(6), 1, true), Err(Error::NotFound)));
        assert!(matches!(finish(5, None, 1, true), Err(Error::NotFound)));
        assert!(matches!(
            finish(5, Some(6), MAX_PASSPHRASE_ATTEMPTS, false),
            Err(Error::WrongPassphrase { attempts_left: 0 })
        ));
    }

    #[test]
    fn claims_count_wrong_passphrases_exactly() {
        let hashes = ClaimHashes {
            claim: Sha256::digest([1u8; TOKEN_HASH_LEN]).into(),
            passphrase: Some(Sha256::digest([2u8; TOKEN_HASH_LEN]).into()),
        };
        let tokens = |claim: u8, passphrase: Option<u8>| Tokens {
            claim: [claim; TOKEN_HASH_LEN],
            passphrase: passphrase.map(|byte| [byte; TOKEN_HASH_LEN]),
        };
        let note = |attempts| state(9, attempts, true);
        assert!(claim(&note(0), &hashes, &tokens(1, Some(2))).is_ok());
        assert!(matches!(
            refused(claim(&note(0), &hashes, &tokens(9, Some(2)))),
            (Effect::Keep, Error::WrongKeys)
        ));
        assert!(matches!(
            refused(claim(&note(0), &hashes, &tokens(1, None))),
            (Effect::Keep, Error::PassphraseRequired)
        ));
        for used in 0..MAX_PASSPHRASE_ATTEMPTS - 1 {
            let (effect, error) = refused(claim(&note(used), &hashes, &tokens(1, Some(3))));
            assert_eq!(effect, Effect::SetAttempts(used + 1));
            assert!(matches!(
                error,
                Error::WrongPassphrase { attempts_left } if attempts_left == MAX_PASSPHRASE_ATTEMPTS - used - 1
            ));
        }
        assert!(matches!(
            refused(claim(
                &note(MAX_PASSPHRASE_ATTEMPTS - 1),
                &hashes,
                &tokens(1, Some(3))
            )),
            (Effect::Destroy, Error::WrongPassphrase { attempts_left: 0 })
        ));
        // Once every try is used the note is absent, even to the right tokens.
        assert!(matches!(
            refused(claim(
                &note(MAX_PASSPHRASE_ATTEMPTS),
                &hashes,
                &tokens(1, Some(2))
            )),
            (Effect::Keep, Error::NotFound)
        ));
    }

    #[test]
    fn refusals_are_counted_in_the_metrics() {
        let metrics = Metrics::new();
        Refusal {
            effect: Effect::Expire,
            error: Error::NotFound,
        }
        .observe(&metrics);
        Refusal::keep(Error::WrongKeys).observe(&metrics);
        count_wrong_passphrase(0).observe(&metrics);
        let text = metrics.render();
        for name in ["notes_expired", "wrong_keys", "wrong_passphrase"] {
            assert!(
                text.lines()
                    .any(|line| line.contains(name) && line.ends_with(" 1")),
                "{name} counted once in {text}"
            );
        }
    }
}
