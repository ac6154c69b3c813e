//! The OpenAPI document against the running server: every route is listed, every documented
//! response validates against its declared schema, and request bodies are accepted exactly when
//! the document says they are valid.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use std::collections::BTreeSet;

use crate::support::{TestServer, client, config_in};
use paravoid::{AppState, Config, openapi_document};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every route the server has, as `(method, OpenAPI path)`. Page routes are not part of the
/// JSON API and are not documented there.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/secrets"),
    ("get", "/api/secrets/{id}"),
    ("post", "/api/secrets/{id}/reveal"),
    ("post", "/api/e2e/notes"),
    ("get", "/api/e2e/notes/{id}"),
    ("post", "/api/e2e/notes/{id}/claim"),
    ("post", "/api/e2e/requests"),
    ("get", "/api/e2e/requests/{id}"),
    ("post", "/api/e2e/requests/{id}/response"),
    ("post", "/api/e2e/files"),
    ("get", "/api/e2e/notes/{id}/files/{index}"),
    ("get", "/api/e2e/limits"),
    ("get", "/healthz"),
    ("get", "/api/openapi.json"),
];

#[tokio::test]
async fn the_document_lists_exactly_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(AppState::open(config_in(dir.path())).unwrap()).await;
    let http = client();
    let response = http
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let listed: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(listed, expected);

    // Each documented path is routed: an undocumented method on it is 405, not 404.
    let id = uuid::Uuid::new_v4();
    for (_, path) in ROUTES {
        let url = server.url(&path.replace("{id}", &id.to_string()));
        let response = http.patch(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "error": "method not allowed" }));
    }
    // Every operation has an operationId, a 2xx answer, and only Error schemas for errors.
    for (method, path) in ROUTES {
        let operation = &doc["paths"][path][method];
        assert!(operation["operationId"].is_string(), "{method} {path}");
        for (status, answer) in operation["responses"].as_object().unwrap() {
            let json_schema = &answer["content"]["application/json"]["schema"];
            // A file download answers its sealed bytes; every other answer is JSON.
            let schema = if json_schema.is_object() {
                json_schema
            } else {
                &answer["content"]["application/octet-stream"]["schema"]
            };
            assert!(schema.is_object(), "{method} {path} {status}");
            if !status.starts_with('2') {
                assert_eq!(
                    schema["$ref"], "#/components/schemas/Error",
                    "{method} {path}"
                );
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn documented_limits_follow_the_configuration() {
    let mut config = Config::with_db("unused.redb");
    config.max_message_bytes = 1000;
    config.max_ttl_secs = 7200;
    config.default_ttl_secs = 60;
    let doc = openapi_document(&config);
    let create = &doc["components"]["schemas"]["CreateRequest"]["properties"];
    assert_eq!(create["message"]["x-maxBytes"], 1000);
    assert_eq!(create["ttl_secs"]["maximum"], 7200);
    assert_eq!(create["ttl_secs"]["default"], 60);
}

/// Sends `body` (JSON) to `path` and checks the answer against the document: the status is
/// documented for the operation and the body validates against the schema declared for it.
async fn checked(
    doc: &Value,
    server: &TestServer,
    method: &str,
    path_template: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let http = client();
    let url = server.url(path);
    let request = match method {
        "get" => http.get(url),
        "post" => http.post(url),
        _ => unreachable!(),
    };
    let request = match body {
        Some(body) => request.json(body),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let answer: Value = response.json().await.unwrap();
    let declared = &doc["paths"][path_template][method]["responses"][status.as_str()];
    assert!(
        declared.is_object(),
        "{method} {path_template}: status {status} is not documented"
    );
    let schema = &declared["content"]["application/json"]["schema"];
    if let Err(why) = validate(doc, schema, &answer) {
        panic!("{method} {path_template} {status}: {why}\n{answer}");
    }
    (status, answer)
}

/// [`checked`] calls on one document and server, each asserting the status it expects.
struct Checked<'a> {
    doc: &'a Value,
    server: &'a TestServer,
}

impl<'a> Checked<'a> {
    fn new(doc: &'a Value, server: &'a TestServer) -> Self {
        Self { doc, server }
    }

    /// `GET path` (of the operation `template`), checked; asserts `status`, returns the body.
    async fn get(&self, template: &str, path: &str, status: StatusCode) -> Value {
        self.expect("get", template, path, None, status).await
    }

    /// `POST body` to `path` (of the operation `template`), checked; asserts `status`, returns
    /// the body.
    async fn post(&self, template: &str, path: &str, body: &Value, status: StatusCode) -> Value {
        self.expect("post", template, path, Some(body), status)
            .await
    }

    async fn expect(
        &self,
        method: &str,
        template: &str,
        path: &str,
        body: Option<&Value>,
        status: StatusCode,
    ) -> Value {
        let (got, answer) = checked(self.doc, self.server, method, template, path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        answer
    }
}

#[tokio::test]
async fn the_limits_answer_validates_and_follows_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.max_file_bytes = 777;
    let state = AppState::open(config).unwrap();
    let doc = openapi_document(state.config());
    let server = TestServer::start(state).await;
    let api = Checked::new(&doc, &server);
    let path = "/api/e2e/limits";
    let limits = api.get(path, path, StatusCode::OK).await;
    assert_eq!(limits["max_file_bytes"], 777);
    assert_eq!(limits["files"], true);
}

#[tokio::test]
async fn real_answers_validate_against_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(config_in(dir.path())).unwrap();
    let doc = openapi_document(state.config());
    let server = TestServer::start(state).await;
    let api = Checked::new(&doc, &server);
    let create = "/api/secrets";
    let peek = "/api/secrets/{id}";
    let reveal = "/api/secrets/{id}/reveal";

    let plain = api
        .post(
            create,
            create,
            &json!({"message": "m"}),
            StatusCode::CREATED,
        )
        .await;
    let guarded = api
        .post(
            create,
            create,
            &json!({"message": "m", "ttl_secs": 60, "passphrase": "pw"}),
            StatusCode::CREATED,
        )
        .await;
    let plain_id = plain["id"].as_str().unwrap();
    let guarded_id = guarded["id"].as_str().unwrap();

    let peek_path = format!("/api/secrets/{plain_id}");
    api.get(peek, &peek_path, StatusCode::OK).await;
    api.get(peek, "/api/secrets/nope", StatusCode::NOT_FOUND)
        .await;

    let guarded_path = format!("/api/secrets/{guarded_id}/reveal");
    let wrong_keys = json!({"compact": plain["compact"]});
    api.post(reveal, &guarded_path, &wrong_keys, StatusCode::FORBIDDEN)
        .await;
    let no_passphrase = json!({"compact": guarded["compact"]});
    api.post(reveal, &guarded_path, &no_passphrase, StatusCode::FORBIDDEN)
        .await;
    let wrong = json!({"compact": guarded["compact"], "passphrase": "no"});
    let answer = api
        .post(reveal, &guarded_path, &wrong, StatusCode::FORBIDDEN)
        .await;
    assert_eq!(answer["attempts_left"], 4);
    let right = json!({"dk": guarded["dk"], "classical_secret": guarded["classical_secret"], "passphrase": "pw"});
    api.post(reveal, &guarded_path, &right, StatusCode::OK)
        .await;
    api.post(reveal, &guarded_path, &right, StatusCode::NOT_FOUND)
        .await;

    api.get("/healthz", "/healthz", StatusCode::OK).await;
    let served = api
        .get("/api/openapi.json", "/api/openapi.json", StatusCode::OK)
        .await;
    assert_eq!(served, doc);
    server.stop().await;
}

/// A note sealed on the client side (`qsmm_shield::note`, the reference of the browser code) as
/// an end-to-end create body, with its claim body.
fn e2e_bodies(passphrase: Option<&str>) -> (Value, Value) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let (stored, keys) = match passphrase {
        None => qsmm_shield::note::seal_note(b"m").unwrap(),
        Some(passphrase) => qsmm_shield::note::seal_note_with_passphrase_params(
            b"m",
            passphrase.as_bytes(),
            qsmm_shield::note::PassphraseParams::with_costs(128, 1, 1).unwrap(),
        )
        .unwrap(),
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(keys.to_compact().as_bytes())
        .unwrap();
    let mut claim = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(None, &raw)
        .expand(b"paravoid/v1/e2e/claim", &mut claim)
        .unwrap();
    let mut note = json!({
        "ek": b64(&stored.ek), "ct_kem": b64(&stored.ct_kem), "nonce": b64(&stored.nonce),
        "key_check": b64(&stored.key_check), "ciphertext": b64(&stored.ciphertext),
    });
    let mut create =
        json!({ "note": note.clone(), "claim_hash": b64(&sha2::Sha256::digest(claim)) });
    if let Some(params) = &stored.passphrase {
        note["argon2id"] = json!({
            "salt": b64(&params.salt), "m_cost_kib": params.m_cost_kib,
            "t_cost": params.t_cost, "p_cost": params.p_cost,
        });
        create["note"] = note;
        // Any 32 bytes: the claims below never get as far as the passphrase token.
        create["passphrase_hash"] = json!(b64(&[7; 32]));
    }
    (create, json!({ "claim_token": b64(&claim) }))
}

#[tokio::test]
async fn end_to_end_answers_validate_and_requests_follow_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(config_in(dir.path())).unwrap();
    let doc = openapi_document(state.config());
    let server = TestServer::start(state).await;
    let api = Checked::new(&doc, &server);
    let (create_path, peek, claim) = (
        "/api/e2e/notes",
        "/api/e2e/notes/{id}",
        "/api/e2e/notes/{id}/claim",
    );
    let (plain, plain_claim) = e2e_bodies(None);
    let (guarded, _) = e2e_bodies(Some("pw"));
    let schema = json!({"$ref": "#/components/schemas/E2eCreateRequest"});
    for body in [&plain, &guarded] {
        assert_eq!(validate(&doc, &schema, body), Ok(()));
    }
    let created = api
        .post(create_path, create_path, &plain, StatusCode::CREATED)
        .await;
    let guarded_created = api
        .post(create_path, create_path, &guarded, StatusCode::CREATED)
        .await;
    let id = created["id"].as_str().unwrap();
    let guarded_id = guarded_created["id"].as_str().unwrap();
    for note in [id, guarded_id] {
        let path = format!("/api/e2e/notes/{note}");
        api.get(peek, &path, StatusCode::OK).await;
    }
    let claim_path = format!("/api/e2e/notes/{id}/claim");
    let wrong = json!({ "claim_token": guarded["claim_hash"] });
    api.post(claim, &claim_path, &wrong, StatusCode::FORBIDDEN)
        .await;
    api.post(claim, &claim_path, &plain_claim, StatusCode::OK)
        .await;
    api.post(claim, &claim_path, &plain_claim, StatusCode::NOT_FOUND)
        .await;

    // Schema-valid exactly when not rejected as malformed.
    let http = client();
    let mut cases = vec![plain.clone(), guarded.clone()];
    let mut change = |base: &Value, pointer: &str, value: Option<Value>| {
        let mut body = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match value {
            Some(value) => target.insert(key.to_owned(), value),
            None => target.remove(key),
        };
        cases.push(body);
    };
    let nonce = plain["note"]["nonce"].as_str().unwrap().to_owned();
    let key_check = plain["note"]["key_check"].as_str().unwrap().to_owned();
    change(
        &plain,
        "/note/key_check",
        Some(json!(format!("{}B", &key_check[..42]))),
    );
    change(&plain, "/note/nonce", Some(json!(&nonce[1..])));
    change(
        &plain,
        "/note/ciphertext",
        Some(json!("AAAAAAAAAAAAAAAAAAAAAA")),
    );
    change(
        &plain,
        "/note/ciphertext",
        Some(json!("AAAAAAAAAAAAAAAAAAAAAAA")),
    );
    change(
        &plain,
        "/passphrase_hash",
        Some(guarded["passphrase_hash"].clone()),
    );
    change(&guarded, "/passphrase_hash", None);
    change(&guarded, "/note/argon2id/m_cost_kib", Some(json!(127)));
    change(&guarded, "/note/argon2id/p_cost", Some(json!(16)));
    change(&plain, "/message", Some(json!("m")));
    change(&plain, "/ttl_secs", Some(json!(1)));
    for body in &cases {
        let valid = validate(&doc, &schema, body).is_ok();
        let status = http
            .post(server.url(create_path))
            .json(body)
            .send()
            .await
            .unwrap()
            .status();
        let accepted = !matches!(status.as_u16(), 400 | 413 | 415 | 422);
        assert_eq!(
            valid, accepted,
            "{body:.300}: schema says {valid}, server {status}"
        );
    }
    server.stop().await;
}

/// For every body: the document calls it valid exactly when the server does not reject it as
/// malformed (400/413/415/422). Valid bodies may still be refused for their meaning (403/404).
#[tokio::test]
async fn the_server_enforces_exactly_the_documented_request_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(config_in(dir.path())).unwrap();
    let doc = openapi_document(state.config());
    let max_ttl = state.config().max_ttl_secs;
    let max_message = state.config().max_message_bytes;
    let server = TestServer::start(state).await;
    let http = client();

    let create_schema = json!({"$ref": "#/components/schemas/CreateRequest"});
    let create_bodies = [
        json!({"message": "m"}),
        json!({"message": "m", "ttl_secs": 1}),
        json!({"message": "m", "ttl_secs": max_ttl}),
        json!({"message": "m", "passphrase": "p"}),
        json!({"message": "m", "passphrase": "p".repeat(1024)}),
        json!({"message": "x".repeat(max_message)}),
        json!({}),
        json!([]),
        json!("m"),
        json!({"message": ""}),
        json!({"message": 1}),
        json!({"message": "m", "ttl_secs": 0}),
        json!({"message": "m", "ttl_secs": -1}),
        json!({"message": "m", "ttl_secs": max_ttl + 1}),
        json!({"message": "m", "ttl_secs": 1.5}),
        json!({"message": "m", "ttl_secs": "1"}),
        json!({"message": "m", "ttl_secs": null}),
        json!({"message": "m", "passphrase": ""}),
        json!({"message": "m", "passphrase": "p".repeat(1025)}),
        json!({"message": "m", "passphrase": null}),
        json!({"message": "m", "other": 1}),
    ];
    for body in &create_bodies {
        let valid = validate(&doc, &create_schema, body).is_ok();
        let status = http
            .post(server.url("/api/secrets"))
            .json(body)
            .send()
            .await
            .unwrap()
            .status();
        let accepted = !matches!(status.as_u16(), 400 | 413 | 415 | 422);
        assert_eq!(
            valid, accepted,
            "{body:.100}: schema says {valid}, server {status}"
        );
        assert!(!status.is_server_error());
    }

    let reveal_schema = json!({"$ref": "#/components/schemas/RevealRequest"});
    let hex = |n: usize| "ab".repeat(n);
    let compact = "A".repeat(128);
    let reveal_bodies = [
        json!({"dk": hex(2400), "classical_secret": hex(32)}),
        json!({"dk": hex(64), "classical_secret": hex(32)}),
        json!({"dk": hex(64).to_uppercase(), "classical_secret": hex(32).to_uppercase()}),
        json!({"dk": hex(64), "classical_secret": hex(32), "passphrase": "p"}),
        json!({"compact": compact}),
        json!({"compact": compact, "passphrase": "p"}),
        json!({}),
        json!({"passphrase": "p"}),
        json!({"dk": hex(64)}),
        json!({"classical_secret": hex(32)}),
        json!({"dk": hex(63), "classical_secret": hex(32)}),
        json!({"dk": hex(65), "classical_secret": hex(32)}),
        json!({"dk": hex(2399), "classical_secret": hex(32)}),
        json!({"dk": format!("{}g", &hex(64)[1..]), "classical_secret": hex(32)}),
        json!({"dk": hex(64), "classical_secret": hex(31)}),
        json!({"dk": hex(64), "classical_secret": format!("{}x", &hex(32)[1..])}),
        json!({"dk": hex(64), "classical_secret": hex(32), "compact": compact}),
        json!({"compact": &compact[1..]}),
        json!({"compact": format!("{compact}A")}),
        json!({"compact": format!("{}=", &compact[1..])}),
        json!({"compact": compact, "passphrase": ""}),
        json!({"compact": compact, "extra": 1}),
        json!({"compact": null}),
        json!({"dk": null, "classical_secret": hex(32)}),
    ];
    // An unknown id: valid bodies end in 404, malformed ones are rejected first.
    let url = server.url(&format!("/api/secrets/{}/reveal", uuid::Uuid::new_v4()));
    for body in &reveal_bodies {
        let valid = validate(&doc, &reveal_schema, body).is_ok();
        let status = http.post(&url).json(body).send().await.unwrap().status();
        let accepted = !matches!(status.as_u16(), 400 | 413 | 415 | 422);
        assert_eq!(
            valid, accepted,
            "{body:.100}: schema says {valid}, server {status}"
        );
        assert!(!status.is_server_error());
    }
    server.stop().await;
}

/// Validates `value` against an OpenAPI 3.0 schema: `$ref`, `type`, `required`, `properties`,
/// `additionalProperties: false`, `oneOf`, `enum`, string lengths, `pattern`, `format: uuid`
/// and integer bounds — the keywords the document uses.
fn validate(doc: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        if !target.is_object() {
            return Err(format!("dangling reference {reference}"));
        }
        return validate(doc, target, value);
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        let matching = choices
            .iter()
            .filter(|choice| validate(doc, choice, value).is_ok())
            .count();
        return if matching == 1 {
            Ok(())
        } else {
            Err(format!("{matching} oneOf branches match"))
        };
    }
    match schema["type"].as_str() {
        Some("object") => {
            let object = value.as_object().ok_or("not an object")?;
            for field in schema["required"].as_array().into_iter().flatten() {
                let field = field.as_str().unwrap();
                if !object.contains_key(field) {
                    return Err(format!("missing `{field}`"));
                }
            }
            let properties = schema["properties"].as_object();
            for (key, field) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => {
                        validate(doc, property, field).map_err(|why| format!("`{key}`: {why}"))?;
                    }
                    None if schema["additionalProperties"] == json!(false) => {
                        return Err(format!("unknown `{key}`"));
                    }
                    None => {}
                }
            }
        }
        Some("string") => {
            let text = value.as_str().ok_or("not a string")?;
            let chars = text.chars().count();
            if schema["minLength"]
                .as_u64()
                .is_some_and(|min| (chars as u64) < min)
            {
                return Err("too short".into());
            }
            if schema["maxLength"]
                .as_u64()
                .is_some_and(|max| (chars as u64) > max)
            {
                return Err("too long".into());
            }
            if let Some(pattern) = schema["pattern"].as_str()
                && !pattern::matches(pattern, text)
            {
                return Err(format!("does not match {pattern}"));
            }
            if schema["format"] == "uuid" && uuid::Uuid::try_parse(text).is_err() {
                return Err("not a uuid".into());
            }
        }
        Some("integer") => {
            let Some(number) = value
                .as_i64()
                .map(i128::from)
                .or(value.as_u64().map(i128::from))
            else {
                return Err("not an integer".into());
            };
            if schema["minimum"]
                .as_i64()
                .is_some_and(|min| number < i128::from(min))
            {
                return Err("below minimum".into());
            }
            if schema["maximum"]
                .as_u64()
                .is_some_and(|max| number > i128::from(max))
            {
                return Err("above maximum".into());
            }
        }
        Some("boolean") => {
            value.as_bool().ok_or("not a boolean")?;
        }
        Some(other) => return Err(format!("the validator does not know type {other}")),
        None => {}
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err("not in enum".into());
    }
    Ok(())
}

/// A backtracking matcher for the regular-expression subset the document uses: `^…$` anchors,
/// literals, `[…]` classes with ranges, `(…|…)` groups, and `{n}` / `{n,m}` / `+` / `*`.
mod pattern {
    #[derive(Debug)]
    enum Atom {
        Literal(char),
        Class(Vec<(char, char)>),
        Group(Vec<Vec<Piece>>),
    }

    #[derive(Debug)]
    struct Piece {
        atom: Atom,
        min: usize,
        max: usize,
    }

    pub(crate) fn matches(pattern: &str, text: &str) -> bool {
        let inner = pattern
            .strip_prefix('^')
            .and_then(|p| p.strip_suffix('$'))
            .expect("document patterns are anchored");
        let chars: Vec<char> = inner.chars().collect();
        let mut at = 0;
        let alternatives = parse_alternatives(&chars, &mut at);
        assert_eq!(at, chars.len(), "unparsed pattern {pattern}");
        let text: Vec<char> = text.chars().collect();
        alternatives
            .iter()
            .any(|seq| match_seq(seq, &text, 0, &mut |end| end == text.len()))
    }

    fn parse_alternatives(p: &[char], at: &mut usize) -> Vec<Vec<Piece>> {
        let mut alternatives = vec![Vec::new()];
        while let Some(&c) = p.get(*at) {
            let atom = match c {
                ')' => break,
                '|' => {
                    *at += 1;
                    alternatives.push(Vec::new());
                    continue;
                }
                '(' => {
                    *at += 1;
                    let group = parse_alternatives(p, at);
                    assert_eq!(p.get(*at), Some(&')'));
                    *at += 1;
                    Atom::Group(group)
                }
                '[' => {
                    *at += 1;
                    let mut ranges = Vec::new();
                    while p[*at] != ']' {
                        let low = p[*at];
                        if p.get(*at + 1) == Some(&'-') && p.get(*at + 2).is_some_and(|&c| c != ']')
                        {
                            ranges.push((low, p[*at + 2]));
                            *at += 3;
                        } else {
                            ranges.push((low, low));
                            *at += 1;
                        }
                    }
                    *at += 1;
                    Atom::Class(ranges)
                }
                literal => {
                    *at += 1;
                    Atom::Literal(literal)
                }
            };
            let (min, max) = match p.get(*at) {
                Some('+') => {
                    *at += 1;
                    (1, usize::MAX)
                }
                Some('*') => {
                    *at += 1;
                    (0, usize::MAX)
                }
                Some('{') => {
                    let close = *at + p[*at..].iter().position(|&c| c == '}').unwrap();
                    let spec: String = p[*at + 1..close].iter().collect();
                    *at = close + 1;
                    match spec.split_once(',') {
                        Some((min, max)) => (min.parse().unwrap(), max.parse().unwrap()),
                        None => (spec.parse().unwrap(), spec.parse().unwrap()),
                    }
                }
                _ => (1, 1),
            };
            alternatives
                .last_mut()
                .unwrap()
                .push(Piece { atom, min, max });
        }
        alternatives
    }

    /// Matches `seq` at `text[at..]`, calling `rest` with each end position until it accepts.
    fn match_seq(
        seq: &[Piece],
        text: &[char],
        at: usize,
        rest: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        let Some((piece, tail)) = seq.split_first() else {
            return rest(at);
        };
        match_repeat(piece, 0, text, at, &mut |end| {
            match_seq(tail, text, end, rest)
        })
    }

    fn match_repeat(
        piece: &Piece,
        count: usize,
        text: &[char],
        at: usize,
        rest: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        if let Atom::Group(_) = piece.atom {
            if count < piece.max
                && match_atom(&piece.atom, text, at, &mut |end| {
                    end > at && match_repeat(piece, count + 1, text, end, rest)
                })
            {
                return true;
            }
            return count >= piece.min && rest(at);
        }
        // A single-character atom: take the longest run, then give back one at a time.
        let run = text[at..]
            .iter()
            .take(piece.max)
            .take_while(|&&c| single_matches(&piece.atom, c))
            .count();
        (piece.min..=run).rev().any(|n| rest(at + n))
    }

    fn single_matches(atom: &Atom, c: char) -> bool {
        match atom {
            Atom::Literal(literal) => *literal == c,
            Atom::Class(ranges) => ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)),
            Atom::Group(_) => false,
        }
    }

    fn match_atom(
        atom: &Atom,
        text: &[char],
        at: usize,
        rest: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        match atom {
            Atom::Group(alternatives) => alternatives
                .iter()
                .any(|seq| match_seq(seq, text, at, rest)),
            single => text.get(at).is_some_and(|&c| single_matches(single, c)) && rest(at + 1),
        }
    }

    #[test]
    fn the_matcher_works() {
        assert!(matches("^[0-9a-f]{4}$", "00af"));
        assert!(!matches("^[0-9a-f]{4}$", "00aF"));
        assert!(!matches("^[0-9a-f]{4}$", "00a"));
        assert!(!matches("^[0-9a-f]{4}$", "00aff"));
        assert!(matches("^([0-9]{2}|[a-z]{3})$", "12"));
        assert!(matches("^([0-9]{2}|[a-z]{3})$", "abc"));
        assert!(!matches("^([0-9]{2}|[a-z]{3})$", "1b"));
        assert!(matches("^/s/[0-9a-f-]{3}#[A-Za-z0-9_-]{2}$", "/s/a-1#_Z"));
        assert!(!matches("^/s/[0-9a-f-]{3}#[A-Za-z0-9_-]{2}$", "/s/a-1#_Z="));
        assert!(matches("^[A-Za-z0-9_-]{128}$", &"a".repeat(128)));
        assert!(matches(
            "^([0-9a-fA-F]{128}|[0-9a-fA-F]{4800})$",
            &"A".repeat(4800)
        ));
        assert!(!matches(
            "^([0-9a-fA-F]{128}|[0-9a-fA-F]{4800})$",
            &"A".repeat(4799)
        ));
    }
}

#[tokio::test]
async fn request_answers_validate_and_requests_follow_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(config_in(dir.path())).unwrap();
    let doc = openapi_document(state.config());
    let server = TestServer::start(state).await;
    let api = Checked::new(&doc, &server);
    let (create_path, status_path, answer_path) = (
        "/api/e2e/requests",
        "/api/e2e/requests/{id}",
        "/api/e2e/requests/{id}/response",
    );
    let (note_body, claim_body) = e2e_bodies(None);
    let create = json!({ "claim_hash": note_body["claim_hash"], "ttl_secs": 600 });
    let schema = json!({"$ref": "#/components/schemas/RequestCreate"});
    assert_eq!(validate(&doc, &schema, &create), Ok(()));
    let created = api
        .post(create_path, create_path, &create, StatusCode::CREATED)
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/e2e/requests/{id}");
    let answer = api.get(status_path, &path, StatusCode::OK).await;
    assert_eq!(answer["answered"], json!(false));

    let answer_body = json!({ "note": note_body["note"] });
    let schema = json!({"$ref": "#/components/schemas/RequestAnswer"});
    assert_eq!(validate(&doc, &schema, &answer_body), Ok(()));
    let respond = format!("/api/e2e/requests/{id}/response");
    api.post(answer_path, &respond, &answer_body, StatusCode::CREATED)
        .await;
    api.post(answer_path, &respond, &answer_body, StatusCode::CONFLICT)
        .await;
    let answer = api.get(status_path, &path, StatusCode::OK).await;
    assert_eq!(answer["answered"], json!(true));

    // A response with a passphrase, an unknown field, an unknown request: refused as documented.
    let (guarded, _) = e2e_bodies(Some("pw"));
    let guarded_body = json!({ "note": guarded["note"] });
    api.post(
        answer_path,
        &respond,
        &guarded_body,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(validate(&doc, &schema, &guarded_body).is_err());
    let unknown = format!("/api/e2e/requests/{}/response", uuid::Uuid::new_v4());
    api.post(answer_path, &unknown, &answer_body, StatusCode::NOT_FOUND)
        .await;
    let extra = json!({ "claim_hash": note_body["claim_hash"], "webhook": "x" });
    api.post(
        create_path,
        create_path,
        &extra,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // The answer is an end-to-end note under the request's id, claimed with the requester's token.
    let claim = format!("/api/e2e/notes/{id}/claim");
    api.post(
        "/api/e2e/notes/{id}/claim",
        &claim,
        &claim_body,
        StatusCode::OK,
    )
    .await;
}
