//! The versioned byte encoding of a [`MembershipProof`].
//!
//! # Layout
//!
//! ```text
//! offset  size  field
//! 0       1     format: 0x02 (Halo2 MiMC-Merkle membership, version 1)
//! 1       1     depth D, 1 ..= 32
//! 2       1     disclosure: 0x00 position hidden, 0x01 position public
//! 3       ..    the Halo2 transcript (Blake2b, Challenge255), 1 ..= 16384 bytes
//! ```
//!
//! The format byte `0x01` belongs to the transparent backend of `qsmm-proof-stub`, so a proof of
//! one backend is never read as the other's. The transcript's exact length is fixed by the depth
//! and the disclosure; the verifier rejects a transcript with bytes left over.

use qsmm_proof_stub::ProofEncoding;

use crate::circuit::{Disclosure, MAX_DEPTH, MIN_DEPTH};
use crate::{Error, Result};

/// The format byte of version 1.
pub const FORMAT_V1: u8 = 0x02;
/// Bytes before the transcript.
pub const HEADER_LEN: usize = 3;
/// The largest transcript accepted (a depth-32 proof is about 3.6 KiB).
pub const MAX_TRANSCRIPT_LEN: usize = 16 * 1024;

/// A zero-knowledge proof that a leaf hash is in the tree committed to by a commitment.
///
/// Carries the depth and the [`Disclosure`] it was made for; the verifier uses the keys of that
/// depth, and a proof re-labelled with another depth does not verify.
#[derive(Clone, PartialEq, Eq)]
pub struct MembershipProof {
    depth: u32,
    disclosure: Disclosure,
    transcript: Vec<u8>,
}

impl MembershipProof {
    /// Wraps a transcript made by the prover.
    pub(crate) const fn new(depth: u32, disclosure: Disclosure, transcript: Vec<u8>) -> Self {
        Self {
            depth,
            disclosure,
            transcript,
        }
    }

    /// The tree depth the proof is for.
    #[must_use]
    pub const fn depth(&self) -> u32 {
        self.depth
    }

    /// Whether the position is a public input of the proof.
    #[must_use]
    pub const fn disclosure(&self) -> Disclosure {
        self.disclosure
    }

    /// The Halo2 transcript.
    #[must_use]
    pub fn transcript(&self) -> &[u8] {
        &self.transcript
    }
}

impl ProofEncoding for MembershipProof {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.transcript.len());
        out.push(FORMAT_V1);
        // The depth is at most 32 by construction.
        out.push(u8::try_from(self.depth).unwrap_or(u8::MAX));
        out.push(match self.disclosure {
            Disclosure::Hidden => 0,
            Disclosure::Position => 1,
        });
        out.extend_from_slice(&self.transcript);
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let [format, depth, disclosure, transcript @ ..] = bytes else {
            return Err(Error::Encoding("halo2 membership proof: truncated header"));
        };
        if *format != FORMAT_V1 {
            return Err(Error::Encoding("halo2 membership proof: unknown format"));
        }
        let depth = u32::from(*depth);
        if !(MIN_DEPTH..=MAX_DEPTH).contains(&depth) {
            return Err(Error::Encoding(
                "halo2 membership proof: depth out of range",
            ));
        }
        let disclosure = match disclosure {
            0 => Disclosure::Hidden,
            1 => Disclosure::Position,
            _ => {
                return Err(Error::Encoding(
                    "halo2 membership proof: unknown disclosure",
                ));
            }
        };
        if transcript.is_empty() || transcript.len() > MAX_TRANSCRIPT_LEN {
            return Err(Error::Encoding("halo2 membership proof: transcript length"));
        }
        Ok(Self::new(depth, disclosure, transcript.to_vec()))
    }
}

/// Prints the header and the transcript length.
impl core::fmt::Debug for MembershipProof {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MembershipProof")
            .field("depth", &self.depth)
            .field("disclosure", &self.disclosure)
            .field("transcript_len", &self.transcript.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MembershipProof {
        MembershipProof::new(20, Disclosure::Hidden, vec![7; 100])
    }

    #[test]
    fn round_trip() {
        let proof = sample();
        let bytes = proof.to_bytes();
        assert_eq!(bytes[..3], [FORMAT_V1, 20, 0]);
        assert_eq!(MembershipProof::from_bytes(&bytes).unwrap(), proof);
        let public = MembershipProof::new(32, Disclosure::Position, vec![1]);
        assert_eq!(
            MembershipProof::from_bytes(&public.to_bytes()).unwrap(),
            public
        );
    }

    #[test]
    fn junk_is_rejected() {
        let good = sample().to_bytes();
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![FORMAT_V1], vec![FORMAT_V1, 20, 0]];
        for (offset, value) in [
            (0, 0x01),
            (0, 0x03),
            (1, 0),
            (1, 33),
            (1, 255),
            (2, 2),
            (2, 255),
        ] {
            let mut bad = good.clone();
            bad[offset] = value;
            cases.push(bad);
        }
        cases.push([&good[..], &vec![0; MAX_TRANSCRIPT_LEN][..]].concat());
        for bad in cases {
            assert!(
                matches!(MembershipProof::from_bytes(&bad), Err(Error::Encoding(_))),
                "{:?}",
                &bad[..bad.len().min(4)]
            );
        }
    }
}
