//! The records both stores keep and hand out: what a peek reports, what a reveal's first step
//! returns, the hashes an end-to-end note keeps to recognise its reader and the tokens that
//! reader presents, and the plaintext layout of a sealed note.
//!
//! # Sealed plaintext
//!
//! A note sealed by the server is sealed as `StoredNote::to_bytes()`. An end-to-end note (sealed
//! in the browser, see `routes::e2e`) is sealed with the hashes that let its reader claim it
//! first, so they are shredded with the note:
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0 | 32 | SHA-256 of the claim token |
//! | 32 | 1 | `1` if a passphrase token hash follows, else `0` |
//! | 33 | 0 or 32 | SHA-256 of the passphrase token |
//! | … | rest | `StoredNote::to_bytes()`, exactly as the browser sealed it |

use qsmm_shield::note::{NoteOpenError, PassphraseParams, StoredNote};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, Result};

/// Passphrase attempts allowed per note; a wrong passphrase at the last one destroys the note.
pub const MAX_PASSPHRASE_ATTEMPTS: u8 = 5;

/// Length of a claim or passphrase token, and of their SHA-256 hashes.
pub(crate) const TOKEN_HASH_LEN: usize = 32;

/// Decodes a sealed plaintext (layout in the module docs): the note and, for an end-to-end
/// note, its claim hashes.
///
/// # Errors
///
/// [`Error::CorruptRecord`] if the bytes do not decode.
pub(crate) fn decode_plaintext(
    end_to_end: bool,
    plaintext: &[u8],
) -> Result<(StoredNote, Option<ClaimHashes>)> {
    let (claim, note) = if end_to_end {
        let (claim, note) = ClaimHashes::decode(plaintext)?;
        (Some(claim), note)
    } else {
        (None, plaintext)
    };
    let note = StoredNote::from_bytes(note).map_err(|_| Error::CorruptRecord)?;
    Ok((note, claim))
}

/// What an end-to-end note keeps to recognise its reader: SHA-256 of the claim token, and for a
/// passphrase note SHA-256 of the passphrase token. Neither opens the note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClaimHashes {
    /// SHA-256 of the claim token (derived from the link keys).
    pub(crate) claim: [u8; TOKEN_HASH_LEN],
    /// SHA-256 of the passphrase token (derived from the link keys and Argon2id output).
    pub(crate) passphrase: Option<[u8; TOKEN_HASH_LEN]>,
}

impl ClaimHashes {
    /// The plaintext of an end-to-end record, in both stores: these hashes, then `note`.
    pub(crate) fn with_note(&self, note: &StoredNote) -> Zeroizing<Vec<u8>> {
        let mut plaintext = Zeroizing::new(Vec::new());
        self.encode_into(&mut plaintext);
        plaintext.extend_from_slice(&note.to_bytes());
        plaintext
    }

    /// Appends the encoding (layout in the module docs) to `out`.
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.claim);
        match &self.passphrase {
            Some(hash) => {
                out.push(1);
                out.extend_from_slice(hash);
            }
            None => out.push(0),
        }
    }

    /// Decodes the hashes at the start of `bytes`; returns them with the rest.
    fn decode(bytes: &[u8]) -> Result<(Self, &[u8])> {
        let corrupt = || Error::CorruptRecord;
        let (claim, rest) = bytes
            .split_first_chunk::<TOKEN_HASH_LEN>()
            .ok_or_else(corrupt)?;
        let (&flag, rest) = rest.split_first().ok_or_else(corrupt)?;
        let (passphrase, rest) = match flag {
            0 => (None, rest),
            1 => {
                let (hash, rest) = rest
                    .split_first_chunk::<TOKEN_HASH_LEN>()
                    .ok_or_else(corrupt)?;
                (Some(*hash), rest)
            }
            _ => return Err(corrupt()),
        };
        Ok((
            Self {
                claim: *claim,
                passphrase,
            },
            rest,
        ))
    }
}

/// The tokens a reader presents to claim an end-to-end note. They prove knowledge of the link
/// keys (and passphrase) without revealing them; zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Tokens {
    /// The claim token.
    pub(crate) claim: [u8; TOKEN_HASH_LEN],
    /// The passphrase token, if the reader sent one.
    pub(crate) passphrase: Option<[u8; TOKEN_HASH_LEN]>,
}

impl Tokens {
    /// Compares the tokens' hashes with the stored ones in constant time: a wrong claim token
    /// is [`NoteOpenError::WrongKeys`]; for a passphrase note, a missing passphrase token is
    /// [`NoteOpenError::PassphraseRequired`] and a wrong one [`NoteOpenError::WrongPassphrase`].
    /// A passphrase token sent for a note without one is ignored.
    pub(crate) fn check(&self, hashes: &ClaimHashes) -> Result<(), NoteOpenError> {
        if !bool::from(
            Sha256::digest(self.claim)
                .as_slice()
                .ct_eq(hashes.claim.as_slice()),
        ) {
            return Err(NoteOpenError::WrongKeys);
        }
        let Some(expected) = &hashes.passphrase else {
            return Ok(());
        };
        let Some(token) = &self.passphrase else {
            return Err(NoteOpenError::PassphraseRequired);
        };
        if bool::from(Sha256::digest(token).as_slice().ct_eq(expected.as_slice())) {
            Ok(())
        } else {
            Err(NoteOpenError::WrongPassphrase)
        }
    }
}

impl core::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

/// What an end-to-end peek reports about a live end-to-end note.
#[derive(Clone, Debug)]
pub(crate) struct EndToEndSummary {
    /// Unix seconds at which the note expires.
    pub(crate) expires_at: u64,
    /// The Argon2id parameters of a passphrase note (public; the reader needs the salt and
    /// costs before it can derive its passphrase token).
    pub(crate) passphrase: Option<PassphraseParams>,
}

/// What the first step of a reveal did.
#[derive(Debug)]
pub(crate) enum RevealStep {
    /// The note needed no passphrase: it was opened and deleted (committed, key erased).
    Opened(Zeroizing<Vec<u8>>),
    /// The link keys are right and the note needs its passphrase: attempt number `attempt`
    /// (1-based) has been reserved and committed. Check the passphrase against `note` outside
    /// the writer, then call `NoteStore::finish_reveal`.
    Reserved {
        /// The sealed note, to open with the passphrase.
        note: StoredNote,
        /// The attempt reserved, 1 to [`MAX_PASSPHRASE_ATTEMPTS`].
        attempt: u8,
    },
}

/// What a peek reports about a live note.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NoteSummary {
    /// Unix seconds at which the note expires.
    pub(crate) expires_at: u64,
    /// Whether revealing needs a passphrase.
    pub(crate) passphrase_required: bool,
    /// Whether the note was sealed in the browser (end to end) and is claimed, not revealed.
    pub(crate) end_to_end: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use qsmm_shield::note::seal_note;

    #[test]
    fn plaintexts_round_trip_and_truncation_is_corrupt() {
        let (note, _keys) = seal_note(b"hello").unwrap();
        for passphrase in [None, Some([5u8; TOKEN_HASH_LEN])] {
            let hashes = ClaimHashes {
                claim: [4; TOKEN_HASH_LEN],
                passphrase,
            };
            let plaintext = hashes.with_note(&note);
            let (decoded, claim) = decode_plaintext(true, &plaintext).unwrap();
            assert_eq!((decoded, claim), (note.clone(), Some(hashes)));
            for len in 0..TOKEN_HASH_LEN + 2 {
                assert!(matches!(
                    decode_plaintext(true, &plaintext[..len]),
                    Err(Error::CorruptRecord)
                ));
            }
        }
        let (decoded, claim) = decode_plaintext(false, &note.to_bytes()).unwrap();
        assert_eq!((decoded, claim), (note, None));
        let mut bad_flag = ClaimHashes {
            claim: [0; TOKEN_HASH_LEN],
            passphrase: None,
        }
        .with_note(&seal_note(b"x").unwrap().0);
        bad_flag[TOKEN_HASH_LEN] = 2;
        assert!(decode_plaintext(true, &bad_flag).is_err());
    }

    #[test]
    fn tokens_are_checked_claim_first() {
        let tokens = |claim: u8, passphrase: Option<u8>| Tokens {
            claim: [claim; TOKEN_HASH_LEN],
            passphrase: passphrase.map(|byte| [byte; TOKEN_HASH_LEN]),
        };
        let hashes = ClaimHashes {
            claim: Sha256::digest([1u8; TOKEN_HASH_LEN]).into(),
            passphrase: Some(Sha256::digest([2u8; TOKEN_HASH_LEN]).into()),
        };
        assert!(tokens(1, Some(2)).check(&hashes).is_ok());
        assert!(matches!(
            tokens(9, Some(2)).check(&hashes),
            Err(NoteOpenError::WrongKeys)
        ));
        assert!(matches!(
            tokens(1, None).check(&hashes),
            Err(NoteOpenError::PassphraseRequired)
        ));
        assert!(matches!(
            tokens(1, Some(3)).check(&hashes),
            Err(NoteOpenError::WrongPassphrase)
        ));
        let open = ClaimHashes {
            passphrase: None,
            ..hashes
        };
        assert!(tokens(1, Some(3)).check(&open).is_ok());
        assert!(!format!("{:?}", tokens(1, Some(2))).contains('1'));
    }
}
