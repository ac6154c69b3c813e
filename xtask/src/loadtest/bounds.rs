//! The bounds a server is compared with: the note scheme's crypto alone, and the latency of a
//! durable commit (redb or PostgreSQL) on the same disk.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

/// `seal_note` + `open_note` of a message of the load test's length on every core for
/// `options.seconds`: the pairs/s a server could reach if the note crypto were all it did.
pub(super) fn crypto_bound(options: Options) -> Result<f64, String> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let duration = Duration::from_secs(options.seconds);
    let message = message_for(0, 0, options.message_bytes).into_bytes();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let message = message.clone();
            std::thread::spawn(move || -> Result<u64, String> {
                let begin = Instant::now();
                let mut pairs = 0u64;
                while begin.elapsed() < duration {
                    let (stored, keys) = qsmm_shield::note::seal_note(&message)
                        .map_err(|e| format!("seal_note: {e}"))?;
                    let opened = qsmm_shield::note::open_note(&stored, &keys)
                        .map_err(|e| format!("open_note: {e}"))?;
                    if opened.as_slice() != message.as_slice() {
                        return Err("open_note returned another message".into());
                    }
                    pairs += 1;
                }
                Ok(pairs)
            })
        })
        .collect();
    let mut pairs = 0u64;
    for handle in handles {
        pairs += handle
            .join()
            .map_err(|_| "a crypto-bound thread panicked".to_owned())??;
    }
    let seconds = start.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "a rate for display")]
    Ok(pairs as f64 / seconds)
}

/// Latencies of sequential durable redb commits, sorted. Each commit inserts one note-sized
/// value and removes the previous one, like a create followed by a reveal, so the file stops
/// growing after the warm-up (a growing file would add a journal commit to every fsync).
pub(super) fn commit_latencies(path: &Path) -> Result<Vec<Duration>, String> {
    const TABLE: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new("probe");
    let error = |e: &dyn std::fmt::Display| format!("redb probe: {e}");
    let db = redb::Database::create(path).map_err(|e| error(&e))?;
    let value = vec![0x5au8; PROBE_VALUE_BYTES];
    let mut samples = Vec::with_capacity(PROBE_MAX_COMMITS);
    let start = Instant::now();
    for key in 0u64.. {
        if samples.len() >= PROBE_MAX_COMMITS || start.elapsed() >= PROBE_TIME {
            break;
        }
        let begin = Instant::now();
        let txn = db.begin_write().map_err(|e| error(&e))?;
        {
            let mut table = txn.open_table(TABLE).map_err(|e| error(&e))?;
            table.insert(key, value.as_slice()).map_err(|e| error(&e))?;
            if let Some(previous) = key.checked_sub(1) {
                drop(table.remove(previous).map_err(|e| error(&e))?);
            }
        }
        txn.commit().map_err(|e| error(&e))?;
        if key >= PROBE_WARM_UP {
            samples.push(begin.elapsed());
        }
    }
    samples.sort_unstable();
    Ok(samples)
}

/// Latencies of sequential durable PostgreSQL commits, sorted: on one connection, each
/// autocommit `INSERT` of a note-sized row followed by the `DELETE` of the previous one, like a
/// create and a reveal. Unlike redb, PostgreSQL flushes the commits of concurrent connections
/// together (its WAL is group-committed), so this bounds one connection, not the server.
pub(super) async fn postgres_commit_latencies(url: &str) -> Result<Vec<Duration>, String> {
    let error = |e: &dyn std::fmt::Display| format!("PostgreSQL probe: {e}");
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| error(&e))?;
    let connection = tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE probe (key bigint PRIMARY KEY, value bytea NOT NULL)")
        .await
        .map_err(|e| error(&e))?;
    let insert = client
        .prepare("INSERT INTO probe (key, value) VALUES ($1, $2)")
        .await
        .map_err(|e| error(&e))?;
    let delete = client
        .prepare("DELETE FROM probe WHERE key = $1")
        .await
        .map_err(|e| error(&e))?;
    let value = vec![0x5au8; PROBE_VALUE_BYTES];
    let mut samples = Vec::with_capacity(PROBE_MAX_COMMITS);
    let start = Instant::now();
    for key in 0i64.. {
        if samples.len() >= PROBE_MAX_COMMITS || start.elapsed() >= PROBE_TIME {
            break;
        }
        let begin = Instant::now();
        client
            .execute(&insert, &[&key, &value])
            .await
            .map_err(|e| error(&e))?;
        if key >= 1 {
            client
                .execute(&delete, &[&(key - 1)])
                .await
                .map_err(|e| error(&e))?;
        }
        if key >= i64::try_from(PROBE_WARM_UP).unwrap_or(0) {
            // Two commits per sample: report the latency of one.
            samples.push(begin.elapsed() / 2);
        }
    }
    drop(client);
    drop(connection.await);
    samples.sort_unstable();
    Ok(samples)
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
pub(super) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "rank of a sample count far below 2^52, clamped below"
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or_default()
}

pub(super) fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
