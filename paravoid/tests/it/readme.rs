//! The README's curl examples, run verbatim (only the port changes) against a live server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use std::process::Command;

use crate::support::{TestServer, config_in};
use paravoid::AppState;
use serde_json::{Value, json};

const START: &str = "<!-- readme-curl:start -->";
const END: &str = "<!-- readme-curl:end -->";
const README_BASE: &str = "http://localhost:3000";

/// The ```` ```sh ```` blocks between the markers, in order.
fn curl_blocks(readme: &str) -> Vec<String> {
    let start = readme.find(START).expect("start marker") + START.len();
    let end = readme.find(END).expect("end marker");
    let mut blocks = Vec::new();
    let mut rest = &readme[start..end];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + "```sh\n".len()..];
        let close = body.find("```").expect("closed block");
        blocks.push(body[..close].to_owned());
        rest = &body[close + 3..];
    }
    blocks
}

/// The shell variables the README's commands read, from a create answer.
fn variables(created: &Value) -> Vec<(&'static str, String)> {
    ["id", "dk", "classical_secret", "compact"]
        .into_iter()
        .zip(["ID", "DK", "CLASSICAL_SECRET", "COMPACT"])
        .map(|(field, name)| (name, created[field].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_curl_examples_work() {
    if Command::new("curl").arg("--version").output().is_err() {
        qsmm_test_support::external::skip("`curl` is not installed");
        return;
    }
    let readme = include_str!("../../README.md");
    let blocks = curl_blocks(readme);
    assert_eq!(
        blocks.len(),
        6,
        "create, peek, reveal, create, reveal, health"
    );
    for block in &blocks {
        assert!(block.trim_start().starts_with("curl "), "{block}");
        assert!(block.contains(README_BASE), "{block}");
    }

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(AppState::open(config_in(dir.path())).unwrap()).await;
    let mut env: Vec<(&str, String)> = Vec::new();
    let mut outputs = Vec::new();
    for block in &blocks {
        let command = block.replace(README_BASE, &server.base);
        let output = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("NO_PROXY", "*")
            .env("no_proxy", "*")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .output()
            .unwrap();
        assert!(output.status.success(), "{command}: {output:?}");
        let answer: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{command}: not JSON: {output:?}"));
        if answer.get("dk").is_some() {
            env = variables(&answer);
        }
        outputs.push(answer);
    }

    let first_id = outputs[0]["id"].clone();
    assert_eq!(outputs[0]["passphrase_required"], json!(false));
    assert_eq!(
        outputs[1],
        json!({ "id": first_id, "exists": true, "expires_at": outputs[0]["expires_at"],
                "passphrase_required": false })
    );
    assert_eq!(
        outputs[2],
        json!({ "id": first_id, "message": "the vault code is 4711" })
    );
    assert_eq!(outputs[3]["passphrase_required"], json!(true));
    assert_eq!(
        outputs[4],
        json!({ "id": outputs[3]["id"], "message": "the vault code is 4711" })
    );
    assert_eq!(outputs[5], json!({ "status": "ok", "store": "redb" }));
    server.stop().await;
}
