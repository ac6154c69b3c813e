//! Where a server's time goes, per stage: the counters of its own `/metrics` (served on a
//! `--metrics-bind` port of its own), read before and after the measured phase, and the cost of
//! the key-file sync that crypto-shredding adds to each redb batch.

use std::fs::OpenOptions;
use std::io::{Seek as _, SeekFrom, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

/// The counters of one `/metrics` page this report uses.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Counters {
    /// redb write batches committed.
    pub(super) batches: f64,
    /// Jobs (creates, reveals, claims, deletes) in those batches.
    pub(super) jobs: f64,
    /// Seconds spent making batches durable: key-file write and sync, then the redb commit.
    pub(super) commit_seconds: f64,
}

impl Counters {
    /// Reads the counters from a Prometheus text page.
    pub(super) fn parse(page: &str) -> Self {
        let value = |name: &str| {
            page.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0.0)
        };
        Self {
            batches: value("paravoid_write_batch_jobs_count"),
            jobs: value("paravoid_write_batch_jobs_sum"),
            commit_seconds: value("paravoid_commit_seconds_sum"),
        }
    }

    /// Counts since `before`, summed over servers.
    pub(super) fn since(after: &[Self], before: &[Self]) -> Self {
        let mut total = Self::default();
        for (a, b) in after.iter().zip(before) {
            total.batches += a.batches - b.batches;
            total.jobs += a.jobs - b.jobs;
            total.commit_seconds += a.commit_seconds - b.commit_seconds;
        }
        total
    }
}

/// Reads the servers' counters.
pub(super) async fn read(addrs: &[SocketAddr]) -> Result<Vec<Counters>, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let mut counters = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let page = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("GET /metrics: {e}"))?
            .text()
            .await
            .map_err(|e| format!("GET /metrics: {e}"))?;
        counters.push(Counters::parse(&page));
    }
    Ok(counters)
}

/// Latencies of sequential overwrite-and-`fdatasync`s of one 32-byte key slot in a small file
/// in `dir`, sorted: what writing or erasing a batch's record keys costs on this disk.
pub(super) fn key_sync_latencies(dir: &Path) -> Result<Vec<Duration>, String> {
    let error = |e: std::io::Error| format!("key-file probe: {e}");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.join("probe.keys"))
        .map_err(error)?;
    file.write_all(&[0u8; 4096]).map_err(error)?;
    file.sync_all().map_err(error)?;
    let mut samples = Vec::with_capacity(PROBE_MAX_COMMITS);
    let start = Instant::now();
    for round in 0u64.. {
        if samples.len() >= PROBE_MAX_COMMITS || start.elapsed() >= PROBE_TIME {
            break;
        }
        let begin = Instant::now();
        file.seek(SeekFrom::Start((round % 128) * 32))
            .map_err(error)?;
        file.write_all(&[0x5a; 32]).map_err(error)?;
        file.sync_data().map_err(error)?;
        if round >= PROBE_WARM_UP {
            samples.push(begin.elapsed());
        }
    }
    samples.sort_unstable();
    Ok(samples)
}

/// Prints the stage profile of a run.
pub(super) fn report(http: &Tally, counters: &Counters, key_syncs: &[Duration]) {
    if counters.batches <= 0.0 || http.pairs == 0 {
        return;
    }
    let elapsed = http.elapsed.as_secs_f64().max(f64::EPSILON);
    #[expect(clippy::cast_precision_loss, reason = "a ratio for display")]
    let pairs = http.pairs as f64;
    println!(
        "\n  server stages (its /metrics over the run): {:.0} write batches, {:.2} jobs per \
         batch, {:.2} batches per pair; making a batch durable (key-file write + sync, redb \
         commit) {:.2} ms mean, the writer spends {:.0}% of the run there",
        counters.batches,
        counters.jobs / counters.batches,
        counters.batches / pairs,
        counters.commit_seconds / counters.batches * 1e3,
        counters.commit_seconds / elapsed * 1e2,
    );
    if !key_syncs.is_empty() {
        let mean =
            key_syncs.iter().sum::<Duration>() / u32::try_from(key_syncs.len()).unwrap_or(u32::MAX);
        println!(
            "  key-file slot overwrite + fdatasync on this disk ({} sequential): mean {} · p50 {} \
             · p99 {}; crypto-shredding adds one per batch before the commit (new keys) and one \
             after it (erased keys)",
            key_syncs.len(),
            millis(mean),
            millis(quantile(key_syncs, 0.50)),
            millis(quantile(key_syncs, 0.99)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_a_metrics_page() {
        let page = "# HELP x\nparavoid_write_batch_jobs_sum 30\nparavoid_write_batch_jobs_count 10\n\
                    paravoid_commit_seconds_sum 0.5\nparavoid_commit_seconds_count 10\n";
        let counters = Counters::parse(page);
        assert_eq!(
            counters,
            Counters {
                batches: 10.0,
                jobs: 30.0,
                commit_seconds: 0.5
            }
        );
        let since = Counters::since(&[counters], &[Counters::default()]);
        assert_eq!(since, counters);
        assert_eq!(Counters::parse(""), Counters::default());
    }
}
