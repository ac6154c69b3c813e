//! The service under hostile or unlucky conditions: a slow writer and the request timeout,
//! the Argon2id pool, a crashed writer, a corrupt record, secure deletion, expiry decided by the
//! writer, rate limits and metrics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{START, config_in, create, get, keys_body, post_json, reveal_uri};
use axum::Router;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::StatusCode;
use paravoid::{AppState, Config, ManualClock, app};
use serde_json::{Value, json};

/// A state on a fresh database in `dir` with `config` adjusted by `adjust`.
fn state_with(dir: &Path, adjust: impl FnOnce(&mut Config)) -> (AppState, Arc<ManualClock>) {
    let mut config = config_in(dir);
    adjust(&mut config);
    let clock = Arc::new(ManualClock::new(START));
    let state = AppState::open_with_clock(config, clock.clone()).unwrap();
    (state, clock)
}

/// Every 32-byte window of `haystack` that is also in `needles`.
fn shared_chunks(needles: &[[u8; 32]], haystack: &[u8]) -> usize {
    needles
        .iter()
        .filter(|needle| {
            haystack
                .windows(32)
                .any(|window| window == needle.as_slice())
        })
        .count()
}

/// The aligned 32-byte chunks of `after` that `before` lacks and that look random (no run of
/// repeated bytes): what a write added.
fn new_random_chunks(before: &[u8], after: &[u8]) -> Vec<[u8; 32]> {
    after
        .chunks_exact(32)
        .filter_map(|chunk| <[u8; 32]>::try_from(chunk).ok())
        .filter(|chunk| {
            let mut distinct = chunk.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            distinct.len() >= 20
        })
        .filter(|chunk| !before.windows(32).any(|window| window == chunk.as_slice()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_reveal_is_answered_even_past_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(dir.path(), |config| config.request_timeout_secs = 1);
    let app = app(state.clone());
    let created = create(&app, json!({ "message": "slow but delivered" })).await;
    // A writer slower than the timeout: the reveal is queued before the timeout fires.
    state.danger_slow_writer(Duration::from_millis(2500));
    let answer = post_json(&app, &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["message"], "slow but delivered");
    state.danger_slow_writer(Duration::ZERO);
    let again = post_json(&app, &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passphrase_reveal_is_answered_even_past_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(dir.path(), |config| config.request_timeout_secs = 1);
    let app = app(state.clone());
    let created = create(&app, json!({ "message": "guarded", "passphrase": "pw" })).await;
    state.danger_slow_writer(Duration::from_millis(700));
    let body = json!({ "compact": created["compact"], "passphrase": "pw" });
    let answer = post_json(&app, &reveal_uri(&created), &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["message"], "guarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_decided_when_the_writer_runs_the_reveal() {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = state_with(dir.path(), |_| {});
    let app = app(state.clone());
    let created = create(&app, json!({ "message": "m", "ttl_secs": 10 })).await;
    assert_eq!(created["expires_at"], START + 10);
    state.danger_slow_writer(Duration::from_millis(800));
    let reveal = {
        let (app, created) = (app.clone(), created.clone());
        tokio::spawn(
            async move { post_json(&app, &reveal_uri(&created), &keys_body(&created)).await },
        )
    };
    // The reveal is queued while the note is live; it expires before the writer gets to it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    clock.advance(60);
    let answer = reveal.await.unwrap();
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{:?}", answer.body);
    assert_eq!(state.stored_notes().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unrelated_creates_stay_fast_under_an_argon2_attack() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(dir.path(), |config| {
        config.argon2_threads = 1;
        config.argon2_queue = 4;
    });
    let app = app(state);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The attack: create a passphrase note, then five wrong passphrases, in a loop, many at once.
    let attackers: Vec<_> = (0..32)
        .map(|_| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let body = json!({ "message": "bait", "passphrase": "right" });
                    let created = post_json(&app, "/api/secrets", &body).await;
                    answers.push(created.status);
                    if created.status != StatusCode::CREATED {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    let wrong = json!({ "compact": created.body["compact"], "passphrase": "x" });
                    for _ in 0..5 {
                        let answer = post_json(&app, &reveal_uri(&created.body), &wrong).await;
                        answers.push(answer.status);
                    }
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        let answer = post_json(&app, "/api/secrets", &json!({ "message": "unrelated" })).await;
        latencies.push(started.elapsed());
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut statuses = Vec::new();
    for attacker in attackers {
        statuses.extend(attacker.await.unwrap());
    }
    latencies.sort_unstable();
    let p50 = latencies[latencies.len() / 2];
    // A generous bound: with Argon2id inside the writer, each create waited behind dozens of
    // Argon2id runs (seconds); outside it, creates only wait for commits.
    assert!(p50 < Duration::from_secs(2), "p50 {p50:?}");
    // The pool refused work rather than queueing it without bound, and nothing failed.
    assert!(
        statuses.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|status| [201, 403, 404, 503].contains(&status.as_u16())),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_argon2_pool_answers_503_with_retry_after_and_counts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(dir.path(), |config| {
        config.argon2_threads = 1;
        config.argon2_queue = 0;
    });
    let app = app(state.clone());
    let created = create(&app, json!({ "message": "m", "passphrase": "right" })).await;
    let wrong = json!({ "compact": created["compact"], "passphrase": "wrong" });
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (app, uri, wrong) = (app.clone(), reveal_uri(&created), wrong.clone());
            tokio::spawn(async move { post_json(&app, &uri, &wrong).await })
        })
        .collect();
    let mut refused = 0;
    let mut counted = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(answer.headers["retry-after"], "1");
                refused += 1;
            }
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => counted += 1,
            other => panic!("unexpected {other}: {:?}", answer.body),
        }
    }
    assert!(refused > 0, "the pool never filled up");
    if counted < 5 {
        // Refused reveals used no attempt: the right passphrase still opens the note.
        let right = json!({ "compact": created["compact"], "passphrase": "right" });
        let answer = post_json(&app, &reveal_uri(&created), &right).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_writer_fails_health_and_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(dir.path(), |_| {});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tokio::spawn(paravoid::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let app = app(state.clone());
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    state.danger_crash_writer();
    let served = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops once its writer is dead")
        .unwrap();
    assert!(served.is_err());
    let health = get(&app, "/healthz").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(health.body["error"].is_string(), "{:?}", health.body);
    let answer = post_json(&app, "/api/secrets", &json!({ "message": "m" })).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupt_record_fails_only_its_own_request() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(dir.path(), |_| {});
    let app = app(state.clone());
    let damaged = create(&app, json!({ "message": "damaged" })).await;
    let healthy = create(&app, json!({ "message": "healthy" })).await;
    // The first note's key is slot 0 of the key file: damage it on disk.
    let keys = dir.path().join("notes.redb.keys");
    let mut bytes = std::fs::read(&keys).unwrap();
    bytes[..32].fill(0x55);
    std::fs::write(&keys, &bytes).unwrap();
    // Both reveals and a create land in one batch of the slowed writer.
    state.danger_slow_writer(Duration::from_millis(300));
    let requests = [
        (reveal_uri(&damaged), keys_body(&damaged)),
        (reveal_uri(&healthy), keys_body(&healthy)),
        ("/api/secrets".to_owned(), json!({ "message": "new" })),
    ];
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(uri, body)| {
            let app = app.clone();
            tokio::spawn(async move { post_json(&app, &uri, &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_eq!(answers[0].status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answers[1].status, StatusCode::OK);
    assert_eq!(answers[1].body["message"], "healthy");
    assert_eq!(answers[2].status, StatusCode::CREATED);
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revealed_note_cannot_be_opened_from_later_copies_of_the_storage() {
    let dir = tempfile::tempdir().unwrap();
    let files = |tag: &str| {
        let copy = dir.path().join(tag);
        std::fs::create_dir_all(&copy).unwrap();
        for name in ["notes.redb", "notes.redb.keys"] {
            std::fs::copy(dir.path().join(name), copy.join(name)).unwrap();
        }
        copy
    };
    let (state, _clock) = state_with(dir.path(), |_| {});
    let app = app_of(&state);
    // Another note, so the files are not empty around the one under test.
    create(&app, json!({ "message": "neighbour" })).await;
    drop(app);
    drop(state);
    let before = files("before");

    let (state, _clock) = state_with(dir.path(), |_| {});
    let app = app_of(&state);
    let created = create(&app, json!({ "message": "gone for good" })).await;
    drop(app);
    drop(state);
    let stored = files("stored");
    // The note's key: the only random chunk its create added to the key file.
    let read = |dir: &Path, name: &str| std::fs::read(dir.join(name)).unwrap();
    let added_keys = new_random_chunks(
        &read(&before, "notes.redb.keys"),
        &read(&stored, "notes.redb.keys"),
    );
    assert_eq!(added_keys.len(), 1);

    let (state, _clock) = state_with(dir.path(), |_| {});
    let app = app_of(&state);
    let answer = post_json(&app, &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(answer.status, StatusCode::OK);
    // The copy is taken right after the reveal answered, with the server still running.
    let after = files("after");
    drop(app);
    drop(state);

    // Scanned as copied, before any server opens it (a start erases unreferenced key slots
    // itself, which would hide a reveal that did not): the note's key is in no later file, nor
    // is the message anywhere.
    for name in ["notes.redb", "notes.redb.keys"] {
        assert_eq!(shared_chunks(&added_keys, &read(&after, name)), 0, "{name}");
        assert!(
            !read(&after, name)
                .windows(13)
                .any(|window| window == b"gone for good"),
            "{name}"
        );
    }
    // The old record (as freed pages of the database may still hold it) with the later key
    // file: it does not open. Both files are the untouched copies.
    let mixed = dir.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(stored.join("notes.redb"), mixed.join("notes.redb")).unwrap();
    std::fs::copy(after.join("notes.redb.keys"), mixed.join("notes.redb.keys")).unwrap();
    let (state, _clock) = state_with(&mixed, |_| {});
    let answer = post_json(&app_of(&state), &reveal_uri(&created), &keys_body(&created)).await;
    assert_ne!(answer.status, StatusCode::OK);
    assert!(!String::from_utf8_lossy(&answer.raw).contains("gone for good"));
    drop(state);

    // The copy taken while the note was stored does open it: the checks above are meaningful.
    let (state, _clock) = state_with(&stored, |_| {});
    let answer = post_json(&app_of(&state), &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["message"], "gone for good");
    drop(state);

    // And the record is gone from the later copy.
    let (state, _clock) = state_with(&after, |_| {});
    let answer = post_json(&app_of(&state), &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

/// The router of `state`.
fn app_of(state: &AppState) -> Router {
    app(state.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_note_is_shredded_by_the_sweeper() {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = state_with(dir.path(), |_| {});
    let app = app(state.clone());
    create(&app, json!({ "message": "short-lived", "ttl_secs": 5 })).await;
    let keys = dir.path().join("notes.redb.keys");
    assert!(std::fs::read(&keys).unwrap().iter().any(|&byte| byte != 0));
    clock.advance(5);
    assert_eq!(state.sweep_expired().await.unwrap(), 1);
    // Erased and synced before the sweep returned.
    assert!(std::fs::read(&keys).unwrap().iter().all(|&byte| byte == 0));
}

#[tokio::test]
async fn clients_over_their_rate_limit_get_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(dir.path(), |config| {
        config.create_per_minute = 2;
        config.reveal_per_minute = 1;
        config.trusted_proxies = vec!["10.0.0.1".parse().unwrap()];
    });
    let client: SocketAddr = "192.0.2.10:5000".parse().unwrap();
    let limited = app(state.clone()).layer(MockConnectInfo(client));
    let body = json!({ "message": "m" });
    let first = post_json(&limited, "/api/secrets", &body).await;
    assert_eq!(first.status, 201, "{first:?}");
    let created = create(&limited, body.clone()).await;
    let refused = post_json(&limited, "/api/secrets", &body).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(refused.body["error"].is_string());

    // Reveals have their own limit.
    let reveal = post_json(&limited, &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(reveal.status, StatusCode::OK);
    let again = post_json(&limited, &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);

    // Peeks, on either API, share a limit of their own at the reveal rate (here 1 a minute).
    let peek = format!("/api/secrets/{}", created["id"].as_str().unwrap());
    let e2e_peek = format!("/api/e2e/notes/{}", created["id"].as_str().unwrap());
    assert_eq!(get(&limited, &peek).await.status, StatusCode::NOT_FOUND);
    let over = get(&limited, &e2e_peek).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(over.headers.contains_key("retry-after"));
    assert_eq!(
        get(&limited, &peek).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Another client is not affected; health checks are not limited.
    let other = app(state.clone()).layer(MockConnectInfo(
        "192.0.2.11:5000".parse::<SocketAddr>().unwrap(),
    ));
    assert_eq!(post_json(&other, "/api/secrets", &body).await.status, 201);
    assert_eq!(get(&other, &peek).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&limited, "/healthz").await.status, StatusCode::OK);

    // X-Forwarded-For from an untrusted peer is ignored: still the limited client.
    let spoofed = forwarded(&limited, "198.51.100.1", &body).await;
    assert_eq!(spoofed, StatusCode::TOO_MANY_REQUESTS);
    // From the trusted proxy, the forwarded client counts, not the proxy.
    let proxy = app(state).layer(MockConnectInfo(
        "10.0.0.1:443".parse::<SocketAddr>().unwrap(),
    ));
    for _ in 0..2 {
        assert_eq!(
            forwarded(&proxy, "198.51.100.1", &body).await,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        forwarded(&proxy, "198.51.100.1", &body).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        forwarded(&proxy, "198.51.100.2", &body).await,
        StatusCode::CREATED
    );
}

/// A create with `X-Forwarded-For: client`; returns the status.
async fn forwarded(app: &Router, client: &str, body: &Value) -> StatusCode {
    use tower::ServiceExt as _;
    let request = axum::http::Request::post("/api/secrets")
        .header("content-type", "application/json")
        .header("x-forwarded-for", client)
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn metrics_count_events_without_note_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(dir.path(), |_| {});
    let app = app(state.clone());
    let created = create(&app, json!({ "message": "m", "passphrase": "pw" })).await;
    let wrong = json!({ "compact": created["compact"], "passphrase": "no" });
    assert_eq!(
        post_json(&app, &reveal_uri(&created), &wrong).await.status,
        403
    );
    let right = json!({ "compact": created["compact"], "passphrase": "pw" });
    assert_eq!(
        post_json(&app, &reveal_uri(&created), &right).await.status,
        200
    );
    let other = create(&app, json!({ "message": "m" })).await;
    let bad_keys = json!({ "compact": created["compact"] });
    assert_eq!(
        post_json(&app, &reveal_uri(&other), &bad_keys).await.status,
        403
    );

    // Never on the public application: only the metrics listener's.
    assert_eq!(get(&app, "/metrics").await.status, StatusCode::NOT_FOUND);
    let answer = get(&paravoid::metrics_app(state.clone()), "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    let text = String::from_utf8(answer.raw).unwrap();
    for line in [
        "paravoid_notes_created_total 2",
        "paravoid_notes_revealed_total 1",
        "paravoid_wrong_passphrase_total 1",
        "paravoid_wrong_keys_total 1",
        "paravoid_argon2_queue_depth 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    assert!(text.contains("paravoid_commit_seconds_bucket"));
    assert!(text.contains("paravoid_write_batch_jobs_count"));
    for id in [&created["id"], &other["id"]] {
        assert!(!text.contains(id.as_str().unwrap()));
    }
}

#[tokio::test]
async fn a_full_store_answers_507_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = state_with(dir.path(), |config| config.max_notes = 2);
    let app = app(state.clone());
    let first = create(&app, json!({ "message": "one" })).await;
    create(&app, json!({ "message": "two" })).await;
    let full = post_json(&app, "/api/secrets", &json!({ "message": "three" })).await;
    assert_eq!(full.status, StatusCode::INSUFFICIENT_STORAGE, "{full:?}");
    assert!(full.headers.contains_key("retry-after"));
    assert!(full.body["error"].as_str().unwrap().contains("full"));
    assert_eq!(state.stored_notes().unwrap(), 2);
    // A note read makes room again.
    let reveal = post_json(&app, &reveal_uri(&first), &keys_body(&first)).await;
    assert_eq!(reveal.status, StatusCode::OK);
    assert_eq!(
        post_json(&app, "/api/secrets", &json!({ "message": "three" }))
            .await
            .status,
        StatusCode::CREATED
    );
}
