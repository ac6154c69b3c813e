//! Key-derivation labels: one per purpose, all in one place.
//!
//! Every subkey in qsmm is HKDF-SHA256 output whose `info` is one of these labels, so two
//! purposes can never share a key by accident. A [`Label`] can only be made here: a new purpose
//! means a new constant in this module, next to all the others, where a reviewer can check that
//! it is distinct.
//!
//! Labels are versioned (`qsmm/v1/...`): a change of construction gets a new label, never a
//! reused one.

use core::fmt;

/// A domain-separation label for HKDF `info` and other hashes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label(&'static str);

impl Label {
    /// The label text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// The label as bytes, as it enters a hash.
    #[must_use]
    pub const fn as_bytes(self) -> &'static [u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?})", self.0)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Key of the AEAD that seals blocks of a namespace (`qsmm-void`).
pub const VOID_SEAL: Label = Label("qsmm/v1/void/seal");
/// Key that chooses which data blocks a namespace allocates (`qsmm-void`).
pub const VOID_ALLOC: Label = Label("qsmm/v1/void/alloc");
/// Key of the MiMC function that places metadata shards (`qsmm-shatter`).
pub const SHATTER_PLACE: Label = Label("qsmm/v1/shatter/place");
/// Key that seals metadata shares before they reach the medium (`qsmm-shatter`).
pub const SHATTER_SHARE: Label = Label("qsmm/v1/shatter/share");
/// Domain of the SHA3-256 commitment to a generation of mesh metadata (`qsmm-shatter`).
pub const SHATTER_COMMITMENT: Label = Label("qsmm/v1/shatter/mesh-commitment");
/// Public domain string from which the MiMC-7 round constants are derived (`qsmm-shatter`).
pub const MIMC_ROUND_CONSTANTS: Label = Label("qsmm/v1/shatter/mimc7-pallas/round-constants");
/// Domain tag of leaves of the MiMC-Merkle tree (`qsmm-proof-stub`).
pub const PROOF_LEAF: Label = Label("qsmm/v1/proof/leaf");
/// Domain tag of inner nodes of the MiMC-Merkle tree (`qsmm-proof-stub`).
pub const PROOF_NODE: Label = Label("qsmm/v1/proof/node");
/// Domain of the block positions a retrievability challenge draws from its seed
/// (`qsmm-proof-halo2`).
pub const PROOF_CHALLENGE: Label = Label("qsmm/v1/proof/challenge");
/// Key-wrapping key derived from a KEM shared secret (`qsmm-shield`); the suite is appended.
pub const SHIELD_WRAP: Label = Label("qsmm/v1/shield/wrap");
/// Note key derived from the ML-KEM secret and the classical secret (`qsmm-shield`, paravoid).
pub const SHIELD_NOTE: Label = Label("qsmm/v1/shield/note");
/// Key of the cipher that encrypts the 4096-byte sectors of a volume (`qsmm-volume`).
pub const VOLUME_DATA: Label = Label("qsmm/v1/volume/data");
/// Key of the namespace that seals a volume's map blocks (`qsmm-volume`).
pub const VOLUME_MAP: Label = Label("qsmm/v1/volume/map");
/// Fingerprint that tells whether a volume is already open on a medium (`qsmm-volume`; kept in
/// memory only, never written).
pub const VOLUME_HANDLE: Label = Label("qsmm/v1/volume/handle");
/// Key that seals a multi-snapshot volume's root in the root area (`qsmm-volume`).
pub const VOLUME_ROOT_AREA: Label = Label("qsmm/v1/volume/root-area");

/// Every label, for the test that they are pairwise distinct.
pub const ALL: &[Label] = &[
    VOID_SEAL,
    VOID_ALLOC,
    SHATTER_PLACE,
    SHATTER_SHARE,
    SHATTER_COMMITMENT,
    MIMC_ROUND_CONSTANTS,
    PROOF_LEAF,
    PROOF_NODE,
    PROOF_CHALLENGE,
    SHIELD_WRAP,
    SHIELD_NOTE,
    VOLUME_DATA,
    VOLUME_MAP,
    VOLUME_HANDLE,
    VOLUME_ROOT_AREA,
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn labels_are_distinct_and_versioned() {
        let set: HashSet<_> = ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(set.len(), ALL.len());
        for label in ALL {
            assert!(label.as_str().starts_with("qsmm/v1/"), "{label}");
        }
    }

    #[test]
    fn no_label_is_a_prefix_of_another() {
        for a in ALL {
            for b in ALL {
                if a != b {
                    assert!(!b.as_str().starts_with(a.as_str()), "{a} prefixes {b}");
                }
            }
        }
    }
}
