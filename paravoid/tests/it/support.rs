//! Helpers shared by the integration tests: temporary servers, request shortcuts, and
//! [`on_both_stores!`](crate::on_both_stores), which runs a suite on redb and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test on any error"
)]

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use paravoid::{AppState, Config, ManualClock};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use qsmm_test_support::pg_cluster;

/// The time the manual clocks of the tests start at.
pub(crate) const START: u64 = 1_800_000_000;

/// A configuration with its database in `dir`.
pub(crate) fn config_in(dir: &Path) -> Config {
    let mut config = Config::with_db(dir.join("notes.redb"));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config
}

/// The store a test suite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A redb file in the test's directory.
    Redb,
    /// A database of its own on the shared test PostgreSQL server (`pg_cluster::shared`).
    Postgres,
}

impl Backend {
    /// The store's name as `/healthz` reports it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Redb => "redb",
            Self::Postgres => "postgres",
        }
    }
}

/// [`config_in`] on `backend`: with PostgreSQL, `--store` names a database of the shared test
/// server derived from `dir` (created if missing), so opening the same `dir` twice reopens the
/// same notes.
///
/// # Panics
///
/// With [`Backend::Postgres`] where PostgreSQL is missing: [`on_both_stores!`](crate::on_both_stores)
/// reports such a test skipped before it gets here, so a PostgreSQL test never runs on redb in its
/// place.
pub(crate) fn config_on(backend: Backend, dir: &Path) -> Config {
    let mut config = config_in(dir);
    if backend == Backend::Postgres {
        match pg_cluster::shared() {
            Some(server) => {
                use std::hash::{DefaultHasher, Hash as _, Hasher as _};
                let mut hasher = DefaultHasher::new();
                dir.hash(&mut hasher);
                let url = server.database(&format!("t{:016x}", hasher.finish()));
                config.store = Some(url.parse().unwrap());
                let key = dir.join("store.key");
                if !key.exists() {
                    pg_cluster::write_store_key(&key, &pg_cluster::store_secret());
                }
                config.store_key = Some(key);
            }
            None => panic!("a PostgreSQL test ran without PostgreSQL"),
        }
    }
    config
}

/// A state on a fresh store named after `dir` on `backend` (see [`config_on`]), with a manual
/// clock at [`START`].
pub(crate) fn state_on(backend: Backend, dir: &Path) -> (AppState, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START));
    let state = AppState::open_with_clock(config_on(backend, dir), clock.clone()).unwrap();
    (state, clock)
}

/// An answer: status, headers, and the body parsed as JSON (`Value::Null` if it is not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) raw: Vec<u8>,
}

/// Sends one request through the router without a socket.
pub(crate) async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let raw = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        raw,
    }
}

/// `POST` of a JSON value.
pub(crate) async fn post_json(app: &Router, uri: &str, body: &Value) -> Answer {
    call(
        app,
        Method::POST,
        uri,
        Some("application/json"),
        body.to_string(),
    )
    .await
}

/// `GET`.
pub(crate) async fn get(app: &Router, uri: &str) -> Answer {
    call(app, Method::GET, uri, None, Body::empty()).await
}

/// Creates a note and returns the 201 answer's body.
pub(crate) async fn create(app: &Router, body: Value) -> Value {
    let answer = post_json(app, "/api/secrets", &body).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body
}

/// The reveal body with `dk` and `classical_secret` from a create answer.
pub(crate) fn keys_body(created: &Value) -> Value {
    json!({ "dk": created["dk"], "classical_secret": created["classical_secret"] })
}

/// The reveal URI of a create answer.
pub(crate) fn reveal_uri(created: &Value) -> String {
    created["link"].as_str().unwrap().to_owned()
}

/// A server on 127.0.0.1 with a random port, stopped by [`TestServer::stop`].
pub(crate) struct TestServer {
    pub(crate) base: String,
    shutdown: oneshot::Sender<()>,
    handle: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and serves `state`.
    pub(crate) async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, signal) = oneshot::channel::<()>();
        let handle = tokio::spawn(paravoid::serve(listener, state, async move {
            let _ignored = signal.await;
        }));
        Self {
            base,
            shutdown,
            handle,
        }
    }

    /// The URL of `path` on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Shuts the server down gracefully and waits for it.
    pub(crate) async fn stop(self) {
        self.shutdown.send(()).unwrap();
        self.handle.await.unwrap().unwrap();
    }
}

/// An HTTP client that ignores proxy settings of the environment.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Whether the shared PostgreSQL server is there; when it is not, the calling test is reported
/// skipped (a failure under `QSMM_REQUIRE_EXTERNAL`) and must return.
pub(crate) fn postgres_or_skip() -> bool {
    pg_cluster::shared().is_some()
}

/// Runs each named `async fn name(backend: Backend)` of the calling module as two tests,
/// `<module>::redb::name` and `<module>::postgres::name`. The PostgreSQL one is reported skipped
/// where PostgreSQL is missing (a failure under `QSMM_REQUIRE_EXTERNAL`); it never runs on redb
/// in its place.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod redb {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Redb).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if $crate::support::postgres_or_skip() {
                        super::$name($crate::support::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}
