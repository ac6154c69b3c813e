//! The root area: one sealed block per root, anywhere in blocks `1..=128`, found by trial
//! decryption; every commit rewrites the whole area.

use qsmm_types::{BlockId, SecretKey};
use qsmm_void::SectorCipher;
use rand_core::Rng;
use zeroize::{Zeroize, Zeroizing};

use super::{MultiState, ROOT_AREA, root_key};
use crate::error::{Error, Result};
use crate::medium::{BLOCK_SIZE, Medium};
use crate::root::Root;

/// Domain tag at the start of a root block's associated data.
const DOMAIN: [u8; 16] = *b"qsmm/v1/vol/rare";
/// Nonce and tag before the ciphertext.
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Version byte of the plaintext.
const VERSION: u8 = 1;
/// Plaintext header: version, generation, root length.
const PLAIN_HEADER: usize = 1 + 8 + 2;

/// The largest encoded root a root-area block holds.
pub(crate) const CAPACITY: usize = BLOCK_SIZE - NONCE_LEN - TAG_LEN - PLAIN_HEADER;

/// The root of a volume opened during this mount, as the next rewrite of the area writes it.
pub(crate) struct RootEntry {
    /// In-memory identity of the volume (its passphrase's fingerprint).
    fingerprint: [u8; 32],
    key: SecretKey,
    encoded: Zeroizing<Vec<u8>>,
    generation: u64,
    /// The block holding it now (`None`: not written yet).
    block: Option<u64>,
}

fn aad(block: u64) -> [u8; 24] {
    let mut aad = [0u8; 24];
    aad[..16].copy_from_slice(&DOMAIN);
    aad[16..].copy_from_slice(&block.to_le_bytes());
    aad
}

fn cipher(key: &SecretKey) -> SectorCipher {
    SectorCipher::new(key.as_bytes())
}

/// Seals root `encoded` of `generation` for `block`.
fn seal(
    key: &SecretKey,
    block: u64,
    generation: u64,
    encoded: &[u8],
    rng: &mut impl Rng,
) -> Result<Vec<u8>> {
    let len = u16::try_from(encoded.len())
        .ok()
        .filter(|&l| usize::from(l) <= CAPACITY)
        .ok_or(Error::Internal("a root larger than a root-area block"))?;
    let mut out = vec![0u8; BLOCK_SIZE];
    let (head, body) = out.split_at_mut(NONCE_LEN + TAG_LEN);
    let mut plain = Zeroizing::new(vec![0u8; body.len()]);
    plain[0] = VERSION;
    plain[1..9].copy_from_slice(&generation.to_le_bytes());
    plain[9..11].copy_from_slice(&len.to_le_bytes());
    plain[PLAIN_HEADER..PLAIN_HEADER + encoded.len()].copy_from_slice(encoded);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let tag = cipher(key).encrypt_in_place_detached(&nonce, &aad(block), &mut plain);
    body.copy_from_slice(&plain);
    head[..NONCE_LEN].copy_from_slice(&nonce);
    head[NONCE_LEN..].copy_from_slice(&tag);
    Ok(out)
}

/// Opens a root-area block: its generation and encoded root, `None` if it is not this key's.
fn open(key: &SecretKey, block: u64, bytes: &[u8]) -> Option<(u64, Zeroizing<Vec<u8>>)> {
    let (head, body) = bytes.split_at_checked(NONCE_LEN + TAG_LEN)?;
    let nonce: [u8; NONCE_LEN] = head.get(..NONCE_LEN)?.try_into().ok()?;
    let tag: [u8; TAG_LEN] = head.get(NONCE_LEN..)?.try_into().ok()?;
    let mut plain = Zeroizing::new(body.to_vec());
    cipher(key)
        .decrypt_in_place_detached(&nonce, &aad(block), &mut plain, &tag)
        .ok()?;
    if plain.first() != Some(&VERSION) {
        return None;
    }
    let generation = u64::from_le_bytes(plain.get(1..9)?.try_into().ok()?);
    let len = usize::from(u16::from_le_bytes(plain.get(9..11)?.try_into().ok()?));
    let encoded = Zeroizing::new(plain.get(PLAIN_HEADER..PLAIN_HEADER + len)?.to_vec());
    Some((generation, encoded))
}

/// A root found in the root area: its generation, the root and the block holding it.
pub(crate) struct Found {
    pub(crate) generation: u64,
    pub(crate) root: Root,
    pub(crate) encoded: Zeroizing<Vec<u8>>,
    pub(crate) block: u64,
}

/// Tries every block of the root area with `mesh_key`'s root key; the newest root, if any.
pub(crate) fn find_root(medium: &Medium, mesh_key: &SecretKey) -> Result<Option<Found>> {
    if medium.block_count() < ROOT_AREA.end {
        return Ok(None);
    }
    let key = root_key(mesh_key, medium.salt());
    let mut best: Option<Found> = None;
    let mut buf = vec![0u8; BLOCK_SIZE];
    for block in ROOT_AREA {
        medium.device().read_block(BlockId(block), &mut buf)?;
        let Some((generation, encoded)) = open(&key, block, &buf) else {
            continue;
        };
        let Some(root) = Root::decode(&encoded) else {
            continue;
        };
        if best.as_ref().is_none_or(|b| generation > b.generation) {
            best = Some(Found {
                generation,
                root,
                encoded,
                block,
            });
        }
    }
    buf.zeroize();
    Ok(best)
}

impl Medium {
    /// Records the root of a volume opened or created in multi-snapshot mode, so that every
    /// later rewrite of the area keeps it (`block`: where it is now, if written).
    pub(crate) fn keep_root(
        &self,
        fingerprint: [u8; 32],
        mesh_key: &SecretKey,
        encoded: &[u8],
        generation: u64,
        block: Option<u64>,
    ) -> Result<()> {
        let key = root_key(mesh_key, self.salt());
        let mut multi = self.multi();
        let m = multi.as_mut().ok_or(Error::Internal(
            "a root-area root on a single-snapshot medium",
        ))?;
        m.roots.retain(|r| r.fingerprint != fingerprint);
        if (m.roots.len() as u64 + 1) * 2 > ROOT_AREA.end - ROOT_AREA.start {
            return Err(Error::InvalidParameter(
                "too many volumes open on a multi-snapshot medium",
            ));
        }
        m.roots.push(RootEntry {
            fingerprint,
            key,
            encoded: Zeroizing::new(encoded.to_vec()),
            generation,
            block,
        });
        Ok(())
    }

    /// A volume's passphrase changed: its root moves to the new key at the next rewrite, and
    /// the block of the old one is overwritten with noise there.
    pub(crate) fn rekey_root(&self, old: &[u8; 32], new: [u8; 32], mesh_key: &SecretKey) {
        let key = root_key(mesh_key, self.salt());
        if let Some(m) = self.multi().as_mut() {
            for r in &mut m.roots {
                if &r.fingerprint == old {
                    r.fingerprint = new;
                    r.key = key.clone_key();
                }
            }
        }
    }

    /// The root-area block holding the root of the volume `fingerprint`, if written.
    pub(crate) fn root_block(&self, fingerprint: &[u8; 32]) -> Option<u64> {
        self.multi()
            .as_ref()?
            .roots
            .iter()
            .find(|r| &r.fingerprint == fingerprint)?
            .block
    }

    /// Commits generation `generation` of the volume `fingerprint` (its encoded root) by
    /// rewriting the whole root area.
    pub(crate) fn commit_root(
        &self,
        fingerprint: &[u8; 32],
        encoded: &[u8],
        generation: u64,
    ) -> Result<()> {
        let mut multi = self.multi();
        let m = multi.as_mut().ok_or(Error::Internal(
            "a root-area commit on a single-snapshot medium",
        ))?;
        let entry = m
            .roots
            .iter_mut()
            .find(|r| &r.fingerprint == fingerprint)
            .ok_or(Error::Internal("a root-area commit of an unknown volume"))?;
        entry.encoded = Zeroizing::new(encoded.to_vec());
        entry.generation = generation;
        self.rewrite_area(m)
    }

    /// Rewrites the whole root area with the current roots (the last commit of a mount).
    pub(crate) fn rewrite_root_area(&self) -> Result<()> {
        let mut multi = self.multi();
        match multi.as_mut() {
            Some(m) => self.rewrite_area(m),
            None => Ok(()),
        }
    }

    /// New roots to random blocks holding no live root, sync; noise over the previous roots,
    /// sync. The first rewrite of a mount also writes noise to every other block of the area,
    /// so that the area changes whole in every mount that commits; once it has, the blocks a
    /// later commit writes fall inside that change, and an image taken after the mount (even
    /// after a crash) shows the same whole area changed whatever the number of commits.
    ///
    /// A rewrite that fails may have left new roots in blocks it never recorded (written, not
    /// yet known to be durable), possibly of a generation a later commit reuses or passes: the
    /// next rewrite is then a whole one again, so that its first sync erases them before any
    /// later commit counts as durable.
    fn rewrite_area(&self, m: &mut MultiState) -> Result<()> {
        let result = self.rewrite_area_once(m);
        m.area_rewritten = result.is_ok();
        result
    }

    fn rewrite_area_once(&self, m: &mut MultiState) -> Result<()> {
        let live: Vec<u64> = m.roots.iter().filter_map(|r| r.block).collect();
        let mut free: Vec<u64> = ROOT_AREA.filter(|b| !live.contains(b)).collect();
        // Fisher–Yates: the first blocks of the shuffled list take the roots.
        for i in (1..free.len()).rev() {
            let j = usize::try_from(below(&mut m.rng, i as u64 + 1)).unwrap_or(0);
            free.swap(i, j);
        }
        if free.len() < m.roots.len() {
            return Err(Error::Internal("root area too small for the open volumes"));
        }
        let mut placed = Vec::with_capacity(m.roots.len());
        let mut noise = Zeroizing::new(vec![0u8; BLOCK_SIZE]);
        let mut writes = Vec::with_capacity(free.len());
        for (i, &block) in free.iter().enumerate() {
            match m.roots.get(i) {
                Some(r) => {
                    writes.push((
                        block,
                        seal(&r.key, block, r.generation, &r.encoded, &mut m.rng)?,
                    ));
                    placed.push(block);
                }
                None if !m.area_rewritten => {
                    m.rng.fill_bytes(&mut noise);
                    writes.push((block, noise.to_vec()));
                }
                None => {}
            }
        }
        // Written in block order, so the order of writes tells nothing either.
        writes.sort_unstable_by_key(|(b, _)| *b);
        for (block, bytes) in &writes {
            self.device().write_block(BlockId(*block), bytes)?;
            m.counts.root_area += 1;
        }
        self.device().flush()?;
        for (r, block) in m.roots.iter_mut().zip(placed) {
            r.block = Some(block);
        }
        for &block in &live {
            m.rng.fill_bytes(&mut noise);
            self.device().write_block(BlockId(block), &noise)?;
            m.counts.root_area += 1;
        }
        self.device().flush()?;
        Ok(())
    }
}

/// A uniform value in `[0, n)` for `n > 0`.
fn below(rng: &mut impl Rng, n: u64) -> u64 {
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return x % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn sealed_roots_open_only_with_their_key_and_block() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let key = SecretKey::from_bytes([4; 32]);
        let sealed = seal(&key, 7, 9, b"root bytes", &mut rng).unwrap();
        let (generation, encoded) = open(&key, 7, &sealed).unwrap();
        assert_eq!((generation, &encoded[..]), (9, &b"root bytes"[..]));
        assert!(open(&key, 8, &sealed).is_none());
        assert!(open(&SecretKey::from_bytes([5; 32]), 7, &sealed).is_none());
        let mut bad = sealed;
        bad[100] ^= 1;
        assert!(open(&key, 7, &bad).is_none());
        assert!(seal(&key, 7, 9, &vec![0; CAPACITY + 1], &mut rng).is_err());
    }
}
