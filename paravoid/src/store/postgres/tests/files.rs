//! Files on PostgreSQL at the store's level: chunk rows of bounded size, the hand-out inside the
//! claim's transaction, nothing left after a download, and file rows edited in the database
//! refused and destroyed.

use sha2::{Digest as _, Sha256};

use super::*;
use crate::store::files::FileStore as _;
use crate::store::{ClaimHashes, Tokens};

/// Uploads `chunks` sealed chunks of `len` bytes as one file; returns its id.
async fn upload(store: &PgStore, chunks: u32, len: usize) -> Uuid {
    let id = Uuid::new_v4();
    store.file_begin(id, 3600).await.unwrap();
    let rows = (0..chunks)
        .map(|sequence| (sequence, vec![7u8; len]))
        .collect();
    store.file_append(id, rows).await.unwrap();
    store
        .file_finish(id, u64::from(chunks) * len as u64)
        .await
        .unwrap();
    id
}

/// A note with `files`, claimed; returns the note id and the download token.
async fn claimed(store: &PgStore, files: Vec<Uuid>) -> (Uuid, [u8; 32], Vec<u64>) {
    let (note, _keys) = seal_note(b"see attached").unwrap();
    let hashes = ClaimHashes {
        claim: Sha256::digest([1u8; 32]).into(),
        passphrase: None,
    };
    let id = Uuid::new_v4();
    store
        .insert_with_files(id, 600, note, hashes, files, None)
        .await
        .unwrap();
    let token = [9u8; 32];
    let tokens = Tokens {
        claim: [1u8; 32],
        passphrase: None,
    };
    let (_, sizes) = store
        .claim_with_files(id, tokens, Sha256::digest(token).into(), 3600)
        .await
        .unwrap();
    (id, token, sizes)
}

async fn count(client: &deadpool_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_rows_are_bounded_handed_out_by_the_claim_and_gone_after_download() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let store = open(&cluster.url(), &clock);
    let client = store.pool.get().await.unwrap();
    let file = upload(&store, 3, 65_552).await;
    assert_eq!(
        count(
            &client,
            "SELECT max(octet_length(sealed))::bigint FROM paravoid_file_chunks"
        )
        .await,
        65_552
    );
    let (note, token, sizes) = claimed(&store, vec![file]).await;
    assert_eq!(sizes, [3 * 65_552]);
    // The claim deleted the note and handed the file out, in one commit.
    assert_eq!(
        count(&client, "SELECT count(*) FROM paravoid_notes").await,
        0
    );
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM paravoid_files WHERE state = 3"
        )
        .await,
        1
    );

    let download = store
        .file_take(note, 0, Sha256::digest(token).into())
        .await
        .unwrap();
    assert_eq!(download.sealed_size, 3 * 65_552);
    // Deleted before the first byte is read; the body still streams every byte.
    assert_eq!(
        count(&client, "SELECT count(*) FROM paravoid_files").await,
        0
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM paravoid_file_chunks").await,
        0
    );
    let body = http_body_util::BodyExt::collect(download.body)
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), 3 * 65_552);
    assert!(body.iter().all(|&byte| byte == 7));
    let again = store.file_take(note, 0, Sha256::digest(token).into()).await;
    assert!(matches!(again, Err(Error::NotFound)), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_rows_edited_in_the_database_are_refused_and_destroyed() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let store = open(&cluster.url(), &clock);
    let client = store.pool.get().await.unwrap();
    let theirs = [0x66u8; 32];
    let their_hash: [u8; 32] = Sha256::digest(theirs).into();
    let edits = [
        // The download token replaced by one the editor holds.
        "UPDATE paravoid_files SET token_hash = $2 WHERE id = $1",
        // A claimed file's expiry moved later (same epoch: only the MAC can tell).
        "UPDATE paravoid_files SET expires_at = expires_at + 1, token_hash = $2 WHERE id = $1",
    ];
    for edit in edits {
        let file = upload(&store, 1, 100).await;
        let (note, _token, _) = claimed(&store, vec![file]).await;
        client
            .execute(edit, &[&file, &their_hash.as_slice()])
            .await
            .unwrap();
        let taken = store.file_take(note, 0, their_hash).await;
        assert!(
            matches!(taken, Err(Error::CorruptRecord)),
            "{edit}: {taken:?}"
        );
        // Destroyed once the refusing transaction has ended.
        let mut left = 1;
        for _ in 0..100 {
            left = count(&client, "SELECT count(*) FROM paravoid_files").await;
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(left, 0, "{edit}");
    }

    // An upload's state set to complete by hand cannot be attached.
    let file = Uuid::new_v4();
    store.file_begin(file, 3600).await.unwrap();
    client
        .execute(
            "UPDATE paravoid_files SET state = 1 WHERE id = $1",
            &[&file],
        )
        .await
        .unwrap();
    let (note, _keys) = seal_note(b"x").unwrap();
    let hashes = ClaimHashes {
        claim: [0; 32],
        passphrase: None,
    };
    let attached = store
        .insert_with_files(Uuid::new_v4(), 600, note, hashes, vec![file], None)
        .await;
    assert!(
        matches!(attached, Err(Error::CorruptRecord)),
        "{attached:?}"
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM paravoid_notes").await,
        0
    );
}

/// The receipt is stored in the note's insert transaction: a receipt that cannot be stored
/// (its key taken) leaves neither the note nor its files' attachment behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_whose_receipt_cannot_be_stored_is_not_stored_either() {
    use crate::store::receipts::{NewReceipt, ReceiptStatus, ReceiptStore as _};

    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let store = open(&cluster.url(), &clock);
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
    let file = upload(&store, 1, 32).await;
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
}
