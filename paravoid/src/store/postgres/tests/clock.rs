//! Instances whose clocks are ten minutes apart share one database: the database's clock
//! decides expiry, the sweeper and the hour keys, so they agree on every note.

use std::time::Duration;

use qsmm_shield::note::seal_note;

use super::*;
use crate::clock::SystemClock;

/// How far the instances' clocks are off, in seconds (ten minutes each way).
const SKEW: i64 = 600;

/// An instance's own clock, `0` seconds off the machine's (not moved by hand).
#[derive(Debug)]
struct Skewed(i64);

impl Clock for Skewed {
    fn now_unix(&self) -> u64 {
        SystemClock::new().now_unix().saturating_add_signed(self.0)
    }
}

/// A store on `url` whose instance clock is `skew` seconds off.
fn skewed(url: &str, skew: i64) -> PgStore {
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), SECRET).unwrap();
    PgStore::open(
        url,
        key.path(),
        Arc::new(Skewed(skew)),
        Arc::new(Metrics::new()),
    )
    .unwrap()
}

fn key_epoch(store: &PgStore) -> u64 {
    store.keys.lock().unwrap().epoch()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_with_skewed_clocks_follow_the_database_clock() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    // The cluster runs on this machine: its clock is the machine's.
    let machine = || SystemClock::new().now_unix();
    let started = machine();
    let url = cluster.url();
    let fast = skewed(&url, SKEW);
    let slow = skewed(&url, -SKEW);

    // Created on the slow instance for five minutes: the expiry is the database's now + 300,
    // not the slow clock's (which would be five minutes ago).
    let (note, keys) = seal_note(b"live").unwrap();
    let keys = Arc::new(keys);
    let live = Uuid::new_v4();
    let before = machine();
    let expires_at = slow.insert(live, 300, note).await.unwrap();
    assert!(
        (before + 300..=machine() + 300).contains(&expires_at),
        "{expires_at}"
    );

    // The fast instance (ten minutes ahead) neither deletes it on sight nor sweeps it.
    assert!(fast.peek(live).await.unwrap().is_some());
    assert_eq!(fast.sweep().await.unwrap(), 0);
    assert_eq!(slow.sweep().await.unwrap(), 0);
    assert_eq!(fast.len().await.unwrap(), 1);

    // Both advanced their key files to the database's hour, whatever their own clocks say
    // (ten minutes either way would be another hour for a sixth of every hour).
    let hours =
        epoch_of(started - epoch_keys::GRACE_SECS)..=epoch_of(machine() - epoch_keys::GRACE_SECS);
    for store in [&fast, &slow] {
        assert!(hours.contains(&key_epoch(store)), "{hours:?}");
    }

    // Same TTL on both: the same expiry (to the second the statements ran), so the same hour
    // key; a note sealed by one instance opens on the other.
    let (note, other_keys) = seal_note(b"sealed fast").unwrap();
    let other = Uuid::new_v4();
    let fast_expiry = fast.insert(other, 7200, note).await.unwrap();
    let (note, _) = seal_note(b"x").unwrap();
    let slow_expiry = slow.insert(Uuid::new_v4(), 7200, note).await.unwrap();
    assert!(
        fast_expiry.abs_diff(slow_expiry) <= 2,
        "{fast_expiry} {slow_expiry}"
    );
    let message = reveal(&slow, other, &Arc::new(other_keys), None)
        .await
        .unwrap();
    assert_eq!(message.as_slice(), b"sealed fast");
    let message = reveal(&fast, live, &keys, None).await.unwrap();
    assert_eq!(message.as_slice(), b"live");

    // Expired by the database's clock: refused by the slow instance (ten minutes behind, it
    // would still call it live) and swept by it.
    let (note, keys) = seal_note(b"gone").unwrap();
    let keys = Arc::new(keys);
    let (gone, swept) = (Uuid::new_v4(), Uuid::new_v4());
    let expires_at = fast.insert(gone, 1, note.clone()).await.unwrap();
    fast.insert(swept, 1, note).await.unwrap();
    while machine() <= expires_at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = reveal(&slow, gone, &keys, None).await.unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    assert_eq!(slow.sweep().await.unwrap(), 1);
    assert!(slow.peek(swept).await.unwrap().is_none());
    assert_eq!(
        slow.len().await.unwrap(),
        1,
        "only the two-hour note of the slow instance"
    );
}
