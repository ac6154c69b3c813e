//! Several `paravoid` processes on one PostgreSQL database: exactly-once reveals and the exact
//! try limit across instances, SIGKILL of an instance under load, and a PostgreSQL restart under
//! load (503 while it is down, recovery without restarting paravoid, no acknowledged note lost).
//!
//! PostgreSQL runs as a throwaway cluster (`support/pg_cluster.rs`); without it these tests fail
//! under `QSMM_REQUIRE_EXTERNAL=1` and are skipped with a printed message elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use qsmm_test_support::pg_cluster;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qsmm_test_support::server_process::ServerProcess;
use reqwest::StatusCode;
use serde_json::{Value, json};

use pg_cluster::PgCluster;

/// Instances per test.
const INSTANCES: usize = 3;

/// Concurrent reveals of one note.
const RACERS: usize = 64;

/// A running `paravoid` child, killed on drop.
type Instance = ServerProcess;

/// Starts the binary on the PostgreSQL database `url` with a free port and waits for its
/// "listening on" line.
fn start(url: &str, store_key: &Path) -> Instance {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paravoid"));
    command
        .args(["--bind", "127.0.0.1:0", "--store", url, "--store-key"])
        .arg(store_key)
        // Every client is 127.0.0.1: per-client rate limits would limit the test itself.
        .args(["--create-per-minute", "0", "--reveal-per-minute", "0"])
        .env("RUST_LOG", "info");
    ServerProcess::start(command, Duration::from_secs(60))
}

/// Three instances on database `name` of `cluster`.
fn instances(cluster: &PgCluster, name: &str) -> Vec<Instance> {
    let url = cluster.create_database(name);
    let secret = pg_cluster::store_secret();
    // Started one after the other would hide a migration race: start them together.
    let starts: Vec<_> = (0..INSTANCES)
        .map(|instance| {
            let url = url.clone();
            let key = pg_cluster::write_store_key(
                &cluster.path(&format!("{name}-{instance}.key")),
                &secret,
            );
            std::thread::spawn(move || start(&url, &key))
        })
        .collect();
    starts
        .into_iter()
        .map(|start| start.join().unwrap())
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn create(http: &reqwest::Client, instance: &Instance, body: Value) -> Value {
    let response = http
        .post(instance.url("/api/secrets"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// `POST` of a reveal; the status and the JSON body.
async fn reveal(http: &reqwest::Client, base: &str, created: &Value, body: &Value) -> (u16, Value) {
    let uri = format!("{base}{}", created["link"].as_str().unwrap());
    let response = http.post(uri).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reveals_and_guesses_spread_over_three_instances_are_exact() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let instances = instances(&cluster, "exact");
    let bases: Vec<String> = instances.iter().map(|i| i.base().to_owned()).collect();
    let http = client();

    for round in 0..10 {
        let message = format!("round {round}");
        let created = create(
            &http,
            &instances[round % INSTANCES],
            json!({ "message": message }),
        )
        .await;
        let body = json!({ "compact": created["compact"] });
        let racers: Vec<_> = (0..RACERS)
            .map(|i| {
                let (http, base, created, body) = (
                    http.clone(),
                    bases[i % INSTANCES].clone(),
                    created.clone(),
                    body.clone(),
                );
                tokio::spawn(async move { reveal(&http, &base, &created, &body).await })
            })
            .collect();
        let mut statuses = HashMap::<u16, usize>::new();
        for racer in racers {
            let (status, answer) = racer.await.unwrap();
            if status == 200 {
                assert_eq!(answer["message"], json!(message));
            }
            *statuses.entry(status).or_default() += 1;
        }
        assert_eq!(
            statuses,
            HashMap::from([(200, 1), (404, RACERS - 1)]),
            "round {round}"
        );
    }

    // The try counter: 64 wrong passphrases at once, over all instances.
    let created = create(
        &http,
        &instances[0],
        json!({ "message": "guarded", "passphrase": "right" }),
    )
    .await;
    let wrong = json!({ "compact": created["compact"], "passphrase": "wrong" });
    let guessers: Vec<_> = (0..RACERS)
        .map(|i| {
            let (http, base, created, wrong) = (
                http.clone(),
                bases[i % INSTANCES].clone(),
                created.clone(),
                wrong.clone(),
            );
            tokio::spawn(async move { reveal(&http, &base, &created, &wrong).await })
        })
        .collect();
    let mut attempts_left = Vec::new();
    for guesser in guessers {
        match guesser.await.unwrap() {
            (403, answer) => attempts_left.push(answer["attempts_left"].as_u64().unwrap()),
            (404, _) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    attempts_left.sort_unstable();
    assert_eq!(
        attempts_left,
        [0, 1, 2, 3, 4],
        "exactly five guesses counted"
    );
    let right = json!({ "compact": created["compact"], "passphrase": "right" });
    assert_eq!(reveal(&http, &bases[1], &created, &right).await.0, 404);
}

/// What the load workers saw.
#[derive(Default)]
struct Ledger {
    /// Acknowledged creates not (yet) revealed: id → (create answer, message).
    open: HashMap<String, (Value, String)>,
    /// Ids answered 200 on reveal.
    revealed: Vec<String>,
    /// Ids whose reveal may have happened without an answer (connection lost, or 503).
    unknown: HashSet<String>,
    /// Every status answered, by status.
    statuses: HashMap<u16, usize>,
}

/// Workers that create on one instance and reveal half of the notes on the next, until `stop`.
fn load(
    bases: &[String],
    ledger: &Arc<Mutex<Ledger>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..6)
        .map(|worker| {
            let (bases, ledger, stop) = (bases.to_vec(), ledger.clone(), stop.clone());
            tokio::spawn(async move {
                let http = client();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let base = &bases[(worker + i) % bases.len()];
                    let message = format!("load {worker}/{i}");
                    let Ok(response) = http
                        .post(format!("{base}/api/secrets"))
                        .json(&json!({ "message": message }))
                        .send()
                        .await
                    else {
                        continue; // The instance is gone; no answer, nothing promised.
                    };
                    let status = response.status().as_u16();
                    *ledger.lock().unwrap().statuses.entry(status).or_default() += 1;
                    if status != 201 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let Ok(created) = response.json::<Value>().await else {
                        continue;
                    };
                    let id = created["id"].as_str().unwrap().to_owned();
                    ledger
                        .lock()
                        .unwrap()
                        .open
                        .insert(id.clone(), (created.clone(), message.clone()));
                    if i.is_multiple_of(2) {
                        continue;
                    }
                    let base = &bases[(worker + i + 1) % bases.len()];
                    let body = json!({ "compact": created["compact"] });
                    let uri = format!("{base}{}", created["link"].as_str().unwrap());
                    let answer = http.post(uri).json(&body).send().await;
                    let mut ledger = ledger.lock().unwrap();
                    match answer {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            *ledger.statuses.entry(status).or_default() += 1;
                            match status {
                                200 => {
                                    ledger.open.remove(&id);
                                    ledger.revealed.push(id);
                                }
                                503 => {
                                    ledger.open.remove(&id);
                                    ledger.unknown.insert(id);
                                }
                                other => panic!("reveal of a fresh note answered {other}"),
                            }
                        }
                        Err(_) => {
                            ledger.open.remove(&id);
                            ledger.unknown.insert(id);
                        }
                    }
                }
            })
        })
        .collect()
}

/// After the load: no id revealed twice, and every acknowledged, unrevealed note reveals once,
/// with its message, on `base`.
async fn check_ledger(ledger: &Ledger, base: &str) {
    let distinct: HashSet<&String> = ledger.revealed.iter().collect();
    assert_eq!(
        distinct.len(),
        ledger.revealed.len(),
        "a note was revealed twice"
    );
    let http = client();
    for (created, message) in ledger.open.values() {
        let body = json!({ "compact": created["compact"] });
        let (status, answer) = reveal(&http, base, created, &body).await;
        assert_eq!(status, 200, "an acknowledged note is lost: {created}");
        assert_eq!(answer["message"], json!(message));
        assert_eq!(reveal(&http, base, created, &body).await.0, 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_one_instance_loses_no_acknowledged_note() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let mut instances = instances(&cluster, "sigkill");
    let bases: Vec<String> = instances.iter().map(|i| i.base().to_owned()).collect();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers = load(&bases, &ledger, &stop);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    instances[1].kill();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(ledger.revealed.len() > 10, "the load did run");
    assert!(
        ledger
            .statuses
            .keys()
            .all(|status| [200, 201].contains(status)),
        "{:?}",
        ledger.statuses
    );
    check_ledger(&ledger, &bases[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_answers_503_then_recovers() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let instances = instances(&cluster, "restart");
    let bases: Vec<String> = instances.iter().map(|i| i.base().to_owned()).collect();
    let http = client();
    for base in &bases {
        let health = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        assert_eq!(
            health.json::<Value>().await.unwrap(),
            json!({ "status": "ok", "store": "postgres" })
        );
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers = load(&bases, &ledger, &stop);

    tokio::time::sleep(Duration::from_millis(1000)).await;
    cluster.stop_server();
    for base in &bases {
        let health = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            health.json::<Value>().await.unwrap(),
            json!({ "error": "database unavailable" })
        );
    }
    let down = http
        .post(format!("{}/api/secrets", bases[2]))
        .json(&json!({ "message": "while down" }))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.headers()["retry-after"], "1");
    assert_eq!(
        down.json::<Value>().await.unwrap(),
        json!({ "error": "database unavailable" })
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.start_server();

    // Every instance recovers by itself.
    for base in &bases {
        let mut status = 0;
        for _ in 0..100 {
            status = http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200, "{base} did not recover");
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        ledger
            .statuses
            .keys()
            .all(|status| [200, 201, 503].contains(status)),
        "only 503 while down: {:?}",
        ledger.statuses
    );
    assert!(
        ledger.statuses.get(&503).is_some_and(|n| *n > 0),
        "the load saw the outage"
    );
    check_ledger(&ledger, &bases[0]).await;
}
