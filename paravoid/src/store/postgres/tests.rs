//! The PostgreSQL store against a real throwaway cluster: round trips, exactly-once reveals and
//! the exact try limit across several pools (as several instances would have), migrations under
//! concurrent start-up, the sweeper, and reconnecting after a server restart; what reaches the
//! database at rest in [`at_rest`].

use std::sync::Arc;

use qsmm_shield::note::{
    NoteOpenError, open_note_with_passphrase, seal_note, seal_note_with_passphrase,
};
use qsmm_test_support::pg_cluster::PgCluster;
use zeroize::Zeroizing;

use super::*;
use crate::clock::ManualClock;
use crate::store::postgres::epoch_keys::epoch_of;

mod at_rest;
mod files;

mod clock;
mod key_rotation;

/// Pools standing in for instances.
const INSTANCES: usize = 3;

/// Concurrent reveals of one note.
const RACERS: usize = 64;

/// The store key secret every store of these tests starts from.
const SECRET: [u8; 32] = [0x5a; 32];

/// One store on `url` whose clock reads `clock`, with a store key file of its own (removed once
/// opened: the store keeps its handle).
fn open(url: &str, clock: &Arc<ManualClock>) -> PgStore {
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), SECRET).unwrap();
    PgStore::open(url, key.path(), clock.clone(), Arc::new(Metrics::new())).unwrap()
}

fn stores(url: &str, clock: &Arc<ManualClock>, count: usize) -> Vec<PgStore> {
    (0..count).map(|_| open(url, clock)).collect()
}

/// A reveal as the handler runs it: reserve, check the passphrase outside any transaction,
/// commit the delete.
async fn reveal(
    store: &PgStore,
    id: Uuid,
    keys: &Arc<RecipientKeys>,
    passphrase: Option<&'static [u8]>,
) -> Result<Zeroizing<Vec<u8>>> {
    match store
        .begin_reveal(id, Some(keys.clone()), passphrase.is_some())
        .await?
    {
        RevealStep::Opened(message) => Ok(message),
        RevealStep::Reserved { note, attempt } => {
            let keys = keys.clone();
            let opened = tokio::task::spawn_blocking(move || {
                open_note_with_passphrase(&note, &keys, passphrase)
            })
            .await
            .unwrap();
            match opened {
                Ok(message) => {
                    store.finish_reveal(id, attempt, true).await?;
                    Ok(message)
                }
                Err(NoteOpenError::WrongPassphrase) => {
                    store.finish_reveal(id, attempt, false).await?;
                    Err(Error::Internal("a wrong passphrase was accepted"))
                }
                Err(_) => Err(Error::Internal("stored note does not open")),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_and_wrong_keys_never_burn() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let store = open(&cluster.url(), &clock);
    let (note, keys) = seal_note(b"hello").unwrap();
    let (_, other_keys) = seal_note(b"other").unwrap();
    let (keys, other_keys) = (Arc::new(keys), Arc::new(other_keys));
    let id = Uuid::new_v4();
    store.insert(id, 990, note.clone()).await.unwrap();
    assert_eq!(store.len().await.unwrap(), 1);

    let summary = store.peek(id).await.unwrap().unwrap();
    assert_eq!(summary.expires_at, 1000);
    assert!(!summary.passphrase_required);
    assert!(store.peek(Uuid::new_v4()).await.unwrap().is_none());

    for _ in 0..3 {
        let err = reveal(&store, id, &other_keys, None).await.unwrap_err();
        assert!(matches!(err, Error::WrongKeys), "{err:?}");
    }
    assert_eq!(store.len().await.unwrap(), 1);

    let message = reveal(&store, id, &keys, None).await.unwrap();
    assert_eq!(message.as_slice(), b"hello");
    assert_eq!(store.len().await.unwrap(), 0);
    let again = reveal(&store, id, &keys, None).await.unwrap_err();
    assert!(matches!(again, Error::NotFound), "{again:?}");
    assert!(store.peek(id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_notes_are_gone_for_peek_and_reveal() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let store = open(&cluster.url(), &clock);
    let (note, keys) = seal_note(b"late").unwrap();
    let keys = Arc::new(keys);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    store.insert(a, 90, note.clone()).await.unwrap();
    store
        .insert(b, 90, seal_note(b"x").unwrap().0)
        .await
        .unwrap();
    clock.set(99);
    assert!(store.peek(a).await.unwrap().is_some());
    clock.set(100);
    assert!(store.peek(a).await.unwrap().is_none());
    let err = reveal(&store, b, &keys, None).await.unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    assert_eq!(store.len().await.unwrap(), 0, "both deleted on sight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reveals_across_instances_succeed_exactly_once() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let stores = stores(&cluster.url(), &clock, INSTANCES);
    for round in 0..8 {
        let (note, keys) = seal_note(format!("round {round}").as_bytes()).unwrap();
        let keys = Arc::new(keys);
        let id = Uuid::new_v4();
        stores[0].insert(id, 990, note.clone()).await.unwrap();
        let tasks: Vec<_> = (0..RACERS)
            .map(|i| {
                let store = stores[i % INSTANCES].clone();
                let keys = keys.clone();
                tokio::spawn(async move { reveal(&store, id, &keys, None).await })
            })
            .collect();
        let mut opened = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(message) => opened.push(message),
                Err(Error::NotFound) => {}
                Err(other) => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert_eq!(opened.len(), 1, "round {round}");
        assert_eq!(opened[0].as_slice(), format!("round {round}").as_bytes());
    }
    assert_eq!(stores[1].len().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_try_limit_is_exact_across_instances() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let stores = stores(&cluster.url(), &clock, INSTANCES);
    let (note, keys) = seal_note_with_passphrase(b"guarded", b"right").unwrap();
    let keys = Arc::new(keys);
    let id = Uuid::new_v4();
    stores[0].insert(id, 990, note.clone()).await.unwrap();
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = stores[i % INSTANCES].clone();
            let keys = keys.clone();
            tokio::spawn(async move { reveal(&store, id, &keys, Some(b"wrong")).await })
        })
        .collect();
    let mut attempts_left = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Err(Error::WrongPassphrase {
                attempts_left: left,
            }) => attempts_left.push(left),
            Err(Error::NotFound) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    attempts_left.sort_unstable();
    assert_eq!(
        attempts_left,
        [0, 1, 2, 3, 4],
        "exactly five guesses counted"
    );
    assert_eq!(stores[2].len().await.unwrap(), 0, "destroyed at the limit");
    let err = reveal(&stores[1], id, &keys, Some(b"right"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_guesses_then_the_right_passphrase() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let store = open(&cluster.url(), &clock);
    let (note, keys) = seal_note_with_passphrase(b"guarded", b"right").unwrap();
    let keys = Arc::new(keys);
    let id = Uuid::new_v4();
    store.insert(id, 990, note.clone()).await.unwrap();
    let missing = reveal(&store, id, &keys, None).await.unwrap_err();
    assert!(matches!(missing, Error::PassphraseRequired), "{missing:?}");
    for expected_left in [4, 3] {
        let err = reveal(&store, id, &keys, Some(b"wrong")).await.unwrap_err();
        assert!(
            matches!(err, Error::WrongPassphrase { attempts_left } if attempts_left == expected_left),
            "{err:?}"
        );
    }
    let message = reveal(&store, id, &keys, Some(b"right")).await.unwrap();
    assert_eq!(message.as_slice(), b"guarded");
    assert_eq!(store.len().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_when_instances_start_together() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.create_database("fresh");
    let clock = Arc::new(ManualClock::new(10));
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            let clock = clock.clone();
            std::thread::spawn(move || {
                let key = tempfile::NamedTempFile::new().unwrap();
                std::fs::write(key.path(), SECRET).unwrap();
                PgStore::open(&url, key.path(), clock, Arc::new(Metrics::new()))
            })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.join().unwrap().unwrap());
    }
    let client = stores[0].pool.get().await.unwrap();
    let rows = client
        .query(
            "SELECT version FROM paravoid_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
    let expected: Vec<i32> = schema::MIGRATIONS
        .iter()
        .map(|(version, _, _)| *version)
        .collect();
    assert_eq!(versions, expected);
    // Connecting again changes nothing.
    open(&url, &clock);
    let count: i64 = client
        .query_one("SELECT count(*) FROM paravoid_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, i64::try_from(schema::MIGRATIONS.len()).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sweepers_delete_each_expired_note_once() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let stores = stores(&cluster.url(), &clock, INSTANCES);
    let (note, _keys) = seal_note(b"x").unwrap();
    let bytes = note.to_bytes();
    let expired = usize::try_from(SWEEP_BATCH).unwrap() * 2 + 17;
    let live = 40;
    // Bulk insert straight into the table: the sweeper is what is under test.
    let client = stores[0].pool.get().await.unwrap();
    for (count, expires_at) in [(expired, 100i64), (live, 200)] {
        client
            .execute(
                "INSERT INTO paravoid_notes \
                   (id, expires_at, passphrase_required, end_to_end, key_epoch, sealed) \
                 SELECT gen_random_uuid(), $1, false, false, 0, $2 FROM generate_series(1, $3)",
                &[&expires_at, &bytes, &i32::try_from(count).unwrap()],
            )
            .await
            .unwrap();
    }
    clock.set(150);
    let sweeps: Vec<_> = stores
        .iter()
        .map(|store| {
            let store = store.clone();
            tokio::spawn(async move { store.sweep().await })
        })
        .collect();
    let mut total = 0;
    for sweep in sweeps {
        total += sweep.await.unwrap().unwrap();
    }
    assert_eq!(
        total,
        u64::try_from(expired).unwrap(),
        "no row counted twice"
    );
    assert_eq!(stores[0].len().await.unwrap(), u64::try_from(live).unwrap());
    assert_eq!(stores[1].sweep().await.unwrap(), 0);
    clock.set(200);
    assert_eq!(
        stores[2].sweep().await.unwrap(),
        u64::try_from(live).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_while_down_and_reconnects_after_a_restart() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let store = open(&cluster.url(), &clock);
    let (note, keys) = seal_note(b"survives").unwrap();
    let keys = Arc::new(keys);
    let id = Uuid::new_v4();
    store.insert(id, 990, note.clone()).await.unwrap();
    store.check().await.unwrap();

    cluster.stop_server();
    for _ in 0..3 {
        let err = store.check().await.unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
        assert_eq!(err.status_code().as_u16(), 503);
        let err = store.peek(id).await.unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    }

    cluster.start_server();
    store.check().await.unwrap();
    assert!(store.peek(id).await.unwrap().is_some());
    let message = reveal(&store, id, &keys, None).await.unwrap();
    assert_eq!(message.as_slice(), b"survives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_connection_string_is_a_config_error_that_hides_it() {
    let err = PgStore::open(
        "postgres://user:s3cret@host:notaport/db",
        Path::new("unused"),
        Arc::new(ManualClock::new(10)),
        Arc::new(Metrics::new()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(!err.to_string().contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_claims_across_instances_hand_out_once_and_count_tries() {
    use sha2::Digest as _;
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(10));
    let stores = stores(&cluster.url(), &clock, INSTANCES);
    let (note, _keys) = seal_note(b"sealed in a browser").unwrap();
    let hashes = ClaimHashes {
        claim: sha2::Sha256::digest([1u8; 32]).into(),
        passphrase: Some(sha2::Sha256::digest([2u8; 32]).into()),
    };
    let tokens = |passphrase: u8| Tokens {
        claim: [1; 32],
        passphrase: Some([passphrase; 32]),
    };

    // Right tokens: exactly one of 64 claims spread over three instances gets the note.
    let id = Uuid::new_v4();
    stores[0]
        .insert_end_to_end(id, 990, note.clone(), hashes.clone())
        .await
        .unwrap();
    assert!(stores[1].peek(id).await.unwrap().unwrap().end_to_end);
    let summary = stores[2].peek_end_to_end(id).await.unwrap().unwrap();
    assert_eq!(summary.expires_at, 1000);
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = stores[i % INSTANCES].clone();
            let tokens = tokens(2);
            tokio::spawn(async move { store.claim(id, tokens).await })
        })
        .collect();
    let mut claimed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(returned) => {
                assert_eq!(returned, note);
                claimed += 1;
            }
            Err(Error::NotFound) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(claimed, 1);

    // Wrong passphrase tokens: exactly five counted, then the note is gone.
    let id = Uuid::new_v4();
    stores[0]
        .insert_end_to_end(id, 990, note.clone(), hashes.clone())
        .await
        .unwrap();
    let wrong_key = Tokens {
        claim: [9; 32],
        passphrase: Some([2; 32]),
    };
    assert!(matches!(
        stores[1].claim(id, wrong_key).await,
        Err(Error::WrongKeys)
    ));
    // Neither the published reveal nor its peek sees an end-to-end note.
    assert!(matches!(
        stores[1].begin_reveal(id, None, false).await,
        Err(Error::NotFound)
    ));
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = stores[i % INSTANCES].clone();
            let tokens = tokens(3);
            tokio::spawn(async move { store.claim(id, tokens).await })
        })
        .collect();
    let mut left = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Err(Error::WrongPassphrase { attempts_left }) => left.push(attempts_left),
            Err(Error::NotFound) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    left.sort_unstable();
    assert_eq!(left, [0, 1, 2, 3, 4]);
    assert!(matches!(
        stores[2].claim(id, tokens(2)).await,
        Err(Error::NotFound)
    ));
    assert_eq!(stores[0].len().await.unwrap(), 0);
}

/// Whoever can write to the database cannot give a note its tries back, move its expiry, or
/// swap rows: the row fails its authentication, and the service destroys it instead of acting
/// on it.
/// `--max-notes` on PostgreSQL: a create beyond the cap is refused and stores nothing; a note
/// read makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_refuses_creates() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.create_database("capped");
    let clock = Arc::new(ManualClock::new(10));
    let store = open(&url, &clock).with_max_notes(2);
    let (note, keys) = seal_note(b"x").unwrap();
    let keys = Arc::new(keys);
    let first = Uuid::new_v4();
    store.insert(first, 990, note.clone()).await.unwrap();
    store
        .insert(Uuid::new_v4(), 990, note.clone())
        .await
        .unwrap();
    let err = store
        .insert(Uuid::new_v4(), 990, note.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StoreFull), "{err:?}");
    assert_eq!(store.len().await.unwrap(), 2);
    reveal(&store, first, &keys, None).await.unwrap();
    store.insert(Uuid::new_v4(), 990, note).await.unwrap();
    assert_eq!(store.len().await.unwrap(), 2);
}
