//! Unit tests of the redb store and its record layout.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use qsmm_shield::note::{PassphraseParams, StoredNote, seal_note};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::key_slots::SlotIndex;
use super::layout::RecordHeader;
use super::{RedbStore, SWEEP_BATCH};
use crate::metrics::Metrics;
use crate::store::envelope::{KEY_LEN, SEAL_OVERHEAD};
use crate::store::record::{ClaimHashes, TOKEN_HASH_LEN, Tokens};
use crate::{Error, MAX_PASSPHRASE_ATTEMPTS, ManualClock};

fn insert(store: &RedbStore, id: Uuid, ttl_secs: u64, note: &StoredNote) -> crate::Result<u64> {
    let plaintext = Zeroizing::new(note.to_bytes());
    store.insert_sealed(id, ttl_secs, plaintext, note.needs_passphrase(), false)
}

fn insert_e2e(
    store: &RedbStore,
    id: Uuid,
    ttl_secs: u64,
    note: &StoredNote,
    hashes: &ClaimHashes,
) -> crate::Result<u64> {
    store.insert_sealed(
        id,
        ttl_secs,
        hashes.with_note(note),
        note.needs_passphrase(),
        true,
    )
}

fn header(expires_at: u64) -> RecordHeader {
    RecordHeader {
        expires_at,
        attempts: 3,
        passphrase_required: true,
        end_to_end: false,
        slot: SlotIndex(0x1122),
    }
}

fn open_store(dir: &Path, now: u64) -> (RedbStore, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(now));
    let store = RedbStore::open(
        &dir.join("db.redb"),
        clock.clone(),
        Arc::new(Metrics::new()),
    )
    .unwrap();
    (store, clock)
}

#[test]
fn header_round_trip_and_layout() {
    let h = header(0x0102_0304_0506_0708);
    let body = [7u8; SEAL_OVERHEAD + 1];
    let bytes = h.join(&body);
    assert_eq!(bytes[0], 2);
    assert_eq!(&bytes[1..9], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(bytes[9], 3);
    assert_eq!(bytes[10], 1);
    assert_eq!(&bytes[11..19], &[0x22, 0x11, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&bytes[19..], &body);
    let (decoded, rest) = RecordHeader::split(&bytes).unwrap();
    assert_eq!(decoded, h);
    assert_eq!(rest, &body);
}

#[test]
fn truncated_or_unknown_records_are_errors() {
    let bytes = header(1).join(&[0; SEAL_OVERHEAD]);
    for len in 0..bytes.len() {
        assert!(RecordHeader::split(&bytes[..len]).is_err(), "len {len}");
    }
    let mut other_version = bytes.clone();
    other_version[0] = 4;
    assert!(RecordHeader::split(&other_version).is_err());
    let mut unknown_flag = bytes;
    unknown_flag[10] = 2;
    assert!(RecordHeader::split(&unknown_flag).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(0u8..=255, 0..300)) {
        let _ignored = RecordHeader::split(&bytes);
    }
}

#[test]
fn a_stored_note_is_sealed_and_shredded_on_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = open_store(dir.path(), 1000);
    let (note, _keys) = seal_note(b"hello").unwrap();
    let id = Uuid::new_v4();
    assert_eq!(insert(&store, id, 10, &note).unwrap(), 1010);
    // The note's bytes are not in the database file in the clear.
    drop(store);
    let db = std::fs::read(dir.path().join("db.redb")).unwrap();
    let ct = &note.ciphertext;
    assert!(!db.windows(ct.len()).any(|window| window == ct.as_slice()));
    let keys = std::fs::read(dir.path().join("db.redb.keys")).unwrap();
    assert_eq!(keys.len(), KEY_LEN);
    assert!(keys.iter().any(|&byte| byte != 0));
    drop(clock);
    let (store, _) = open_store(dir.path(), 1000);
    assert_eq!(store.sweep_blocking().unwrap(), 0);
    let summary = store.peek_blocking(id).unwrap().unwrap();
    assert_eq!(summary.expires_at, 1010);
    drop(store);
    let (store, _) = open_store(dir.path(), 1010);
    assert_eq!(store.sweep_blocking().unwrap(), 1);
    assert_eq!(store.len().unwrap(), 0);
    let keys = std::fs::read(dir.path().join("db.redb.keys")).unwrap();
    assert!(keys.iter().all(|&byte| byte == 0));
}

/// An end-to-end peek reads without the writer: it answers (with the public Argon2id
/// parameters) while a writer job is stuck, and after the note is claimed it reports absent.
#[test]
fn an_end_to_end_peek_does_not_wait_for_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _clock) = open_store(dir.path(), 1000);
    let params = PassphraseParams::with_costs(128, 1, 1).unwrap();
    let (note, _keys) =
        qsmm_shield::note::seal_note_with_passphrase_params(b"x", b"pw", params).unwrap();
    let hashes = ClaimHashes {
        claim: Sha256::digest([1u8; TOKEN_HASH_LEN]).into(),
        passphrase: Some(Sha256::digest([2u8; TOKEN_HASH_LEN]).into()),
    };
    let id = Uuid::new_v4();
    insert_e2e(&store, id, 10, &note, &hashes).unwrap();

    // Hold the writer inside a job until the peek has answered.
    let (entered, writer_busy) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let writer = store.clone();
    let blocker = std::thread::spawn(move || {
        writer.writer.run(move |_batch| {
            entered.send(()).unwrap();
            released.recv().unwrap();
            Ok(())
        })
    });
    writer_busy.recv().unwrap();
    let (answer, answered) = std::sync::mpsc::channel();
    let peeker = store.clone();
    std::thread::spawn(move || answer.send(peeker.peek_end_to_end_blocking(id)).unwrap());
    let peeked = answered.recv_timeout(Duration::from_secs(60));
    release.send(()).unwrap();
    blocker.join().unwrap().unwrap();
    let summary = peeked
        .expect("the peek waited for the writer")
        .unwrap()
        .unwrap();
    assert_eq!(summary.expires_at, 1010);
    assert_eq!(summary.passphrase, note.passphrase);

    store
        .claim_blocking(
            id,
            Tokens {
                claim: [1; TOKEN_HASH_LEN],
                passphrase: Some([2; TOKEN_HASH_LEN]),
            },
        )
        .unwrap();
    assert!(store.peek_end_to_end_blocking(id).unwrap().is_none());
}

#[test]
fn a_claim_checks_tokens_counts_tries_and_shreds() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _clock) = open_store(dir.path(), 1000);
    let keys_file = || std::fs::read(dir.path().join("db.redb.keys")).unwrap();
    let (note, _keys) = seal_note(b"hello").unwrap();
    let tokens = |claim: u8, passphrase: Option<u8>| Tokens {
        claim: [claim; TOKEN_HASH_LEN],
        passphrase: passphrase.map(|byte| [byte; TOKEN_HASH_LEN]),
    };
    let hashes = ClaimHashes {
        claim: Sha256::digest([1u8; TOKEN_HASH_LEN]).into(),
        passphrase: Some(Sha256::digest([2u8; TOKEN_HASH_LEN]).into()),
    };
    let id = Uuid::new_v4();
    insert_e2e(&store, id, 10, &note, &hashes).unwrap();
    // The published API does not see it.
    assert!(matches!(
        store.begin_reveal_blocking(id, None, false),
        Err(Error::NotFound)
    ));
    assert!(store.peek_end_to_end_blocking(id).unwrap().is_some());
    assert!(matches!(
        store.claim_blocking(id, tokens(9, Some(2))),
        Err(Error::WrongKeys)
    ));
    assert!(matches!(
        store.claim_blocking(id, tokens(1, None)),
        Err(Error::PassphraseRequired)
    ));
    for left in (0..MAX_PASSPHRASE_ATTEMPTS).rev() {
        assert!(matches!(
            store.claim_blocking(id, tokens(1, Some(3))),
            Err(Error::WrongPassphrase { attempts_left }) if attempts_left == left
        ));
    }
    assert!(matches!(
        store.claim_blocking(id, tokens(1, Some(2))),
        Err(Error::NotFound)
    ));
    assert!(keys_file().iter().all(|&byte| byte == 0));

    let id = Uuid::new_v4();
    insert_e2e(&store, id, 10, &note, &hashes).unwrap();
    assert!(store.peek_blocking(id).unwrap().unwrap().end_to_end);
    assert_eq!(store.claim_blocking(id, tokens(1, Some(2))).unwrap(), note);
    assert!(keys_file().iter().all(|&byte| byte == 0));
    assert_eq!(store.len().unwrap(), 0);
}

#[test]
fn sweep_removes_only_expired_notes_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = open_store(dir.path(), 0);
    let count = SWEEP_BATCH + 10;
    let (note, _keys) = seal_note(b"hello").unwrap();
    for i in 0..count {
        let ttl = if i % 2 == 0 { 100 } else { 200 };
        insert(&store, Uuid::new_v4(), ttl, &note).unwrap();
    }
    assert_eq!(store.len().unwrap(), count as u64);
    clock.set(99);
    assert_eq!(store.sweep_blocking().unwrap(), 0);
    clock.set(100);
    assert_eq!(store.sweep_blocking().unwrap(), count.div_ceil(2) as u64);
    assert_eq!(store.len().unwrap(), (count / 2) as u64);
    clock.set(1000);
    assert_eq!(store.sweep_blocking().unwrap(), (count / 2) as u64);
    assert_eq!(store.len().unwrap(), 0);
}

/// A complete upload of one small chunk, ready to attach.
async fn one_upload(store: &RedbStore) -> Uuid {
    use crate::store::files::FileStore as _;
    let file = Uuid::new_v4();
    store.file_begin(file, 3600).await.unwrap();
    store
        .file_append(file, vec![(0, vec![7u8; 32])])
        .await
        .unwrap();
    store.file_finish(file, 32).await.unwrap();
    file
}

/// The receipt is stored in the note's insert transaction: a receipt that cannot be stored
/// (its key taken) leaves neither the note nor its files' attachment behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_whose_receipt_cannot_be_stored_is_not_stored_either() {
    use crate::store::NoteStore as _;
    use crate::store::files::FileStore as _;
    use crate::store::receipts::{NewReceipt, ReceiptStatus, ReceiptStore as _};

    let dir = tempfile::tempdir().unwrap();
    let (store, _clock) = open_store(dir.path(), 1_000_000);
    let hashes = || ClaimHashes {
        claim: Sha256::digest([1u8; 32]).into(),
        passphrase: None,
    };
    let receipt = || NewReceipt {
        key: [5u8; 32],
        webhook: None,
    };
    let note = || seal_note(b"with a receipt").unwrap().0;
    let first = Uuid::new_v4();
    store
        .insert_with_files(first, 600, note(), hashes(), Vec::new(), Some(receipt()))
        .await
        .unwrap();
    let file = one_upload(&store).await;
    let second = Uuid::new_v4();
    let refused = store
        .insert_with_files(second, 600, note(), hashes(), vec![file], Some(receipt()))
        .await;
    assert!(matches!(refused, Err(Error::IdCollision)), "{refused:?}");
    assert!(store.peek_end_to_end(second).await.unwrap().is_none());
    // The upload is still unattached: another note takes it.
    store
        .insert_with_files(Uuid::new_v4(), 600, note(), hashes(), vec![file], None)
        .await
        .unwrap();
    let status = store.receipt_status([5u8; 32]).await.unwrap().unwrap();
    assert_eq!(status.status, ReceiptStatus::Pending);
    // The first note still opens, and its receipt follows it.
    let tokens = Tokens {
        claim: [1u8; 32],
        passphrase: None,
    };
    store.claim(first, tokens).await.unwrap();
    let status = store.receipt_status([5u8; 32]).await.unwrap().unwrap();
    assert_eq!(status.status, ReceiptStatus::Revealed);
}
