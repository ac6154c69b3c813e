//! Shamir `k`-of-`n` over GF(256) with `vsss-rs`: splitting a root and combining the shares of
//! one sharing, checked against its commitment.

use rand_chacha::ChaCha20Rng;
use subtle::ConstantTimeEq;
use vsss_rs::{Gf256, IdentifierGf256};
use zeroize::Zeroizing;

use qsmm_types::{Error, Result};

use super::MeshRead;
use super::share::{SHARE_HEADER_LEN, ShareHeader, commitment};

/// Splits `metadata` `k`-of-`n`: share `i` is `[i + 1, f_b(i + 1) for each byte b]`.
///
/// An empty root is shared as `n` shares without body (`vsss-rs` rejects an empty secret).
pub(super) fn split(
    k: u8,
    n: u8,
    metadata: &[u8],
    rng: &mut ChaCha20Rng,
) -> Result<Zeroizing<Vec<Vec<u8>>>> {
    Ok(Zeroizing::new(if metadata.is_empty() {
        vec![vec![0u8]; usize::from(n)]
    } else {
        Gf256::split_bytes_with_participant_ids_iter(
            usize::from(k),
            usize::from(n),
            metadata,
            rng,
            (1..=n).map(|x| IdentifierGf256(Gf256(x))),
        )
        .map_err(|_| Error::InvalidThreshold {
            k: usize::from(k),
            n: usize::from(n),
        })?
    }))
}

/// The shares of one sharing found so far, by share index.
pub(super) struct Group {
    pub(super) header: ShareHeader,
    shares: Vec<Option<Zeroizing<Vec<u8>>>>,
    pub(super) count: usize,
}

impl Group {
    pub(super) fn new(header: ShareHeader, n: u8) -> Self {
        Self {
            header,
            shares: vec![None; usize::from(n)],
            count: 0,
        }
    }

    /// Records share `index` (x-coordinate `index + 1`) unless it is already present.
    ///
    /// `plain` is the whole opened share, header and body; it is turned in place into the
    /// `[x, body…]` form `vsss-rs` combines, without another copy of the body.
    pub(super) fn add(&mut self, index: u8, mut plain: Zeroizing<Vec<u8>>) {
        if let Some(slot @ None) = self.shares.get_mut(usize::from(index)) {
            let x_at = SHARE_HEADER_LEN - 1;
            if plain.len() <= x_at {
                return;
            }
            plain.drain(..x_at);
            if let Some(x) = plain.first_mut() {
                *x = index.wrapping_add(1);
            }
            *slot = Some(plain);
            self.count += 1;
        }
    }

    /// Combines the first `k` shares and checks the commitment.
    ///
    /// The shares are moved out (and zeroized after use), so a group is combined at most once.
    pub(super) fn combine(&mut self, k: usize) -> Option<MeshRead> {
        let mut metadata = Zeroizing::new(if self.header.length == 0 {
            Vec::new()
        } else {
            let chosen: Zeroizing<Vec<Vec<u8>>> = Zeroizing::new(
                self.shares
                    .iter_mut()
                    .flatten()
                    .take(k)
                    .map(|share| core::mem::take(&mut **share))
                    .collect(),
            );
            Gf256::combine_bytes(chosen.as_slice()).ok()?
        });
        let expected = commitment(self.header.generation, &metadata);
        if bool::from(expected.ct_eq(&self.header.commitment)) {
            Some(MeshRead {
                generation: self.header.generation,
                metadata: core::mem::take(&mut *metadata),
            })
        } else {
            None
        }
    }
}
