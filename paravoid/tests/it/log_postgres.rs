//! The `paravoid` binary on PostgreSQL with `RUST_LOG=trace`: the driver logs each statement's
//! parameters at debug level, and none of them (note ids, sealed rows) may reach the log.
//!
//! PostgreSQL runs as a throwaway cluster (`support/pg_cluster.rs`); without it this test fails
//! under `QSMM_REQUIRE_EXTERNAL=1` and is skipped with a printed message elsewhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use qsmm_test_support::pg_cluster;

use std::process::Command;
use std::time::Duration;

use qsmm_test_support::server_process::ServerProcess;
use reqwest::StatusCode;
use serde_json::{Value, json};

use pg_cluster::PgCluster;

/// Every filter a user could write to see the driver's statements, at once.
const RUST_LOG: &str = "trace,tokio_postgres=trace,tokio_postgres::query=trace,\
                        tokio_postgres::prepare=trace,postgres_protocol=trace";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_query_parameter_reaches_the_log_at_trace() {
    let Some(cluster) = PgCluster::start() else {
        return;
    };
    let url = cluster.create_database("logscan");
    let key =
        pg_cluster::write_store_key(&cluster.path("logscan.key"), &pg_cluster::store_secret());
    let mut command = Command::new(env!("CARGO_BIN_EXE_paravoid"));
    command
        .args(["--bind", "127.0.0.1:0", "--store", &url, "--store-key"])
        .arg(&key)
        .args(["--sweep-interval-secs", "1"])
        .env("RUST_LOG", RUST_LOG);
    let mut server = ServerProcess::start(command, Duration::from_secs(60));
    let base = server.base().to_owned();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Notes with a passphrase, each tried once with a wrong one (an update of the try counter),
    // one revealed (a delete), the rest kept for the scan of their rows.
    let mut created = Vec::new();
    for i in 0..4 {
        let body = json!({ "message": format!("logged note {i}"), "passphrase": "right one" });
        let response = http
            .post(format!("{base}/api/secrets"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let answer: Value = response.json().await.unwrap();
        let link = format!("{base}{}", answer["link"].as_str().unwrap());
        let peek = http
            .get(format!(
                "{base}/api/secrets/{}",
                answer["id"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(peek.status(), StatusCode::OK);
        let mut body = json!({ "compact": answer["compact"], "passphrase": "wrong" });
        let response = http.post(&link).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        if i == 0 {
            body["passphrase"] = json!("right one");
            let response = http.post(&link).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        created.push(answer);
    }
    // Let the sweeper run a few times too.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let rows = cluster.pg_output(
        "psql",
        &[
            &url,
            "-At",
            "-F",
            " ",
            "-c",
            "SELECT id, encode(sealed, 'hex') FROM paravoid_notes",
        ],
    );
    assert!(rows.status.success(), "{rows:?}");
    let rows = String::from_utf8(rows.stdout).unwrap();
    server.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log().join("\n");

    assert!(log.contains("listening on"), "the log was captured");
    assert!(
        log.contains("DEBUG") || log.contains("TRACE"),
        "the log runs at debug level or lower"
    );
    let rows: Vec<(&str, &str)> = rows
        .lines()
        .map(|line| line.split_once(' ').unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "three notes kept");
    for answer in &created {
        let id = answer["id"].as_str().unwrap();
        assert!(!log.contains(id), "the log holds note id {id}");
    }
    for (id, sealed_hex) in rows {
        assert!(!log.contains(id), "the log holds note id {id}");
        assert!(
            !log.contains(&id.replace('-', "")),
            "the log holds note id {id}"
        );
        let sealed = hex::decode(sealed_hex).unwrap();
        // As the driver prints a byte string (`[1, 2, 3, …]`), and as hex.
        let debug = format!("{:?}", &sealed[..12]);
        let debug = debug.trim_end_matches(']');
        assert!(!log.contains(debug), "the log holds a sealed row: {debug}");
        assert!(
            !log.contains(&sealed_hex[..24]),
            "the log holds a sealed row in hex"
        );
    }
}
