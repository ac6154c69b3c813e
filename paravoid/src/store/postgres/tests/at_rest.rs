//! What reaches PostgreSQL at rest: no note in the clear (in the data files or a dump), copies
//! that die with their key epoch, another instance's store key refused, and rows edited in the
//! database refused and destroyed.

use super::*;

/// Where `needle` occurs in the files under `dir` (the paths, for the failure message).
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|window| window == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

/// The `sealed` column of note `id` in a `pg_dump` of the notes, with its key epoch.
fn dumped_row(cluster: &PgCluster, database: &str, id: Uuid) -> (u64, bool, Vec<u8>) {
    let output = cluster.pg_output(
        "pg_dump",
        &[
            "--data-only",
            "--table=paravoid_notes",
            "--username=postgres",
            "--host",
            cluster.path("").to_str().unwrap(),
            database,
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let dump = String::from_utf8(output.stdout).unwrap();
    let line = dump
        .lines()
        .find(|line| line.starts_with(&id.hyphenated().to_string()))
        .expect("the note is in the dump");
    // COPY columns: id, expires_at, failed_attempts, passphrase_required, end_to_end,
    // key_epoch, sealed (bytea as \\x and hex), row_mac.
    let fields: Vec<&str> = line.split('\t').collect();
    let sealed = hex::decode(fields[6].trim_start_matches("\\\\x")).unwrap();
    (fields[5].parse().unwrap(), fields[4] == "t", sealed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_never_reach_postgres_in_the_clear_and_copies_die_with_their_epoch() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.create_database("shred");
    let now = epoch_keys::ORIGIN + 100 * epoch_keys::EPOCH_SECS;
    let clock = Arc::new(ManualClock::new(now));
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("store.key");
    std::fs::write(&key_file, SECRET).unwrap();
    let store = PgStore::open(&url, &key_file, clock.clone(), Arc::new(Metrics::new())).unwrap();
    let (note, keys) = seal_note(b"shred me").unwrap();
    let keys = Arc::new(keys);
    let id = Uuid::new_v4();
    let expires_at = store.insert(id, 600, note.clone()).await.unwrap();
    let epoch = epoch_of(expires_at);

    // Nothing of the stored note is in any file of the cluster: heap, TOAST, WAL.
    let client = store.pool.get().await.unwrap();
    client.batch_execute("CHECKPOINT").await.unwrap();
    for needle in [&note.ek[..64], &note.ct_kem[..64], &note.ciphertext[..]] {
        let found = files_containing(&cluster.data_dir(), needle);
        assert!(found.is_empty(), "note bytes in {found:?}");
    }

    // A dump taken now (a backup) holds the sealed row; with today's key file it opens.
    let (dumped_epoch, end_to_end, sealed) = dumped_row(&cluster, "shred", id);
    assert_eq!((dumped_epoch, end_to_end), (epoch, false));
    let clear = row::clear_fields(expires_at, false, false);
    let from_dump = |store: &PgStore| {
        store.epoch_key(epoch).unwrap().map(|key| {
            let binding = row::binding(id, epoch, false, Some(&clear));
            let plain = envelope::open(&key, &binding, &sealed).unwrap();
            StoredNote::from_bytes(&plain).unwrap()
        })
    };
    assert_eq!(from_dump(&store), Some(note.clone()));

    // The reveal deletes the row; the dump still opens until the epoch ends (the documented
    // limit: shredding on PostgreSQL happens at the end of the expiry epoch).
    reveal(&store, id, &keys, None).await.unwrap();
    assert_eq!(from_dump(&store), Some(note.clone()));
    let chain_before = std::fs::read(&key_file).unwrap();

    // The epoch ends (plus the grace period): the sweeper advances the key file, and neither
    // this instance nor one started from the key file now opens the dump.
    clock.set((epoch + 1) * epoch_keys::EPOCH_SECS + epoch_keys::ORIGIN + epoch_keys::GRACE_SECS);
    store.sweep().await.unwrap();
    assert_eq!(from_dump(&store), None);
    let chain_after = std::fs::read(&key_file).unwrap();
    assert_ne!(chain_before[8..], chain_after[8..]);
    let restarted =
        PgStore::open(&url, &key_file, clock.clone(), Arc::new(Metrics::new())).unwrap();
    assert_eq!(from_dump(&restarted), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_another_store_key_is_refused() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.create_database("keys");
    let clock = Arc::new(ManualClock::new(10));
    let _first = open(&url, &clock);
    let other = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other.path(), [0xa5; 32]).unwrap();
    let err = PgStore::open(&url, other.path(), clock, Arc::new(Metrics::new())).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_edited_in_the_database_are_refused_and_destroyed() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let store = open(&cluster.url(), &clock);
    let client = store.pool.get().await.unwrap();
    let (note, keys) = seal_note_with_passphrase(b"guarded", b"right").unwrap();
    let keys = Arc::new(keys);
    let exists = |id: Uuid| {
        let client = &client;
        async move {
            client
                .query_opt("SELECT 1 FROM paravoid_notes WHERE id = $1", &[&id])
                .await
                .unwrap()
                .is_some()
        }
    };
    let refused = |result: Result<Zeroizing<Vec<u8>>>| {
        assert!(matches!(result, Err(Error::CorruptRecord)), "{result:?}");
    };

    // A counter set back after a wrong guess.
    let id = Uuid::new_v4();
    store.insert(id, 990, note.clone()).await.unwrap();
    let err = reveal(&store, id, &keys, Some(b"wrong")).await.unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { attempts_left: 4 }));
    client
        .execute(
            "UPDATE paravoid_notes SET failed_attempts = 0 WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    refused(reveal(&store, id, &keys, Some(b"right")).await);
    assert!(!exists(id).await, "destroyed");

    // An expiry moved later (within the same epoch, so only the binding can notice).
    let id = Uuid::new_v4();
    store.insert(id, 990, note.clone()).await.unwrap();
    client
        .execute(
            "UPDATE paravoid_notes SET expires_at = expires_at + 1 WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    refused(reveal(&store, id, &keys, Some(b"right")).await);
    assert!(!exists(id).await, "destroyed");

    // Two rows' counters and MACs swapped: a used-up try state moved onto a fresh note and back.
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    store.insert(a, 990, note.clone()).await.unwrap();
    store.insert(b, 990, note.clone()).await.unwrap();
    let err = reveal(&store, a, &keys, Some(b"wrong")).await.unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }));
    client
        .execute(
            "UPDATE paravoid_notes AS n SET failed_attempts = o.failed_attempts, \
               row_mac = o.row_mac \
             FROM paravoid_notes AS o WHERE n.id IN ($1, $2) AND o.id IN ($1, $2) \
               AND o.id <> n.id",
            &[&a, &b],
        )
        .await
        .unwrap();
    refused(reveal(&store, a, &keys, Some(b"right")).await);
    refused(reveal(&store, b, &keys, Some(b"right")).await);

    // The MAC removed, to pass as a row from before authentication: its sealed bytes do not
    // open with the old binding.
    let id = Uuid::new_v4();
    store.insert(id, 990, note.clone()).await.unwrap();
    client
        .execute(
            "UPDATE paravoid_notes SET row_mac = NULL WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    refused(reveal(&store, id, &keys, Some(b"right")).await);

    // An untouched row still counts and opens.
    let id = Uuid::new_v4();
    store.insert(id, 990, note).await.unwrap();
    let err = reveal(&store, id, &keys, Some(b"wrong")).await.unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { attempts_left: 4 }));
    assert_eq!(
        reveal(&store, id, &keys, Some(b"right"))
            .await
            .unwrap()
            .as_slice(),
        b"guarded"
    );
    assert_eq!(store.len().await.unwrap(), 0);
}
