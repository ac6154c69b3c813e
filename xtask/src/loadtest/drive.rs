//! The HTTP phase: clients looping create → peek → reveal, and the tally of their latencies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

/// The endpoints whose latencies are reported.
#[derive(Clone, Copy, Debug)]
pub(super) enum Endpoint {
    Create,
    Peek,
    Reveal,
}

impl Endpoint {
    pub(super) const ALL: [Self; 3] = [Self::Create, Self::Peek, Self::Reveal];

    pub(super) const fn label(self) -> &'static str {
        match self {
            Self::Create => "create  POST /api/secrets",
            Self::Peek => "peek    GET  /api/secrets/{id}",
            Self::Reveal => "reveal  POST /api/secrets/{id}/reveal",
        }
    }

    pub(super) const fn index(self) -> usize {
        match self {
            Self::Create => 0,
            Self::Peek => 1,
            Self::Reveal => 2,
        }
    }
}

/// What one client (and, merged, the whole run) measured.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Completed create → peek → reveal rounds with the right message back.
    pub(super) pairs: u64,
    /// Failed requests and wrong revealed messages.
    pub(super) failures: u64,
    /// The first few failure descriptions, for the report.
    pub(super) first_failures: Vec<String>,
    /// Latencies per endpoint, in the order of [`Endpoint::ALL`].
    pub(super) latencies: [Vec<Duration>; 3],
    /// Wall time of the measured phase.
    pub(super) elapsed: Duration,
    /// CPU seconds the server used during the measured phase, where the platform tells.
    pub(super) server_cpu: Option<f64>,
    /// CPU seconds PostgreSQL used meanwhile (`--store postgres`, Linux).
    pub(super) database_cpu: Option<f64>,
}

impl Tally {
    pub(super) fn fail(&mut self, what: String) {
        self.failures += 1;
        if self.first_failures.len() < 5 {
            self.first_failures.push(what);
        }
    }

    pub(super) fn merge(&mut self, other: Self) {
        self.pairs += other.pairs;
        self.failures += other.failures;
        for failure in other.first_failures {
            if self.first_failures.len() < 5 {
                self.first_failures.push(failure);
            }
        }
        for (mine, theirs) in self.latencies.iter_mut().zip(other.latencies) {
            mine.extend(theirs);
        }
    }
}

/// Runs `options.clients` clients against the servers (round-robin) for `options.seconds`, and
/// `attackers` attackers against the first server.
pub(super) async fn drive(
    addrs: &[SocketAddr],
    options: Options,
    attackers: usize,
) -> Result<(Tally, attack::AttackTally), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(options.clients + attackers)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let bases: Vec<Arc<String>> = addrs
        .iter()
        .map(|addr| Arc::new(format!("http://{addr}")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let attack_tasks: Vec<_> = (0..attackers)
        .map(|_| {
            let (client, base, stop) = (
                client.clone(),
                bases.first().cloned().unwrap_or_default(),
                Arc::clone(&stop),
            );
            tokio::spawn(async move { attack::attacker(&client, &base, &stop).await })
        })
        .collect();
    if attackers > 0 {
        // Let the attack reach its steady state before the clients are measured.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(options.clients);
    for index in 0..options.clients {
        let client = client.clone();
        let base = bases
            .get(index % bases.len().max(1))
            .cloned()
            .ok_or("no server to drive")?;
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            client_loop(&client, &base, &stop, index, options.message_bytes).await
        }));
    }
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let measured = start.elapsed();

    let mut total = Tally::default();
    for task in tasks {
        match tokio::time::timeout(DRAIN_LIMIT, task).await {
            Ok(Ok(tally)) => total.merge(tally),
            Ok(Err(e)) => total.fail(format!("client task failed: {e}")),
            Err(_) => total.fail("client did not finish within the drain limit".into()),
        }
    }
    // Rounds still in flight at the stop signal finish after `measured`; count the real span.
    total.elapsed = start.elapsed().max(measured);
    let mut attack = attack::AttackTally::default();
    for task in attack_tasks {
        match tokio::time::timeout(DRAIN_LIMIT, task).await {
            Ok(Ok(tally)) => attack.merge(tally),
            Ok(Err(e)) => total.fail(format!("attacker task failed: {e}")),
            Err(_) => total.fail("attacker did not finish within the drain limit".into()),
        }
    }
    Ok((total, attack))
}

/// One client: create → peek → reveal until told to stop.
pub(super) async fn client_loop(
    client: &reqwest::Client,
    base: &str,
    stop: &AtomicBool,
    index: usize,
    message_bytes: usize,
) -> Tally {
    let mut tally = Tally::default();
    let mut round: u64 = 0;
    while !stop.load(Ordering::Relaxed) && round < MAX_ROUNDS_PER_CLIENT {
        let message = message_for(index, round, message_bytes);
        match one_round(client, base, &message, round, &mut tally).await {
            Ok(()) => tally.pairs += 1,
            Err(e) => tally.fail(e),
        }
        round += 1;
    }
    tally
}

/// A message of exactly `len` ASCII bytes, unique per client and round.
pub(super) fn message_for(client: usize, round: u64, len: usize) -> String {
    let mut message = format!("client {client} round {round} ");
    let filler = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut i = 0;
    while message.len() < len {
        message.push(char::from(filler[i % filler.len()]));
        i += 1;
    }
    message.truncate(len);
    message
}

pub(super) async fn one_round(
    client: &reqwest::Client,
    base: &str,
    message: &str,
    round: u64,
    tally: &mut Tally,
) -> Result<(), String> {
    let created = timed(
        tally,
        Endpoint::Create,
        client
            .post(format!("{base}/api/secrets"))
            .json(&json!({ "message": message, "ttl_secs": 600 }))
            .send(),
    )
    .await?;
    let created = json_body(created, "create").await?;
    let id = field(&created, "id")?;

    let peeked = timed(
        tally,
        Endpoint::Peek,
        client.get(format!("{base}/api/secrets/{id}")).send(),
    )
    .await?;
    json_body(peeked, "peek").await?;

    // Alternate the two ways of presenting the keys, so both are exercised.
    let keys = if round.is_multiple_of(2) {
        json!({ "compact": field(&created, "compact")? })
    } else {
        json!({
            "dk": field(&created, "dk")?,
            "classical_secret": field(&created, "classical_secret")?,
        })
    };
    let revealed = timed(
        tally,
        Endpoint::Reveal,
        client
            .post(format!("{base}/api/secrets/{id}/reveal"))
            .json(&keys)
            .send(),
    )
    .await?;
    let revealed = json_body(revealed, "reveal").await?;
    let got = field(&revealed, "message")?;
    if got != message {
        return Err(format!(
            "note {id}: revealed {} bytes that differ from the {} sent",
            got.len(),
            message.len()
        ));
    }
    Ok(())
}

pub(super) async fn timed<F>(
    tally: &mut Tally,
    endpoint: Endpoint,
    request: F,
) -> Result<reqwest::Response, String>
where
    F: Future<Output = reqwest::Result<reqwest::Response>>,
{
    let start = Instant::now();
    let response = request.await;
    // The latency ends when the response head arrives; bodies are a few hundred bytes.
    let latency = start.elapsed();
    let response = response.map_err(|e| format!("{}: {e}", endpoint.label()))?;
    if let Some(samples) = tally.latencies.get_mut(endpoint.index()) {
        samples.push(latency);
    }
    Ok(response)
}

pub(super) async fn json_body(response: reqwest::Response, what: &str) -> Result<Value, String> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("{what}: reading the body: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "{what}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{what}: not JSON: {e}"))
}

pub(super) fn field<'a>(value: &'a Value, name: &str) -> Result<&'a str, String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("response has no string field `{name}`"))
}
