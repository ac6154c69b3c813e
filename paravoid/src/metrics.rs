//! Prometheus metrics, served at `GET /metrics` in the text exposition format.
//!
//! Only counts and timings: no label carries a note id, a client address or anything from a
//! request body.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The service's metrics and their registry.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    created: Counter,
    revealed: Counter,
    expired: Counter,
    wrong_keys: Counter,
    wrong_passphrase: Counter,
    rate_limited: Counter,
    overloaded: Counter,
    batch_size: Histogram,
    commit_seconds: Histogram,
    argon2_queue: Gauge<i64, AtomicI64>,
}

impl Metrics {
    /// Fresh metrics, all zero.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("paravoid");
        let created = Counter::default();
        let revealed = Counter::default();
        let expired = Counter::default();
        let wrong_keys = Counter::default();
        let wrong_passphrase = Counter::default();
        let rate_limited = Counter::default();
        let overloaded = Counter::default();
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 8));
        let commit_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 14));
        let argon2_queue = Gauge::<i64, AtomicI64>::default();
        registry.register("notes_created", "Notes stored", created.clone());
        registry.register(
            "notes_revealed",
            "Notes revealed and deleted",
            revealed.clone(),
        );
        registry.register(
            "notes_expired",
            "Notes deleted because they expired",
            expired.clone(),
        );
        registry.register(
            "wrong_keys",
            "Reveals refused for wrong link keys",
            wrong_keys.clone(),
        );
        registry.register(
            "wrong_passphrase",
            "Passphrase attempts that failed",
            wrong_passphrase.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by the per-client rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "argon2_rejected",
            "Requests refused because the Argon2id pool was full",
            overloaded.clone(),
        );
        registry.register(
            "write_batch_jobs",
            "Jobs per group-committed write transaction",
            batch_size.clone(),
        );
        registry.register(
            "commit_seconds",
            "Time to make one write batch durable (key file and database)",
            commit_seconds.clone(),
        );
        registry.register(
            "argon2_queue_depth",
            "Requests waiting for an Argon2id worker",
            argon2_queue.clone(),
        );
        Self {
            registry,
            created,
            revealed,
            expired,
            wrong_keys,
            wrong_passphrase,
            rate_limited,
            overloaded,
            batch_size,
            commit_seconds,
            argon2_queue,
        }
    }

    /// The metrics in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            tracing::error!("encoding the metrics failed");
        }
        out
    }

    pub(crate) fn note_created(&self) {
        self.created.inc();
    }

    pub(crate) fn note_revealed(&self) {
        self.revealed.inc();
    }

    pub(crate) fn note_expired(&self, count: u64) {
        self.expired.inc_by(count);
    }

    pub(crate) fn wrong_keys(&self) {
        self.wrong_keys.inc();
    }

    pub(crate) fn wrong_passphrase(&self) {
        self.wrong_passphrase.inc();
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub(crate) fn overloaded(&self) {
        self.overloaded.inc();
    }

    pub(crate) fn observe_batch(&self, jobs: usize) {
        #[expect(clippy::cast_precision_loss, reason = "a batch holds at most 128 jobs")]
        self.batch_size.observe(jobs as f64);
    }

    pub(crate) fn observe_commit(&self, elapsed: Duration) {
        self.commit_seconds.observe(elapsed.as_secs_f64());
    }

    pub(crate) fn set_argon2_queue(&self, depth: usize) {
        self.argon2_queue
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::new();
        metrics.note_created();
        metrics.note_created();
        metrics.observe_batch(3);
        metrics.observe_commit(Duration::from_millis(2));
        metrics.set_argon2_queue(4);
        let text = metrics.render();
        assert!(text.contains("paravoid_notes_created_total 2"), "{text}");
        assert!(text.contains("paravoid_argon2_queue_depth 4"), "{text}");
        assert!(text.contains("paravoid_write_batch_jobs_count 1"), "{text}");
        assert!(text.contains("paravoid_commit_seconds_bucket"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
