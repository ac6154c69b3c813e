//! The JSON API through the router (no socket): create, peek, reveal, expiry, errors, passphrases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use crate::support;

use std::sync::Arc;

use crate::support::{Backend, call, create, get, keys_body, post_json, reveal_uri};
use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paravoid::{AppState, MAX_PASSPHRASE_ATTEMPTS, ManualClock, app};
use serde_json::{Value, json};

async fn full_flow_create_peek_reveal_gone(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());

    let created = create(&app, json!({ "message": "hello, world", "ttl_secs": 600 })).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["expires_at"], json!(support::START + 600));
    assert_eq!(created["passphrase_required"], json!(false));
    assert_eq!(created["link"], json!(format!("/api/secrets/{id}/reveal")));
    assert_eq!(created["dk"].as_str().unwrap().len(), 4800);
    assert_eq!(created["classical_secret"].as_str().unwrap().len(), 64);
    let compact = created["compact"].as_str().unwrap();
    assert_eq!(compact.len(), 128);
    assert_eq!(created["share_path"], json!(format!("/s/{id}#{compact}")));

    // Peeking twice consumes nothing.
    for _ in 0..2 {
        let peek = get(&app, &format!("/api/secrets/{id}")).await;
        assert_eq!(peek.status, StatusCode::OK);
        assert_eq!(
            peek.body,
            json!({ "id": id, "exists": true, "expires_at": support::START + 600,
                    "passphrase_required": false })
        );
    }

    let revealed = post_json(&app, &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(revealed.status, StatusCode::OK, "{:?}", revealed.body);
    assert_eq!(
        revealed.body,
        json!({ "id": id, "message": "hello, world" })
    );

    let again = post_json(&app, &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.body, json!({ "error": "not found" }));
    let peek = get(&app, &format!("/api/secrets/{id}")).await;
    assert_eq!(peek.status, StatusCode::NOT_FOUND);
    assert_eq!(peek.raw, again.raw);
    assert_eq!(state.stored_notes().unwrap(), 0);
}

async fn every_key_form_reveals(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let message = "ünïcödé ✓ and \"quotes\" and \n newlines";

    // Expanded dk, in lower and upper case.
    for upper in [false, true] {
        let created = create(&app, json!({ "message": message })).await;
        let mut body = keys_body(&created);
        if upper {
            body["dk"] = json!(created["dk"].as_str().unwrap().to_uppercase());
        }
        let revealed = post_json(&app, &reveal_uri(&created), &body).await;
        assert_eq!(revealed.status, StatusCode::OK);
        assert_eq!(revealed.body["message"], json!(message));
    }

    // The 64-byte seed as hex, from the compact form.
    let created = create(&app, json!({ "message": message })).await;
    let raw = URL_SAFE_NO_PAD
        .decode(created["compact"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw.len(), 96);
    assert_eq!(
        hex::encode(&raw[64..]),
        created["classical_secret"].as_str().unwrap()
    );
    let body =
        json!({ "dk": hex::encode(&raw[..64]), "classical_secret": created["classical_secret"] });
    let revealed = post_json(&app, &reveal_uri(&created), &body).await;
    assert_eq!(revealed.status, StatusCode::OK);
    assert_eq!(revealed.body["message"], json!(message));

    // The compact form.
    let created = create(&app, json!({ "message": message })).await;
    let body = json!({ "compact": created["compact"] });
    let revealed = post_json(&app, &reveal_uri(&created), &body).await;
    assert_eq!(revealed.status, StatusCode::OK);
    assert_eq!(revealed.body["message"], json!(message));
}

async fn wrong_keys_neither_reveal_nor_burn(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let target = create(&app, json!({ "message": "target" })).await;
    let other = create(&app, json!({ "message": "other" })).await;
    let uri = reveal_uri(&target);

    let mut mixed = keys_body(&target);
    mixed["classical_secret"] = other["classical_secret"].clone();
    let mut flipped = keys_body(&target);
    let mut classical = hex::decode(target["classical_secret"].as_str().unwrap()).unwrap();
    classical[0] ^= 1;
    flipped["classical_secret"] = json!(hex::encode(classical));
    let wrong_bodies = [
        keys_body(&other),
        json!({ "compact": other["compact"] }),
        mixed,
        flipped,
    ];
    for body in &wrong_bodies {
        for _ in 0..3 {
            let answer = post_json(&app, &uri, body).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN);
            assert_eq!(answer.body, json!({ "error": "wrong link keys" }));
        }
    }
    // Still there, and still opens with the right keys.
    assert_eq!(
        get(
            &app,
            &format!("/api/secrets/{}", target["id"].as_str().unwrap())
        )
        .await
        .status,
        StatusCode::OK
    );
    let revealed = post_json(&app, &uri, &keys_body(&target)).await;
    assert_eq!(revealed.body["message"], json!("target"));
    // The other note was not touched by being used as wrong keys.
    let revealed = post_json(&app, &reveal_uri(&other), &keys_body(&other)).await;
    assert_eq!(revealed.body["message"], json!("other"));
}

async fn notes_expire_with_the_clock(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());
    let created = create(&app, json!({ "message": "short-lived", "ttl_secs": 10 })).await;
    let peek_uri = format!("/api/secrets/{}", created["id"].as_str().unwrap());

    clock.advance(9);
    assert_eq!(get(&app, &peek_uri).await.status, StatusCode::OK);
    clock.advance(1);
    let peek = get(&app, &peek_uri).await;
    assert_eq!(peek.status, StatusCode::NOT_FOUND);
    assert_eq!(peek.body, json!({ "error": "not found" }));
    // The peek removed it at once.
    assert_eq!(state.stored_notes().unwrap(), 0);

    // Reveal of an expired note: 404, and removed.
    let created = create(&app, json!({ "message": "short-lived", "ttl_secs": 5 })).await;
    clock.advance(5);
    assert_eq!(state.stored_notes().unwrap(), 1);
    let answer = post_json(&app, &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body, json!({ "error": "not found" }));
    assert_eq!(state.stored_notes().unwrap(), 0);

    // The default TTL applies without ttl_secs.
    let created = create(&app, json!({ "message": "default" })).await;
    assert_eq!(
        created["expires_at"],
        json!(clock_now(&clock) + state.config().default_ttl_secs)
    );
}

fn clock_now(clock: &ManualClock) -> u64 {
    use paravoid::Clock as _;
    clock.now_unix()
}

async fn sweeper_removes_expired_notes_only(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());
    let short = create(&app, json!({ "message": "a", "ttl_secs": 60 })).await;
    for _ in 0..3 {
        create(&app, json!({ "message": "b", "ttl_secs": 60 })).await;
    }
    let long = create(&app, json!({ "message": "c", "ttl_secs": 3600 })).await;
    assert_eq!(state.stored_notes().unwrap(), 5);
    assert_eq!(state.sweep_expired().await.unwrap(), 0);
    clock.advance(60);
    assert_eq!(state.sweep_expired().await.unwrap(), 4);
    assert_eq!(state.stored_notes().unwrap(), 1);
    assert_eq!(
        post_json(&app, &reveal_uri(&short), &keys_body(&short))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let revealed = post_json(&app, &reveal_uri(&long), &keys_body(&long)).await;
    assert_eq!(revealed.body["message"], json!("c"));
}

async fn the_background_sweeper_runs(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(support::START));
    let mut config = support::config_on(backend, dir.path());
    config.sweep_interval_secs = 1;
    let state = AppState::open_with_clock(config, clock.clone()).unwrap();
    let server = support::TestServer::start(state.clone()).await;
    let client = support::client();
    let created: Value = client
        .post(server.url("/api/secrets"))
        .json(&json!({ "message": "x", "ttl_secs": 1 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(created["id"].is_string());
    assert_eq!(state.stored_notes().unwrap(), 1);
    clock.advance(1);
    // The sweeper ticks every second; give it a few.
    let mut remaining = 1;
    for _ in 0..50 {
        remaining = state.stored_notes().unwrap();
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(remaining, 0);
    server.stop().await;
}

async fn passphrase_right_first_time(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let created = create(
        &app,
        json!({ "message": "guarded", "passphrase": "correct horse" }),
    )
    .await;
    assert_eq!(created["passphrase_required"], json!(true));
    let peek = get(
        &app,
        &format!("/api/secrets/{}", created["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(peek.body["passphrase_required"], json!(true));

    // No passphrase: refused, not counted.
    for _ in 0..(MAX_PASSPHRASE_ATTEMPTS + 2) {
        let answer = post_json(&app, &reveal_uri(&created), &keys_body(&created)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(
            answer.body,
            json!({ "error": "this note needs a passphrase" })
        );
    }
    let mut body = json!({ "compact": created["compact"], "passphrase": "correct horse" });
    let revealed = post_json(&app, &reveal_uri(&created), &body).await;
    assert_eq!(revealed.status, StatusCode::OK);
    assert_eq!(revealed.body["message"], json!("guarded"));
    body["passphrase"] = json!("correct horse");
    assert_eq!(
        post_json(&app, &reveal_uri(&created), &body).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn passphrase_four_wrong_then_right(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let created = create(&app, json!({ "message": "guarded", "passphrase": "pw" })).await;
    let uri = reveal_uri(&created);
    let wrong = json!({ "compact": created["compact"], "passphrase": "not it" });

    for attempt in 1..MAX_PASSPHRASE_ATTEMPTS {
        let answer = post_json(&app, &uri, &wrong).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(
            answer.body,
            json!({ "error": "wrong passphrase",
                    "attempts_left": MAX_PASSPHRASE_ATTEMPTS - attempt })
        );
        // Wrong link keys in between count for nothing.
        let other = create(&app, json!({ "message": "other" })).await;
        let answer = post_json(
            &app,
            &uri,
            &json!({ "compact": other["compact"], "passphrase": "pw" }),
        )
        .await;
        assert_eq!(answer.body, json!({ "error": "wrong link keys" }));
    }
    let mut right = keys_body(&created);
    right["passphrase"] = json!("pw");
    let revealed = post_json(&app, &uri, &right).await;
    assert_eq!(revealed.status, StatusCode::OK);
    assert_eq!(revealed.body["message"], json!("guarded"));
}

async fn passphrase_five_wrong_destroys(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state.clone());
    let created = create(&app, json!({ "message": "guarded", "passphrase": "pw" })).await;
    let uri = reveal_uri(&created);
    let id = created["id"].as_str().unwrap();
    for attempt in 1..=MAX_PASSPHRASE_ATTEMPTS {
        let answer = post_json(
            &app,
            &uri,
            &json!({ "compact": created["compact"], "passphrase": "nope" }),
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(
            answer.body["attempts_left"],
            json!(MAX_PASSPHRASE_ATTEMPTS - attempt)
        );
    }
    assert_eq!(state.stored_notes().unwrap(), 0);
    assert_eq!(
        get(&app, &format!("/api/secrets/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let answer = post_json(
        &app,
        &uri,
        &json!({ "compact": created["compact"], "passphrase": "pw" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body, json!({ "error": "not found" }));
}

async fn failed_attempts_survive_a_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app1 = app(state);
    let created = create(&app1, json!({ "message": "guarded", "passphrase": "pw" })).await;
    let uri = reveal_uri(&created);
    let wrong = json!({ "compact": created["compact"], "passphrase": "nope" });
    for _ in 0..3 {
        post_json(&app1, &uri, &wrong).await;
    }
    drop(app1);
    let (state, _clock) = support::state_on(backend, dir.path());
    let app2 = app(state);
    let answer = post_json(&app2, &uri, &wrong).await;
    assert_eq!(answer.body["attempts_left"], json!(1));
}

async fn passphrase_given_for_a_plain_note_is_ignored(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let created = create(&app, json!({ "message": "plain" })).await;
    let mut body = keys_body(&created);
    body["passphrase"] = json!("anything");
    let revealed = post_json(&app, &reveal_uri(&created), &body).await;
    assert_eq!(revealed.status, StatusCode::OK);
    assert_eq!(revealed.body["message"], json!("plain"));
}

async fn every_response_has_no_store_and_nosniff(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let app = app(state);
    let created = create(&app, json!({ "message": "m" })).await;
    let answers = [
        get(&app, "/healthz").await,
        get(&app, "/api/openapi.json").await,
        get(
            &app,
            &format!("/api/secrets/{}", created["id"].as_str().unwrap()),
        )
        .await,
        post_json(&app, "/api/secrets", &json!({ "message": "m" })).await,
        post_json(&app, &reveal_uri(&created), &keys_body(&created)).await,
        post_json(&app, &reveal_uri(&created), &keys_body(&created)).await,
        get(&app, "/api/secrets/not-a-uuid").await,
        get(&app, "/no/such/route").await,
        call(&app, Method::DELETE, "/api/secrets", None, "").await,
        post_json(&app, "/api/secrets", &json!({})).await,
    ];
    for answer in answers {
        assert_eq!(answer.headers["cache-control"], "no-store", "{answer:?}");
        assert_eq!(
            answer.headers["x-content-type-options"], "nosniff",
            "{answer:?}"
        );
    }
}

async fn health(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let answer = get(&app(state), "/healthz").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({ "status": "ok", "store": backend.name() })
    );
}

/// One bad request, named, and the error answer it must get.
struct Case {
    /// What the case checks; every assertion message starts with it.
    name: &'static str,
    method: Method,
    uri: String,
    content_type: Option<&'static str>,
    body: String,
    status: u16,
    error: String,
}

impl Case {
    /// A `POST` of `body` to `uri` as `application/json`.
    fn post(name: &'static str, uri: &str, body: impl Into<String>) -> Self {
        Self {
            name,
            method: Method::POST,
            uri: uri.to_owned(),
            content_type: Some(JSON),
            body: body.into(),
            status: 0,
            error: String::new(),
        }
    }

    /// A request without body or content type.
    fn request(name: &'static str, method: Method, uri: &str) -> Self {
        Self {
            method,
            content_type: None,
            ..Self::post(name, uri, "")
        }
    }

    /// The same request with another content type (or none).
    fn content_type(self, content_type: Option<&'static str>) -> Self {
        Self {
            content_type,
            ..self
        }
    }

    /// The same request with an `application/json` body.
    fn json_body(self, body: impl Into<String>) -> Self {
        Self {
            content_type: Some(JSON),
            body: body.into(),
            ..self
        }
    }

    /// The expected answer: `status` with the body `{"error": error}`.
    fn answers(self, status: u16, error: &str) -> Self {
        Self {
            status,
            error: error.to_owned(),
            ..self
        }
    }
}

const JSON: &str = "application/json";

/// Each bad request with its status and exact error body. No 5xx, no echo of input.
async fn bad_inputs_get_the_right_4xx(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let config = state.config().clone();
    let app = app(state);
    let live = create(&app, json!({ "message": "live" })).await;
    let reveal = reveal_uri(&live);
    let missing_reveal = format!("/api/secrets/{}/reveal", uuid::Uuid::new_v4());
    let dk = live["dk"].as_str().unwrap().to_owned();
    let cs = live["classical_secret"].as_str().unwrap().to_owned();
    let compact = live["compact"].as_str().unwrap().to_owned();

    let schema = "request body does not match the schema: a field is missing, unknown, null or \
                  of the wrong type";
    let ttl = format!(
        "ttl_secs must be an integer between 1 and {}",
        config.max_ttl_secs
    );
    let dk_error =
        "dk must be hex of the 2400-byte expanded decapsulation key or of the 64-byte seed";
    let cs_error = "classical_secret must be 64 hex digits (32 bytes)";
    let compact_error = "compact must be 128 characters of unpadded base64url (96 bytes)";
    let either = "give either `dk` and `classical_secret`, or `compact`";
    let too_big = "a".repeat(config.max_message_bytes + 1);
    let mut corrupted_dk = dk.clone();
    // Inside H(ek), which FIPS 203 checks (z, the last 32 bytes, is not checkable).
    corrupted_dk.replace_range(4680..4690, "0000000000");
    let mut padded_compact = compact[..126].to_owned();
    padded_compact.push_str("==");

    let cases = [
        // Syntax and media type.
        Case::post("unclosed JSON object", "/api/secrets", "{")
            .answers(400, "request body is not valid JSON"),
        Case::post("empty body", "/api/secrets", "").answers(400, "request body is not valid JSON"),
        Case::post(
            "trailing data after the JSON value",
            "/api/secrets",
            r#"{"message":"x"} trailing"#,
        )
        .answers(400, "request body is not valid JSON"),
        Case::post("lone UTF-16 surrogate", "/api/secrets", "\"\\ud800\"")
            .answers(400, "request body is not valid JSON"),
        Case::post("no content type", "/api/secrets", r#"{"message":"x"}"#)
            .content_type(None)
            .answers(415, "expected Content-Type: application/json"),
        Case::post(
            "text/plain content type",
            "/api/secrets",
            r#"{"message":"x"}"#,
        )
        .content_type(Some("text/plain"))
        .answers(415, "expected Content-Type: application/json"),
        Case::post("form-encoded body", "/api/secrets", "message=x")
            .content_type(Some("application/x-www-form-urlencoded"))
            .answers(415, "expected Content-Type: application/json"),
        Case::post("text/plain content type on reveal", &reveal, "{}")
            .content_type(Some("text/plain"))
            .answers(415, "expected Content-Type: application/json"),
        // Schema of the create body.
        Case::post("create without message", "/api/secrets", "{}")
            .answers(422, "missing field `message`"),
        Case::post("array instead of object", "/api/secrets", "[]").answers(422, schema),
        Case::post("null instead of object", "/api/secrets", "null").answers(422, schema),
        Case::post("message is a number", "/api/secrets", r#"{"message": 5}"#).answers(422, schema),
        Case::post("message is null", "/api/secrets", r#"{"message": null}"#).answers(422, schema),
        Case::post(
            "unknown field",
            "/api/secrets",
            r#"{"message": "x", "extra": 1}"#,
        )
        .answers(422, schema),
        Case::post(
            "ttl_secs is null",
            "/api/secrets",
            r#"{"message": "x", "ttl_secs": null}"#,
        )
        .answers(422, schema),
        Case::post(
            "ttl_secs is a string",
            "/api/secrets",
            r#"{"message": "x", "ttl_secs": "60"}"#,
        )
        .answers(422, schema),
        Case::post(
            "ttl_secs is a fraction",
            "/api/secrets",
            r#"{"message": "x", "ttl_secs": 1.5}"#,
        )
        .answers(422, schema),
        Case::post(
            "ttl_secs overflows u64",
            "/api/secrets",
            r#"{"message": "x", "ttl_secs": 99999999999999999999}"#,
        )
        .answers(422, schema),
        Case::post(
            "passphrase is null",
            "/api/secrets",
            r#"{"message": "x", "passphrase": null}"#,
        )
        .answers(422, schema),
        Case::post(
            "passphrase is a number",
            "/api/secrets",
            r#"{"message": "x", "passphrase": 7}"#,
        )
        .answers(422, schema),
        Case::post("empty message", "/api/secrets", r#"{"message": ""}"#)
            .answers(422, "message must not be empty"),
        Case::post(
            "ttl_secs is zero",
            "/api/secrets",
            r#"{"message": "x", "ttl_secs": 0}"#,
        )
        .answers(422, &ttl),
        Case::post(
            "ttl_secs is negative",
            "/api/secrets",
            r#"{"message": "x", "ttl_secs": -5}"#,
        )
        .answers(422, &ttl),
        Case::post(
            "ttl_secs above the maximum",
            "/api/secrets",
            format!(
                r#"{{"message": "x", "ttl_secs": {}}}"#,
                config.max_ttl_secs + 1
            ),
        )
        .answers(422, &ttl),
        Case::post(
            "empty passphrase on create",
            "/api/secrets",
            r#"{"message": "x", "passphrase": ""}"#,
        )
        .answers(422, "passphrase must not be empty"),
        Case::post(
            "passphrase of 1025 characters",
            "/api/secrets",
            json!({"message": "x", "passphrase": "p".repeat(1025)}).to_string(),
        )
        .answers(422, "passphrase too long: at most 1024 characters"),
        Case::post(
            "message one byte too large",
            "/api/secrets",
            json!({"message": too_big}).to_string(),
        )
        .answers(
            413,
            &format!(
                "message too large: at most {} bytes",
                config.max_message_bytes
            ),
        ),
        Case::post(
            "body above the body limit",
            "/api/secrets",
            format!("\"{}\"", "a".repeat(config.max_body_bytes())),
        )
        .answers(413, "request body too large"),
        // Ids.
        Case::request(
            "peek of a malformed id",
            Method::GET,
            "/api/secrets/not-a-uuid",
        )
        .answers(404, "not found"),
        Case::request(
            "peek of a simple-form uuid",
            Method::GET,
            &format!("/api/secrets/{}", uuid::Uuid::new_v4().simple()),
        )
        .answers(404, "not found"),
        Case::request(
            "peek of a percent-encoded id",
            Method::GET,
            "/api/secrets/%FF%FE",
        )
        .answers(404, "not found"),
        Case::request(
            "peek of an unknown note",
            Method::GET,
            &format!("/api/secrets/{}", uuid::Uuid::new_v4()),
        )
        .answers(404, "not found"),
        Case::post(
            "reveal of a malformed id",
            "/api/secrets/not-a-uuid/reveal",
            keys_body(&live).to_string(),
        )
        .answers(404, "not found"),
        Case::post(
            "reveal of an unknown note",
            &missing_reveal,
            keys_body(&live).to_string(),
        )
        .answers(404, "not found"),
        // Reveal bodies.
        Case::post("unclosed JSON on reveal", &reveal, "{")
            .answers(400, "request body is not valid JSON"),
        Case::post("reveal without keys", &reveal, "{}").answers(422, either),
        Case::post(
            "dk without classical_secret",
            &reveal,
            json!({"dk": dk}).to_string(),
        )
        .answers(422, either),
        Case::post(
            "classical_secret without dk",
            &reveal,
            json!({"classical_secret": cs}).to_string(),
        )
        .answers(422, either),
        Case::post(
            "both key forms at once",
            &reveal,
            json!({"dk": dk, "classical_secret": cs, "compact": compact}).to_string(),
        )
        .answers(422, either),
        Case::post(
            "unknown field on reveal",
            &reveal,
            json!({"compact": compact, "extra": true}).to_string(),
        )
        .answers(422, schema),
        Case::post(
            "compact is null",
            &reveal,
            json!({"compact": null}).to_string(),
        )
        .answers(422, schema),
        Case::post(
            "classical_secret is a number",
            &reveal,
            json!({"dk": dk, "classical_secret": 5}).to_string(),
        )
        .answers(422, schema),
        Case::post(
            "dk is not hex",
            &reveal,
            json!({"dk": "zz", "classical_secret": cs}).to_string(),
        )
        .answers(422, dk_error),
        Case::post(
            "dk one hex digit short",
            &reveal,
            json!({"dk": &dk[..4798], "classical_secret": cs}).to_string(),
        )
        .answers(422, dk_error),
        Case::post(
            "dk one byte too long",
            &reveal,
            json!({"dk": format!("{dk}00"), "classical_secret": cs}).to_string(),
        )
        .answers(422, dk_error),
        Case::post(
            "dk of the right length with a non-hex digit",
            &reveal,
            json!({"dk": format!("{}zz", &dk[..4798]), "classical_secret": cs}).to_string(),
        )
        .answers(422, dk_error),
        Case::post(
            "expanded dk failing the FIPS 203 hash check",
            &reveal,
            json!({"dk": corrupted_dk, "classical_secret": cs}).to_string(),
        )
        .answers(403, "wrong link keys"),
        Case::post(
            "classical_secret one byte short",
            &reveal,
            json!({"dk": dk, "classical_secret": &cs[..62]}).to_string(),
        )
        .answers(422, cs_error),
        Case::post(
            "classical_secret with a non-hex digit",
            &reveal,
            json!({"dk": dk, "classical_secret": format!("{}g", &cs[..63])}).to_string(),
        )
        .answers(422, cs_error),
        Case::post(
            "compact one character short",
            &reveal,
            json!({"compact": &compact[..127]}).to_string(),
        )
        .answers(422, compact_error),
        Case::post(
            "compact with padding",
            &reveal,
            json!({"compact": padded_compact}).to_string(),
        )
        .answers(422, compact_error),
        Case::post(
            "compact with standard base64 characters",
            &reveal,
            json!({"compact": format!("{}+/", &compact[..126])}).to_string(),
        )
        .answers(422, compact_error),
        Case::post(
            "empty passphrase on reveal",
            &reveal,
            json!({"compact": compact, "passphrase": ""}).to_string(),
        )
        .answers(422, "passphrase must not be empty"),
        // Routing.
        Case::request("unknown route", Method::GET, "/no/such/route").answers(404, "not found"),
        Case::request("DELETE on the collection", Method::DELETE, "/api/secrets")
            .answers(405, "method not allowed"),
        Case::request("PUT on a reveal URI", Method::PUT, &reveal)
            .json_body("{}")
            .answers(405, "method not allowed"),
        Case::request("GET on a reveal URI", Method::GET, &reveal)
            .answers(405, "method not allowed"),
    ];
    for case in cases {
        let Case {
            name,
            method,
            uri,
            content_type,
            body,
            status,
            error,
        } = case;
        let answer = call(&app, method.clone(), &uri, content_type, body).await;
        let label = format!("{name} ({method} {uri})");
        assert_eq!(answer.status.as_u16(), status, "{label}: {:?}", answer.body);
        assert_eq!(answer.body, json!({ "error": error }), "{label}");
        assert_eq!(
            answer.headers["content-type"], "application/json",
            "{label}"
        );
        // Nothing the client sent comes back, keys least of all.
        let text = String::from_utf8_lossy(&answer.raw);
        assert!(
            !text.contains(&dk[..64]) && !text.contains(&cs) && !text.contains(&compact[..40]),
            "{label}"
        );
    }

    // None of that burned the note.
    let revealed = post_json(&app, &reveal, &keys_body(&live)).await;
    assert_eq!(revealed.body["message"], json!("live"));
}

async fn the_largest_message_fits(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (state, _clock) = support::state_on(backend, dir.path());
    let max = state.config().max_message_bytes;
    let app = app(state);
    // Multi-byte characters count as bytes: 2 bytes each.
    let message = "é".repeat(max / 2);
    let created = create(&app, json!({ "message": message })).await;
    let revealed = post_json(&app, &reveal_uri(&created), &keys_body(&created)).await;
    assert_eq!(revealed.body["message"], json!(message));
    let over = format!("{}a", "é".repeat(max / 2));
    let answer = post_json(&app, "/api/secrets", &json!({ "message": over })).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    // The longest escaped form of the largest message is still within the body limit.
    let escaped = format!(r#"{{"message": "{}"}}"#, "\\u0041".repeat(max));
    let answer = call(
        &app,
        Method::POST,
        "/api/secrets",
        Some("application/json"),
        escaped,
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

crate::on_both_stores!(
    full_flow_create_peek_reveal_gone,
    every_key_form_reveals,
    wrong_keys_neither_reveal_nor_burn,
    notes_expire_with_the_clock,
    sweeper_removes_expired_notes_only,
    the_background_sweeper_runs,
    passphrase_right_first_time,
    passphrase_four_wrong_then_right,
    passphrase_five_wrong_destroys,
    failed_attempts_survive_a_restart,
    passphrase_given_for_a_plain_note_is_ignored,
    every_response_has_no_store_and_nosniff,
    health,
    bad_inputs_get_the_right_4xx,
    the_largest_message_fits,
);
