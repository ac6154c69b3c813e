//! The encrypted index with TFHE-rs's default parameters, kept small enough for the debug test
//! run: lookups and updates against a `HashMap` model, key-pair checks, the entry cap and the
//! serialised forms of every message. The larger cases are `#[ignore]`d at the end.
#![allow(clippy::unwrap_used, reason = "helpers of tests fail loudly")]

use std::collections::HashMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use qsmm_cloak::{
    Answer, ClientKey, EncryptedIndex, Entry, Error, Query, ServerKey, Update, UpdateAnswer,
};

/// One key pair for the whole test binary (generating the server key takes seconds).
fn keys() -> &'static (ClientKey, ServerKey) {
    static KEYS: OnceLock<(ClientKey, ServerKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let client = ClientKey::generate().unwrap();
        let server = client.server_key();
        (client, server)
    })
}

/// A second client key (no server key: the key-pair checks come before any computation).
fn other_client() -> &'static ClientKey {
    static OTHER: OnceLock<ClientKey> = OnceLock::new();
    OTHER.get_or_init(|| ClientKey::generate().unwrap())
}

/// An index holding `entries`, all sent through their serialised form.
fn index_of(entries: &[(u64, u64)]) -> EncryptedIndex {
    let (client, server) = keys();
    let mut index = EncryptedIndex::new(server);
    for &(key, value) in entries {
        let entry = client.encrypt_entry(key, value).unwrap();
        let entry = Entry::from_bytes(&entry.to_bytes().unwrap()).unwrap();
        index.insert(server, &entry).unwrap();
    }
    index
}

/// Looks `key` up through the serialised query and answer.
fn lookup(index: &EncryptedIndex, key: u64) -> Option<u64> {
    let (client, server) = keys();
    let query = Query::from_bytes(&client.encrypt_query(key).unwrap().to_bytes().unwrap()).unwrap();
    let answer = index.lookup(server, &query).unwrap();
    let answer = Answer::from_bytes(&answer.to_bytes().unwrap()).unwrap();
    client.decrypt_answer(&answer).unwrap()
}

/// Updates `key` to `value` through the serialised update and answer; whether it was found.
fn update(index: &mut EncryptedIndex, key: u64, value: u64) -> bool {
    let (client, server) = keys();
    let update = client.encrypt_update(key, value).unwrap();
    let update = Update::from_bytes(&update.to_bytes().unwrap()).unwrap();
    let answer = index.update(server, &update).unwrap();
    let answer = UpdateAnswer::from_bytes(&answer.to_bytes().unwrap()).unwrap();
    client.decrypt_update_answer(&answer).unwrap()
}

#[test]
fn lookup_and_update_two_entries() {
    let mut index = index_of(&[(7, 700), (u64::MAX, 1)]);
    assert_eq!(index.len(), 2);
    assert_eq!(lookup(&index, 7), Some(700));
    assert_eq!(lookup(&index, u64::MAX), Some(1));
    // A key that differs from 7 in one bit only is absent.
    assert_eq!(lookup(&index, 6), None);
    assert!(update(&mut index, u64::MAX, 0xdead_beef_0000_0001));
    assert!(!update(&mut index, 8, 5));
    assert_eq!(lookup(&index, u64::MAX), Some(0xdead_beef_0000_0001));
    assert_eq!(lookup(&index, 7), Some(700));
    assert_eq!(index.len(), 2);
}

#[test]
fn empty_index_finds_nothing() {
    let mut index = index_of(&[]);
    assert!(index.is_empty());
    assert_eq!(lookup(&index, 0), None);
    assert!(!update(&mut index, 0, 1));
}

#[test]
fn insert_replaces_and_remove_forgets() {
    let (client, server) = keys();
    let mut index = index_of(&[(1, 10)]);
    index
        .insert(server, &client.encrypt_entry(1, 11).unwrap())
        .unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(lookup(&index, 1), Some(11));
    assert!(index.remove(server, 1).unwrap());
    assert!(!index.remove(server, 1).unwrap());
    assert_eq!(lookup(&index, 1), None);
}

#[test]
fn entry_cap_is_enforced() {
    let (client, server) = keys();
    let mut index = EncryptedIndex::with_max_entries(server, 2).unwrap();
    for key in [1, 2] {
        index
            .insert(server, &client.encrypt_entry(key, key).unwrap())
            .unwrap();
    }
    let third = client.encrypt_entry(3, 3).unwrap();
    assert!(matches!(
        index.insert(server, &third),
        Err(Error::IndexFull { max: 2 })
    ));
    assert_eq!(index.len(), 2);
    // Replacing an existing key is not growth.
    index
        .insert(server, &client.encrypt_entry(2, 20).unwrap())
        .unwrap();
    assert_eq!(index.len(), 2);
    assert_eq!(EncryptedIndex::new(server).max_entries(), 256);
    for bad in [0, qsmm_cloak::HARD_MAX_ENTRIES + 1] {
        assert!(matches!(
            EncryptedIndex::with_max_entries(server, bad),
            Err(Error::InvalidCapacity { .. })
        ));
    }
}

#[test]
fn another_key_pair_is_refused() {
    let (client, server) = keys();
    let other = other_client();
    assert_ne!(client.id(), other.id());
    let mut index = index_of(&[(5, 50)]);
    let query = other.encrypt_query(5).unwrap();
    assert!(matches!(
        index.lookup(server, &query),
        Err(Error::KeyMismatch { .. })
    ));
    let update = other.encrypt_update(5, 1).unwrap();
    assert!(matches!(
        index.update(server, &update),
        Err(Error::KeyMismatch { .. })
    ));
    let entry = other.encrypt_entry(6, 60).unwrap();
    assert!(matches!(
        index.insert(server, &entry),
        Err(Error::KeyMismatch { .. })
    ));
    assert_eq!(index.len(), 1);
    // The right client's answer, decrypted with another client key, is refused, not garbage.
    let answer = index
        .lookup(server, &client.encrypt_query(5).unwrap())
        .unwrap();
    assert!(matches!(
        other.decrypt_answer(&answer),
        Err(Error::KeyMismatch { .. })
    ));
    assert_eq!(client.decrypt_answer(&answer).unwrap(), Some(50));
    // Another client key passed off as this one (its id bytes replaced): it decrypts garbage
    // or nothing, never the value.
    let mut forged = other.to_bytes().unwrap();
    forged[8..24].copy_from_slice(client.id().as_bytes());
    let forged = ClientKey::from_bytes(&forged).unwrap();
    assert_eq!(forged.id(), client.id());
    assert_ne!(forged.decrypt_answer(&answer).ok(), Some(Some(50)));
}

#[test]
fn client_key_round_trip() {
    let (client, server) = keys();
    let bytes = client.to_bytes().unwrap();
    let restored = ClientKey::from_bytes(&bytes).unwrap();
    assert_eq!(restored.id(), client.id());
    let index = index_of(&[(9, 90)]);
    let answer = index
        .lookup(server, &restored.encrypt_query(9).unwrap())
        .unwrap();
    assert_eq!(restored.decrypt_answer(&answer).unwrap(), Some(90));
    assert_eq!(client.decrypt_answer(&answer).unwrap(), Some(90));
    // The Debug form shows the id only.
    let debug = format!("{restored:?}");
    assert!(debug.starts_with("ClientKey { id: KeyId("), "{debug}");
    assert!(debug.len() < 80, "{debug}");
}

#[test]
fn index_round_trip_and_cap_on_read() {
    let (_, server) = keys();
    let index = index_of(&[(3, 30), (4, 40)]);
    let bytes = index.to_bytes(server).unwrap();
    let restored = EncryptedIndex::from_bytes(server, &bytes, 256).unwrap();
    assert_eq!(restored.len(), 2);
    assert_eq!(lookup(&restored, 4), Some(40));
    assert!(matches!(
        EncryptedIndex::from_bytes(server, &bytes, 1),
        Err(Error::IndexFull { max: 1 })
    ));
    // Cut short anywhere in the header and at a few places in the body: refused.
    for cut in (0..64).chain([bytes.len() / 2, bytes.len() - 1]) {
        assert!(
            EncryptedIndex::from_bytes(server, &bytes[..cut], 256).is_err(),
            "cut at {cut}"
        );
    }
    let empty = index_of(&[]).to_bytes(server).unwrap();
    assert!(
        EncryptedIndex::from_bytes(server, &empty, 256)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn messages_refuse_junk() {
    let (client, server) = keys();
    let query = client.encrypt_query(1).unwrap().to_bytes().unwrap();
    let entry = client.encrypt_entry(1, 2).unwrap().to_bytes().unwrap();
    let update = client.encrypt_update(1, 2).unwrap().to_bytes().unwrap();
    let answer = index_of(&[])
        .lookup(server, &Query::from_bytes(&query).unwrap())
        .unwrap()
        .to_bytes()
        .unwrap();
    let client_key = client.to_bytes().unwrap();

    // Every object is refused as another kind.
    assert!(Query::from_bytes(&entry).is_err());
    assert!(Entry::from_bytes(&query).is_err());
    assert!(Update::from_bytes(&answer).is_err());
    assert!(Answer::from_bytes(&update).is_err());
    assert!(UpdateAnswer::from_bytes(&answer).is_err());
    assert!(ClientKey::from_bytes(&query).is_err());
    assert!(ServerKey::from_bytes(&client_key).is_err());

    // Truncations, a trailing byte, and bytes flipped in the headers (ours and TFHE-rs's).
    type Decode = fn(&[u8]) -> Result<(), Error>;
    let cases: [(&str, &[u8], Decode); 5] = [
        ("query", &query, |b| Query::from_bytes(b).map(drop)),
        ("entry", &entry, |b| Entry::from_bytes(b).map(drop)),
        ("update", &update, |b| Update::from_bytes(b).map(drop)),
        ("answer", &answer, |b| Answer::from_bytes(b).map(drop)),
        ("client key", &client_key, |b| {
            ClientKey::from_bytes(b).map(drop)
        }),
    ];
    for (name, bytes, decode) in cases {
        decode(bytes).unwrap();
        for cut in (0..80).chain([bytes.len() / 2, bytes.len() - 1]) {
            assert!(decode(&bytes[..cut]).is_err(), "{name} cut at {cut}");
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(decode(&long).is_err(), "{name} with a trailing byte");
        // Magic, version, kind and the first length field: refused. The key id (bytes 8..24)
        // is any 16 bytes; the rest may decode to other ciphertexts, but never panics.
        for at in (0..8).chain(24..28) {
            let mut flipped = bytes.to_vec();
            flipped[at] ^= 0x40;
            assert!(decode(&flipped).is_err(), "{name} flipped at {at}");
        }
        for at in 28..bytes.len().min(160) {
            let mut flipped = bytes.to_vec();
            flipped[at] ^= 0x40;
            decode(&flipped).ok();
        }
    }
    // An answer changed past its headers is refused or decrypts (to garbage at worst)
    // without a panic: the host is not trusted with the shape of what it computes.
    for at in 28..answer.len().min(400) {
        let mut flipped = answer.clone();
        flipped[at] ^= 0x40;
        if let Ok(changed) = Answer::from_bytes(&flipped) {
            client.decrypt_answer(&changed).ok();
        }
    }
    // Noise.
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
        .collect();
    assert!(Query::from_bytes(&noise).is_err());
    assert!(EncryptedIndex::from_bytes(server, &noise, 256).is_err());
}

proptest! {
    // Each case costs about a second per entry and operation: a few small cases here, more and
    // larger ones below, `#[ignore]`d.
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn agrees_with_a_hash_map(
        entries in prop::collection::vec((key_strategy(), any::<u64>()), 0..=2),
        ops in prop::collection::vec(op_strategy(), 1..=2),
    ) {
        check_against_model(&entries, &ops);
    }
}

/// Keys from a small range (so that lookups hit) or anywhere.
fn key_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..4, any::<u64>()]
}

/// A lookup or an update.
fn op_strategy() -> impl Strategy<Value = (bool, u64, u64)> {
    (any::<bool>(), key_strategy(), any::<u64>())
}

/// Runs `ops` (lookup when the flag is false, update otherwise) on an index of `entries` and on
/// a `HashMap`, comparing every answer.
fn check_against_model(entries: &[(u64, u64)], ops: &[(bool, u64, u64)]) {
    let mut model: HashMap<u64, u64> = entries.iter().copied().collect();
    let mut index = index_of(entries);
    assert_eq!(index.len(), model.len());
    for &(is_update, key, value) in ops {
        if is_update {
            let found = update(&mut index, key, value);
            assert_eq!(found, model.contains_key(&key), "update of {key}");
            if found {
                model.insert(key, value);
            }
        } else {
            assert_eq!(
                lookup(&index, key),
                model.get(&key).copied(),
                "lookup of {key}"
            );
        }
    }
}

// The heavy cases: `cargo test -p qsmm-cloak --test cloak -- --ignored` (`cargo xtask ci` runs
// them in its `cloak` step).

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    #[ignore = "heavy: about a minute per case; run by the `cloak` step of `cargo xtask ci`"]
    fn agrees_with_a_hash_map_larger(
        entries in prop::collection::vec((key_strategy(), any::<u64>()), 3..=5),
        ops in prop::collection::vec(op_strategy(), 2..=3),
    ) {
        check_against_model(&entries, &ops);
    }
}

#[test]
#[ignore = "heavy: serialises and expands a server key; run by the `cloak` step of `cargo xtask ci`"]
fn server_key_round_trip() {
    let (client, server) = keys();
    let bytes = server.to_bytes().unwrap();
    let restored = ServerKey::from_bytes(&bytes).unwrap();
    assert_eq!(restored.id(), server.id());
    // The restored key answers queries on an index built with the original.
    let index = index_of(&[(11, 110), (12, 120)]);
    let answer = index
        .lookup(&restored, &client.encrypt_query(12).unwrap())
        .unwrap();
    assert_eq!(client.decrypt_answer(&answer).unwrap(), Some(120));
    for cut in [0, 10, 30, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            ServerKey::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut long = bytes;
    long.push(0);
    assert!(ServerKey::from_bytes(&long).is_err());
}
