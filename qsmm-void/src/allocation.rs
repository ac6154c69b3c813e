//! Data-block allocation: a keyed pseudo-random permutation of the medium per namespace.

use core::{fmt, ops::Range};

use chacha20poly1305::{AeadInOut, KeyInit, XChaCha20Poly1305, XNonce};
use qsmm_types::{BlockId, Error, Result, SecretKey};
use zeroize::ZeroizeOnDrop;

use crate::device::BlockDevice;
use crate::namespace::Namespace;

/// Feistel rounds of the permutation (as many as NIST SP 800-38G FF1 uses).
const ROUNDS: u32 = 10;

/// Upper bound on cycle-walking steps. Each step lands inside the region with probability at
/// least 1/4, so reaching this bound has probability below `(3/4)^4096 ≈ 2^-1700`; it exists so
/// that no input can make a lookup loop for long.
const MAX_WALK: u32 = 4096;

/// The data blocks of one namespace in one region of a medium, in keyed pseudo-random order,
/// minus reserved blocks.
///
/// Made by [`Namespace::data_allocator`] or [`Namespace::data_allocator_in`].
///
/// # The rule
///
/// A namespace orders the blocks of a region `[start, start + len)` of the medium by a keyed
/// pseudo-random permutation `π` of `[0, len)`: a 10-round balanced Feistel network on the
/// smallest even number of bits that covers `len`, with cycle walking back into `[0, len)`.
/// The round function is the XChaCha20 keystream under the allocation subkey
/// (`derive_subkey(key, hw_entropy, labels::VOID_ALLOC)`) with the nonce
/// `"perm" ‖ round (u32 LE) ‖ len (u64 LE) ‖ half-block value (u64 LE)`.
///
/// Blocks the caller reserves (the metadata mesh's shards, say) are taken out of the sequence:
/// candidate `i` is `start + π(j)` where `j` is the `i`-th index whose image is not reserved.
/// This is computed from the inverse permutation of the reserved blocks, so looking up any
/// candidate costs `O(reserved)` and no table of the whole medium is ever built.
///
/// The same key, `hw_entropy`, region and reserved set give the same sequence on every machine.
///
/// # Collisions between namespaces
///
/// Namespaces do not know each other, so each one's sequence is, to the others, a uniformly
/// random arrangement of the medium. If two namespaces write `a` and `b` data blocks by
/// [`Self::candidate`] alone into `N` blocks, the expected number of shared blocks is
/// `a·b/N`, and the probability of at least one is about `1 − exp(−a·b/N)` (the birthday bound;
/// for `m` namespaces of `a` blocks each, `1 − exp(−C(m,2)·a²/N)`). For two namespaces of 300
/// blocks in a 64 MiB medium of 4 KiB blocks (`N = 16384`) that is about 5.5 expected
/// overwrites: collisions are the normal case, not a rare one. A later write silently destroys
/// the other namespace's block (it no longer opens; nothing else breaks).
///
/// # Only for a namespace alone on its medium (or region)
///
/// The sequence is a function of the key alone. That makes it unfit for several namespaces on
/// one medium, in both directions:
/// - without coordination, namespaces overwrite each other at the birthday rate above;
/// - with coordination by skipping candidates that another open namespace uses, the skips
///   betray the others: whoever is given one key recomputes its sequence, and every candidate
///   it skipped is a block of another namespace. For this reason the skipping allocator that
///   this type once had is gone.
///
/// Several namespaces on one medium allocate **uniformly at random among the free blocks** and
/// record each choice in their own metadata, as `qsmm-volume` does (see ARCHITECTURE.md,
/// "qsmm-void"): with random choice a revealed namespace's block set is a uniform
/// sample whatever else is on the medium. Use this type for a single namespace, or give each
/// namespace a disjoint region
/// ([`Namespace::data_allocator_in`](crate::Namespace::data_allocator_in)) at the cost of
/// revealing, to whoever knows the layout convention, how the medium is divided.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeSet;
/// use qsmm_types::{BlockId, SecretKey};
/// use qsmm_void::{BlockDevice, MemoryDevice, Namespace};
///
/// let device = MemoryDevice::new(4096, 1024)?;
/// let ns = Namespace::new(SecretKey::generate(), b"hw")?;
/// let reserved: BTreeSet<BlockId> = [BlockId(1), BlockId(2)].into();
/// let alloc = ns.data_allocator(device.block_count(), &reserved)?;
/// assert_eq!(alloc.capacity(), 1022);
///
/// alloc.write_data(&device, 0, b"first")?;
/// alloc.write_data(&device, 1, b"second")?;
/// assert_eq!(alloc.read_data(&device, 1)?, Some(b"second".to_vec()));
/// assert!(!reserved.contains(&alloc.candidate(0)?));
/// # Ok::<(), qsmm_void::Error>(())
/// ```
pub struct DataAllocator<'a> {
    namespace: &'a Namespace,
    permutation: Permutation,
    start: u64,
    /// Sorted, distinct permutation indices whose images are reserved.
    skipped: Vec<u64>,
}

impl<'a> DataAllocator<'a> {
    pub(crate) fn new<'r>(
        namespace: &'a Namespace,
        alloc_key: &SecretKey,
        region: Range<u64>,
        reserved: impl IntoIterator<Item = &'r BlockId>,
    ) -> Result<Self> {
        let len = region.end.saturating_sub(region.start);
        let permutation = Permutation::new(alloc_key, len)?;
        let mut skipped = Vec::new();
        for block in reserved {
            if region.contains(&block.get()) {
                skipped.push(permutation.inverse(block.get() - region.start)?);
            }
        }
        skipped.sort_unstable();
        skipped.dedup();
        Ok(Self {
            namespace,
            permutation,
            start: region.start,
            skipped,
        })
    }

    /// How many blocks the sequence holds: the region's size minus the reserved blocks in it.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        // skipped holds distinct indices below the region length, so this cannot underflow.
        self.permutation.len - self.skipped.len() as u64
    }

    /// Candidate `index` of the sequence: the block of logical data block `index` when the
    /// namespace allocates without coordination. Distinct indices give distinct blocks, none of
    /// them reserved.
    ///
    /// # Errors
    ///
    /// [`Error::BlockOutOfRange`] if `index >= self.capacity()`.
    pub fn candidate(&self, index: u64) -> Result<BlockId> {
        let capacity = self.capacity();
        if index >= capacity {
            return Err(Error::BlockOutOfRange {
                block: index,
                count: capacity,
            });
        }
        let mut position = index;
        for &skipped in &self.skipped {
            if skipped <= position {
                position += 1;
            } else {
                break;
            }
        }
        Ok(BlockId(self.start + self.permutation.forward(position)?))
    }

    /// Seals `data` and writes it to the block of logical data block `logical`
    /// ([`Self::candidate`]). Returns the block written. The write is durable after
    /// [`BlockDevice::flush`].
    ///
    /// # Errors
    ///
    /// Those of [`Self::candidate`] and [`Namespace::write_block`].
    pub fn write_data(
        &self,
        device: &dyn BlockDevice,
        logical: u64,
        data: &[u8],
    ) -> Result<BlockId> {
        let block = self.candidate(logical)?;
        self.namespace.write_block(device, block, data)?;
        Ok(block)
    }

    /// Reads and opens logical data block `logical`: `Ok(None)` if the block there is not
    /// this namespace's (never written, overwritten by another namespace, tampered with).
    ///
    /// # Errors
    ///
    /// Those of [`Self::candidate`] and [`Namespace::read_block`].
    pub fn read_data(&self, device: &dyn BlockDevice, logical: u64) -> Result<Option<Vec<u8>>> {
        let block = self.candidate(logical)?;
        self.namespace.read_block(device, block)
    }
}

impl fmt::Debug for DataAllocator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataAllocator")
            .field("start", &self.start)
            .field("len", &self.permutation.len)
            .field("reserved", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

/// A keyed pseudo-random permutation of `[0, len)`: Feistel network plus cycle walking.
pub(crate) struct Permutation {
    /// XChaCha20 keyed with the allocation subkey, used as the round function.
    prf: XChaCha20Poly1305,
    len: u64,
    /// Bits in each Feistel half; the network permutes `[0, 2^(2·half_bits))`.
    half_bits: u32,
}

impl Permutation {
    pub(crate) fn new(key: &SecretKey, len: u64) -> Result<Self> {
        if len == 0 {
            return Err(Error::TooFewBlocks {
                needed: 1,
                available: 0,
            });
        }
        let bits = u64::BITS - (len - 1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        let prf = XChaCha20Poly1305::new_from_slice(key.as_bytes()).map_err(|_| Error::Crypto)?;
        Ok(Self {
            prf,
            len,
            half_bits,
        })
    }

    /// `π(x)`.
    pub(crate) fn forward(&self, x: u64) -> Result<u64> {
        self.walk(x, |v| self.feistel(v))
    }

    /// `π⁻¹(y)`.
    pub(crate) fn inverse(&self, y: u64) -> Result<u64> {
        self.walk(y, |v| self.feistel_inverse(v))
    }

    /// Cycle walking: apply `step` until the value falls back into `[0, len)`.
    fn walk(&self, x: u64, step: impl Fn(u64) -> u64) -> Result<u64> {
        if x >= self.len {
            return Err(Error::BlockOutOfRange {
                block: x,
                count: self.len,
            });
        }
        let mut value = x;
        for _ in 0..MAX_WALK {
            value = step(value);
            if value < self.len {
                return Ok(value);
            }
        }
        Err(Error::InvalidParameter(
            "allocation permutation did not converge",
        ))
    }

    fn mask(&self) -> u64 {
        (1u64 << self.half_bits) - 1
    }

    fn feistel(&self, x: u64) -> u64 {
        let (mut left, mut right) = (x >> self.half_bits, x & self.mask());
        for round in 0..ROUNDS {
            (left, right) = (right, left ^ self.round(round, right));
        }
        (left << self.half_bits) | right
    }

    fn feistel_inverse(&self, y: u64) -> u64 {
        let (mut left, mut right) = (y >> self.half_bits, y & self.mask());
        for round in (0..ROUNDS).rev() {
            (left, right) = (right ^ self.round(round, left), left);
        }
        (left << self.half_bits) | right
    }

    /// The round function: 8 bytes of XChaCha20 keystream, masked to a half.
    fn round(&self, round: u32, half: u64) -> u64 {
        let mut nonce = [0u8; 24];
        let (domain, rest) = nonce.split_at_mut(4);
        domain.copy_from_slice(b"perm");
        let (round_out, rest) = rest.split_at_mut(4);
        round_out.copy_from_slice(&round.to_le_bytes());
        let (len_out, half_out) = rest.split_at_mut(8);
        len_out.copy_from_slice(&self.len.to_le_bytes());
        half_out.copy_from_slice(&half.to_le_bytes());
        let mut out = [0u8; 8];
        // Encrypting 8 bytes cannot exceed the cipher's length limit; on the impossible error
        // the output stays zero, which keeps the network a permutation.
        let _tag = self
            .prf
            .encrypt_inout_detached(&XNonce::from(nonce), &[], out.as_mut_slice().into())
            .ok();
        u64::from_le_bytes(out) & self.mask()
    }
}

impl ZeroizeOnDrop for Permutation {}

/// Data allocators are made by the namespace they allocate for; the constructors live here so
/// that `namespace` does not depend on this module.
impl Namespace {
    /// The data blocks of this namespace on a medium of `total_blocks` blocks, in keyed
    /// pseudo-random order, never any block in `reserved` (for instance the blocks of this
    /// namespace's metadata mesh).
    ///
    /// `reserved` must be the same set every time the namespace is opened, since it shifts the
    /// order. Reserved blocks outside the medium are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::TooFewBlocks`] if `total_blocks` is 0.
    pub fn data_allocator<'r>(
        &self,
        total_blocks: u64,
        reserved: impl IntoIterator<Item = &'r BlockId>,
    ) -> Result<DataAllocator<'_>> {
        self.data_allocator_in(0..total_blocks, reserved)
    }

    /// Like [`Self::data_allocator`], within the blocks `region` only: namespaces given
    /// disjoint regions can never overwrite each other's data.
    ///
    /// # Errors
    ///
    /// [`Error::TooFewBlocks`] if `region` is empty.
    pub fn data_allocator_in<'r>(
        &self,
        region: Range<u64>,
        reserved: impl IntoIterator<Item = &'r BlockId>,
    ) -> Result<DataAllocator<'_>> {
        DataAllocator::new(self, self.alloc_key(), region, reserved)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes([7; 32])
    }

    #[test]
    fn is_a_permutation_with_inverse() {
        for len in [1u64, 2, 3, 5, 16, 17, 1000, 4096] {
            let p = Permutation::new(&key(), len).unwrap();
            let images: BTreeSet<u64> = (0..len).map(|x| p.forward(x).unwrap()).collect();
            assert_eq!(images.len() as u64, len);
            assert!(images.iter().all(|&y| y < len));
            for x in 0..len {
                assert_eq!(p.inverse(p.forward(x).unwrap()).unwrap(), x);
            }
            assert!(matches!(
                p.forward(len),
                Err(Error::BlockOutOfRange { block, count }) if block == len && count == len
            ));
        }
        assert!(matches!(
            Permutation::new(&key(), 0),
            Err(Error::TooFewBlocks { .. })
        ));
    }

    #[test]
    fn huge_domains_work() {
        let p = Permutation::new(&key(), u64::MAX).unwrap();
        for x in [0, 1, u64::MAX / 2, u64::MAX - 1] {
            let y = p.forward(x).unwrap();
            assert!(y < u64::MAX);
            assert_eq!(p.inverse(y).unwrap(), x);
        }
    }

    #[test]
    fn depends_on_the_key() {
        let a = Permutation::new(&key(), 1 << 20).unwrap();
        let b = Permutation::new(&SecretKey::from_bytes([8; 32]), 1 << 20).unwrap();
        let same = (0..64)
            .filter(|&x| a.forward(x).unwrap() == b.forward(x).unwrap())
            .count();
        assert!(same < 2, "{same}");
    }

    /// Pins the permutation: a change of construction would move existing data.
    #[test]
    fn known_answer() {
        let p = Permutation::new(&key(), 16384).unwrap();
        let got: Vec<u64> = (0..4).map(|x| p.forward(x).unwrap()).collect();
        assert_eq!(got, KNOWN_16384);
    }

    const KNOWN_16384: [u64; 4] = [15323, 1219, 3047, 10523];
}
