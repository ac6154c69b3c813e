//! Target for `paravoid`: arbitrary HTTP requests against the in-process router.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use paravoid::{AppState, Config, ManualClock};
use serde_json::Value;
use tower::ServiceExt;

/// The message of the note created for inputs that name `@ID@`.
const MESSAGE: &str = "qsmm fuzz: a paravoid note";

/// Inputs between two sweeps of expired notes, which keep the database small.
const SWEEP_EVERY: u64 = 512;

/// One HTTP request, written as text: `METHOD PATH`, then `Name: value` header lines, an empty
/// line and the body (all `\n`-separated). In the path and body, `@ID@`, `@COMPACT@`, `@DK@` and
/// `@CS@` stand for the id and link keys of a note created just before the request.
///
/// Properties, for every request:
/// - never a 5xx status and never a panic;
/// - every answer carries `X-Content-Type-Options: nosniff` and a `Cache-Control`;
/// - every error answer is JSON `{"error": "<string>", ...}`, except the plain-text 404 of an
///   unknown asset; every JSON answer parses;
/// - revealing the created note succeeds only with its message, and only once (the same
///   request again is 404).
///
/// # Panics
///
/// When a property fails.
pub fn paravoid_http(data: &[u8]) {
    let Some(input) = RequestText::parse(data) else {
        return;
    };
    let harness = &*HARNESS;
    harness.runtime.block_on(harness.run(&input));
}

/// The router on a temporary database, with a manual clock, driven by a current-thread runtime.
struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    state: AppState,
    clock: Arc<ManualClock>,
    inputs: AtomicU64,
    // Dropped last: the database lives in it.
    _dir: tempfile::TempDir,
}

#[allow(
    clippy::expect_used,
    reason = "set-up of the harness, not input-dependent"
)]
static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // A RAM-backed directory if there is one: every commit is an fsync.
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temporary directory");
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let state =
        AppState::open_with_clock(Config::with_db(dir.path().join("fuzz.redb")), clock.clone())
            .expect("paravoid state");
    Harness {
        runtime,
        router: paravoid::app(state.clone()),
        state,
        clock,
        inputs: AtomicU64::new(0),
        _dir: dir,
    }
});

impl Harness {
    async fn run(&self, input: &RequestText<'_>) {
        if self.inputs.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.clock.advance(self.state.config().max_ttl_secs + 1);
            assert!(self.state.sweep_expired().await.is_ok(), "sweeping failed");
        }
        let note = if input.uses_note() {
            self.create_note().await
        } else {
            None
        };
        let substitute = |bytes: &[u8]| match &note {
            Some(note) => note.substitute(bytes),
            None => bytes.to_vec(),
        };
        let path = substitute(input.path);
        let body = substitute(input.body);
        let Some(request) = build(input, &path, body.clone()) else {
            return;
        };
        let method = request.method().clone();
        let (status, json) = self.send(request).await;
        let (Some(note), StatusCode::OK) = (&note, status) else {
            return;
        };
        if method == Method::POST
            && path.ends_with(b"/reveal")
            && path.windows(36).any(|w| w == note.id.as_bytes())
        {
            let revealed = json
                .as_ref()
                .and_then(|j| j.get("message"))
                .and_then(Value::as_str);
            assert_eq!(revealed, Some(MESSAGE), "revealed something else");
            if let Some(again) = build(input, &path, body) {
                let (status, _) = self.send(again).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "a note was revealed twice");
            }
        }
    }

    /// Sends one request, checks the properties every answer has, and returns the status and the
    /// JSON body (if any).
    async fn send(&self, request: Request<Body>) -> (StatusCode, Option<Value>) {
        let head = request.method() == Method::HEAD;
        let path = request.uri().path().to_owned();
        let response: Response<Body> = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        assert!(!status.is_server_error(), "{status} for {path}");
        let headers = response.headers();
        assert_eq!(
            headers
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
        assert!(
            headers.contains_key(header::CACHE_CONTROL),
            "no Cache-Control for {path}"
        );
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(err) => panic!("reading the body of {path} failed: {err}"),
        };
        let is_json = content_type.starts_with("application/json");
        let json = if is_json && !head {
            match serde_json::from_slice::<Value>(&body) {
                Ok(value) => Some(value),
                Err(err) => panic!("{status} for {path}: JSON body does not parse: {err}"),
            }
        } else {
            None
        };
        if status.is_client_error() {
            if is_json {
                let error = json.as_ref().and_then(|j| j.get("error"));
                assert!(
                    head || error.is_some_and(Value::is_string),
                    "{status} for {path}: {json:?}"
                );
            } else {
                let asset = path.starts_with("/assets/") && status == StatusCode::NOT_FOUND;
                assert!(
                    asset,
                    "{status} for {path} is not JSON but {content_type:?}"
                );
            }
        }
        (status, json)
    }

    /// Creates a note through the API and returns its id and link keys.
    async fn create_note(&self) -> Option<Note> {
        let body = serde_json::json!({ "message": MESSAGE }).to_string();
        let request = Request::post("/api/secrets")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .ok()?;
        let (status, json) = self.send(request).await;
        assert_eq!(status, StatusCode::CREATED, "creating a note failed");
        let json = json?;
        let field = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
        Some(Note {
            id: field("id")?,
            compact: field("compact")?,
            dk: field("dk")?,
            classical_secret: field("classical_secret")?,
        })
    }
}

/// A note created for one input.
struct Note {
    id: String,
    compact: String,
    dk: String,
    classical_secret: String,
}

impl Note {
    fn substitute(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for (placeholder, value) in [
            (&b"@ID@"[..], &self.id),
            (b"@COMPACT@", &self.compact),
            (b"@DK@", &self.dk),
            (b"@CS@", &self.classical_secret),
        ] {
            out = replace(&out, placeholder, value.as_bytes());
        }
        out
    }
}

/// The parsed text form of a request (see [`paravoid_http`]).
struct RequestText<'a> {
    method: &'a [u8],
    path: &'a [u8],
    headers: Vec<(&'a [u8], &'a [u8])>,
    body: &'a [u8],
}

impl<'a> RequestText<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
            Some(at) => (data.get(..at)?, data.get(at + 2..)?),
            None => (data, &[][..]),
        };
        let mut lines = head.split(|&b| b == b'\n');
        let first = lines.next()?;
        let space = first.iter().position(|&b| b == b' ')?;
        let (method, path) = (first.get(..space)?, first.get(space + 1..)?);
        let headers = lines
            .filter_map(|line| {
                let colon = line.iter().position(|&b| b == b':')?;
                let value = line.get(colon + 1..)?;
                Some((
                    line.get(..colon)?,
                    value.strip_prefix(b" ").unwrap_or(value),
                ))
            })
            .collect();
        Some(Self {
            method,
            path,
            headers,
            body,
        })
    }

    /// Whether the request names the created note (only then is one created: it costs an
    /// ML-KEM key generation and a database write).
    fn uses_note(&self) -> bool {
        [self.path, self.body]
            .iter()
            .any(|part| part.windows(4).any(|w| w == b"@ID@"))
    }
}

/// The request, or `None` if the method, path or a header is not valid HTTP (the client library
/// would refuse to send it, so it never reaches the server).
fn build(input: &RequestText<'_>, path: &[u8], body: Vec<u8>) -> Option<Request<Body>> {
    let mut builder = Request::builder()
        .method(Method::from_bytes(input.method).ok()?)
        .uri(path);
    for (name, value) in &input.headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(body)).ok()
}

/// `haystack` with every `needle` replaced by `with`.
fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(rest.get(..at).unwrap_or_default());
        out.extend_from_slice(with);
        rest = rest.get(at + needle.len()..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    out
}
