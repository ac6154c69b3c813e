//! Store key rotation against a real cluster: notes stored before still reveal, the old file is
//! refused and opens neither the re-sealed rows nor the notes stored after, and bad inputs are
//! refused with the database unchanged.

use std::path::Path;

use qsmm_shield::note::seal_note;

use super::*;
use crate::clock::SystemClock;
use crate::error::ConfigError;

/// A store on `url` with the key file at `key_file`, deciding with the database's clock.
fn open_with(url: &str, key_file: &Path) -> Result<PgStore> {
    PgStore::open(
        url,
        key_file,
        Arc::new(SystemClock::new()),
        Arc::new(Metrics::new()),
    )
}

/// Rotates on a thread of its own (the rotation blocks).
async fn rotate(url: &str, key_file: &Path, out: &Path) -> Result<rotation::Rotation> {
    let (url, key_file, out) = (url.to_owned(), key_file.to_owned(), out.to_owned());
    tokio::task::spawn_blocking(move || {
        rotation::rotate(&url, &key_file, &out, Arc::new(SystemClock::new()))
    })
    .await
    .unwrap()
}

/// Whether the key file at `path` opens the sealed row of note `id`.
async fn opens(store: &PgStore, path: &Path, id: Uuid) -> bool {
    let client = store.pool.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT key_epoch, sealed, expires_at, passphrase_required FROM paravoid_notes \
             WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let epoch = from_db_time(row.get(0)).unwrap();
    let sealed: &[u8] = row.get(1);
    let clear = row::clear_fields(from_db_time(row.get(2)).unwrap(), row.get(3), false);
    let copy = tempfile::NamedTempFile::new().unwrap();
    std::fs::copy(path, copy.path()).unwrap();
    let keys = EpochKeys::open(copy.path(), SystemClock::new().now_unix()).unwrap();
    keys.key(epoch).is_some_and(|key| {
        envelope::open(&key, &row::binding(id, epoch, false, Some(&clear)), sealed).is_ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_file_leaves_the_old_one_nothing_new() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("store.key");
    std::fs::write(&key_file, SECRET).unwrap();
    let store = open_with(&url, &key_file).unwrap();
    let (long_note, long_keys) = seal_note(b"stored for two hours").unwrap();
    let (short_note, short_keys) = seal_note(b"stored for a minute").unwrap();
    let (long, short) = (Uuid::new_v4(), Uuid::new_v4());
    store.insert(long, 7200, long_note).await.unwrap();
    store.insert(short, 60, short_note).await.unwrap();
    // The copy that leaks, taken before the rotation.
    let leaked = dir.path().join("leaked.key");
    std::fs::copy(&key_file, &leaked).unwrap();
    assert!(opens(&store, &leaked, long).await);

    // Refused while an instance is connected; nothing written.
    store.check().await.unwrap();
    let out = dir.path().join("store.key.new");
    let err = rotate(&url, &key_file, &out).await.unwrap_err();
    assert!(
        matches!(err, Error::Config(ConfigError::InstancesRunning { .. })),
        "{err:?}"
    );
    assert!(!out.exists());
    drop(store);

    // A wrong or truncated key file, or an existing target, is refused; nothing written.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, [0x11; 32]).unwrap();
    let err = rotate(&url, &wrong, &out).await.unwrap_err();
    assert!(
        matches!(err, Error::Config(ConfigError::StoreKeyMismatch)),
        "{err:?}"
    );
    assert!(!out.exists(), "a refused rotation leaves no file");
    let truncated = dir.path().join("truncated.key");
    std::fs::write(&truncated, &std::fs::read(&key_file).unwrap()[..39]).unwrap();
    let err = rotate(&url, &truncated, &out).await.unwrap_err();
    assert!(
        matches!(err, Error::Config(ConfigError::StoreKeyFile { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("truncated.key"), "{err}");
    let taken = dir.path().join("taken.key");
    std::fs::write(&taken, b"").unwrap();
    let err = rotate(&url, &key_file, &taken).await.unwrap_err();
    assert!(
        matches!(err, Error::Config(ConfigError::RotationTarget { .. })),
        "{err:?}"
    );

    let rotation = rotate(&url, &key_file, &out).await.unwrap();
    assert!(rotation.resealed >= 1, "{rotation:?}");
    assert_eq!(rotation.skipped, 0);
    assert_eq!(rotation.new_keys_from % epoch_keys::EPOCH_SECS, 0);
    assert!(rotation.new_keys_from > SystemClock::new().now_unix());
    // The new file holds the old chain (for the notes of this hour) and the new one.
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 80);
    // A second rotation waits until the first has taken effect.
    let again = dir.path().join("again.key");
    let err = rotate(&url, &out, &again).await.unwrap_err();
    assert!(
        matches!(err, Error::Config(ConfigError::RotationPending)),
        "{err:?}"
    );
    assert!(!again.exists());

    // The old file (and every copy of it) is refused by the database.
    for old in [&key_file, &leaked] {
        let err = open_with(&url, old).unwrap_err();
        assert!(
            matches!(err, Error::Config(ConfigError::StoreKeyMismatch)),
            "{err:?}"
        );
    }
    let store = open_with(&url, &out).unwrap();

    // The re-sealed note and a note stored after the rotation open under the new file only.
    let (after_note, after_keys) = seal_note(b"stored after").unwrap();
    let after = Uuid::new_v4();
    store.insert(after, 7200, after_note).await.unwrap();
    for id in [long, after] {
        assert!(opens(&store, &out, id).await);
        assert!(
            !opens(&store, &leaked, id).await,
            "the leaked copy opens {id}"
        );
    }

    // Every note stored before still reveals with its link.
    for (id, keys, message) in [
        (long, long_keys, &b"stored for two hours"[..]),
        (short, short_keys, b"stored for a minute"),
        (after, after_keys, b"stored after"),
    ] {
        let opened = reveal(&store, id, &Arc::new(keys), None).await.unwrap();
        assert_eq!(opened.as_slice(), message);
    }
}
