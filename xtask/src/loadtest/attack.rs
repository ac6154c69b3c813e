//! `--attack argon2`: the load test's clients while attackers make the server run Argon2id.
//!
//! Anyone can create a passphrase note and so hold valid link keys for it; every reveal with a
//! wrong passphrase then costs the server one Argon2id run (19 MiB, tens of milliseconds). An
//! attacker loops "create with passphrase + five wrong reveals". paravoid runs Argon2id in a
//! bounded pool outside its single writer, so unrelated creates and reveals should keep their
//! latency while the pool answers the surplus with 503. This module is the attacker and the
//! side-by-side report; the run itself is [`super::run`] twice, without and with attackers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Endpoint, Options, Tally, millis, quantile};

/// Default number of attacker tasks (each one request at a time).
pub(super) const DEFAULT_ATTACKERS: usize = 32;
/// Upper bound on `--attackers`.
pub(super) const MAX_ATTACKERS: usize = 4096;
/// Wrong passphrases per bait note: the server's try limit, after which the note is gone.
const WRONG_GUESSES: usize = 5;
/// Pause after a refused create, so a refused attacker does not spin.
const BACKOFF: Duration = Duration::from_millis(20);

/// What the attackers got back.
#[derive(Debug, Default)]
pub(super) struct AttackTally {
    /// Answers by HTTP status.
    pub(super) statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer at all.
    pub(super) errors: u64,
}

impl AttackTally {
    pub(super) fn merge(&mut self, other: Self) {
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.errors += other.errors;
    }

    /// Counts one answer (or its absence) and hands the response on.
    fn record(&mut self, answer: reqwest::Result<reqwest::Response>) -> Option<reqwest::Response> {
        match answer {
            Ok(response) => {
                *self.statuses.entry(response.status().as_u16()).or_default() += 1;
                Some(response)
            }
            Err(_) => {
                self.errors += 1;
                None
            }
        }
    }

    fn requests(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.errors
    }

    fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
}

/// One attacker: create a passphrase note, guess its passphrase wrong five times, repeat.
pub(super) async fn attacker(
    client: &reqwest::Client,
    base: &str,
    stop: &AtomicBool,
) -> AttackTally {
    let mut tally = AttackTally::default();
    let bait = json!({ "message": "bait", "passphrase": "the right passphrase", "ttl_secs": 600 });
    while !stop.load(Ordering::Relaxed) {
        let created = client
            .post(format!("{base}/api/secrets"))
            .json(&bait)
            .send()
            .await;
        let body: Option<Value> = match tally.record(created) {
            Some(response) if response.status().is_success() => response.json().await.ok(),
            _ => None,
        };
        let text = |name: &str| body.as_ref()?.get(name)?.as_str().map(str::to_owned);
        let (Some(id), Some(compact)) = (text("id"), text("compact")) else {
            // Refused (503 when the Argon2id pool is full): try again shortly.
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        let wrong = json!({ "compact": compact, "passphrase": "a wrong guess" });
        for _ in 0..WRONG_GUESSES {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let reveal = format!("{base}/api/secrets/{id}/reveal");
            tally.record(client.post(reveal).json(&wrong).send().await);
        }
    }
    tally
}

/// Prints the two runs side by side.
pub(super) fn report(
    options: Options,
    attackers: usize,
    quiet: &Tally,
    attacked: &(Tally, AttackTally),
) {
    let (under_attack, attack) = attacked;
    println!(
        "\nArgon2id attack: {} clients doing create → peek → reveal, {} s per run; the attacked run \
         adds {attackers} attackers looping \"create with passphrase + {WRONG_GUESSES} wrong \
         reveals\" (rate limits off: an attacker with many addresses)",
        options.clients, options.seconds
    );
    println!(
        "\n  | run | pairs/s | create p50 | create p99 | reveal p50 | reveal p99 | failures |\n  \
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for (name, tally) in [("no attack", quiet), ("under attack", under_attack)] {
        let sorted = |endpoint: Endpoint| {
            let mut samples = tally
                .latencies
                .get(endpoint.index())
                .cloned()
                .unwrap_or_default();
            samples.sort_unstable();
            samples
        };
        let (create, reveal) = (sorted(Endpoint::Create), sorted(Endpoint::Reveal));
        #[expect(clippy::cast_precision_loss, reason = "a rate for display")]
        let rate = tally.pairs as f64 / tally.elapsed.as_secs_f64().max(f64::EPSILON);
        println!(
            "  | {name} | {rate:.1} | {} | {} | {} | {} | {} |",
            millis(quantile(&create, 0.50)),
            millis(quantile(&create, 0.99)),
            millis(quantile(&reveal, 0.50)),
            millis(quantile(&reveal, 0.99)),
            tally.failures,
        );
    }
    #[expect(clippy::cast_precision_loss, reason = "a rate for display")]
    let attack_rate =
        attack.requests() as f64 / under_attack.elapsed.as_secs_f64().max(f64::EPSILON);
    let statuses: Vec<String> = attack
        .statuses
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect();
    println!(
        "\n  attacker requests: {} ({attack_rate:.1}/s); by status {{{}}}; no answer: {}",
        attack.requests(),
        statuses.join(", "),
        attack.errors
    );
    println!(
        "  Argon2id work the server accepted: {} passphrase creates, {} wrong guesses (403); \
         refused with 503: {}",
        attack.count(201),
        attack.count(403),
        attack.count(503)
    );
}
