//! The router with its middleware (`app`), and the server loop around it (`serve`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::Response;
use axum::{BoxError, Router};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::{Level, Span};

use crate::connections::CappedAcceptor;
use crate::error::NOT_FOUND_MESSAGE;
use crate::{AppState, Error, deadline, routes, sweeper};

/// The whole HTTP application: the JSON API, `/healthz`, the OpenAPI document and the pages,
/// with their middleware.
///
/// Every response carries `Cache-Control: no-store` (unless a page route sets its own) and
/// `X-Content-Type-Options: nosniff`; every error answer, including those of the middleware
/// (404 for unknown paths, 405, 408, 413), is JSON `{"error": "..."}`.
///
/// Requests are logged with their method and route pattern (`/api/secrets/{id}/reveal`), never
/// the note id. The timeout (`--request-timeout-secs`) answers 408 only until a handler queues a
/// write: a queued create or reveal is always answered.
///
/// ```
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use paravoid::{AppState, Config, app};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let state = AppState::open(Config::with_db(dir.path().join("notes.redb")))?;
/// let response = app(state)
///     .oneshot(Request::get("/healthz").body(Body::empty())?)
///     .await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn app(state: AppState) -> Router {
    let config = &state.config;
    // Listed outermost first. TraceLayer sees every request and the final status, including the
    // answers of the layers below it; then the response headers and the JSON form of bare error
    // answers; then the timeout and the body limit, closest to the handlers.
    let middleware = ServiceBuilder::new()
        .layer(
            TraceLayer::new_for_http()
                // Method and route pattern only: no note id, no headers, no bodies. The link
                // keys of a share link sit in the URL fragment, which never reaches the server.
                .make_span_with(span_without_ids)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(axum::middleware::map_response(json_error_body))
        // Not tower-http's timeout layer: it would drop a reveal's answer after the commit.
        .layer(axum::middleware::from_fn_with_state(
            config.request_timeout(),
            deadline::enforce,
        ));

    // File uploads stream up to `--max-file-bytes` and enforce it themselves; every other
    // route has the JSON body limit.
    let bounded = Router::new()
        .merge(routes::secrets::router(&state))
        .merge(routes::e2e::router(&state))
        .merge(routes::requests::router(&state))
        .merge(routes::receipts::router(&state))
        .merge(routes::health::router())
        .merge(routes::limits::router())
        .merge(routes::openapi::router())
        .merge(routes::pages::router())
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes()));
    Router::new()
        .merge(bounded)
        .merge(routes::files::router(&state))
        .layer(middleware)
        .with_state(state)
}

/// The metrics application: `GET /metrics` (Prometheus text) and `GET /healthz`, for a listener
/// of its own (`--metrics-bind`, loopback or an internal network). The public [`app`] does not
/// serve `/metrics`.
///
/// ```
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use paravoid::{AppState, Config, app, metrics_app};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let state = AppState::open(Config::with_db(dir.path().join("notes.redb")))?;
/// let metrics = metrics_app(state.clone())
///     .oneshot(Request::get("/metrics").body(Body::empty())?)
///     .await?;
/// assert_eq!(metrics.status(), StatusCode::OK);
/// let public = app(state)
///     .oneshot(Request::get("/metrics").body(Body::empty())?)
///     .await?;
/// assert_eq!(public.status(), StatusCode::NOT_FOUND);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn metrics_app(state: AppState) -> Router {
    routes::health::metrics_router()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` completes, with the expired-note sweeper
/// running beside it.
///
/// The listener holds at most `--max-connections` connections (more are closed as soon as they
/// are accepted), and a client must send each request head within `--header-read-timeout-secs`
/// (an idle keep-alive connection is closed after that long too), so slow clients cannot hold
/// the server's connections (slowloris).
///
/// On shutdown the server stops accepting connections and waits for requests in flight to
/// finish; every answered create or reveal has been committed before its answer was sent.
///
/// # Errors
///
/// An I/O error from the listener, or an error once the store's writer thread has stopped (the
/// server shuts down then, so that a supervisor restarts the process).
pub async fn serve<F>(listener: TcpListener, state: AppState, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let limits = state.config.http_limits();
    let server = axum_server::from_tcp(listener.into_std()?)?.acceptor(CappedAcceptor::new(
        axum_server::accept::DefaultAcceptor::new(),
        limits.max_connections,
    ));
    let running = Running::start(state, shutdown, false);
    let result = limits
        .apply(server)
        .handle(running.handle.clone())
        .serve(running.service.clone())
        .await;
    running.finish(result).await
}

/// Like [`serve`], over TLS (rustls) with the PEM certificate chain `cert` and private key
/// `key`, on a bound standard listener, with the same connection limits (the TLS handshake has
/// its own 10-second deadline). Every answer carries `Strict-Transport-Security` ([`HSTS`]):
/// browsers that saw it never fetch the pages over plain HTTP again.
///
/// # Errors
///
/// As [`serve`]; an I/O error if the certificate or key cannot be read or do not match.
pub async fn serve_tls<F>(
    listener: std::net::TcpListener,
    state: AppState,
    cert: &Path,
    key: &Path,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
    listener.set_nonblocking(true)?;
    let limits = state.config.http_limits();
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(CappedAcceptor::new(
        axum_server::accept::DefaultAcceptor::new(),
        limits.max_connections,
    ));
    let server = axum_server::from_tcp(listener)?.acceptor(acceptor);
    let running = Running::start(state, shutdown, true);
    let result = limits
        .apply(server)
        .handle(running.handle.clone())
        .serve(running.service.clone())
        .await;
    running.finish(result).await
}

/// What runs beside a listener: the sweeper, the webhook worker (with `--webhook-allow`), the
/// task that turns `shutdown` (or the writer's death) into a graceful shutdown of `handle`, and
/// the service with its headers.
struct Running {
    service: axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    handle: axum_server::Handle<SocketAddr>,
    sweeper: tokio::task::JoinHandle<()>,
    webhooks: Option<tokio::task::JoinHandle<()>>,
    stopper: tokio::task::JoinHandle<()>,
    writer_died: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Running {
    /// Starts the sweeper and the shutdown task; `hsts` adds `Strict-Transport-Security` to
    /// every answer.
    fn start<F>(state: AppState, shutdown: F, hsts: bool) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let sweeper = sweeper::spawn(state.clone());
        let webhooks = crate::webhooks::target::enabled(&state.config)
            .then(|| crate::webhooks::worker::spawn(state.clone()));
        let (stop, writer_died) = stop_on_shutdown_or_writer_death(state.clone(), shutdown);
        let mut router = app(state);
        if hsts {
            router = router.layer(SetResponseHeaderLayer::overriding(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            ));
        }
        let handle = axum_server::Handle::new();
        let stopper = {
            let handle = handle.clone();
            tokio::spawn(async move {
                stop.await;
                handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
            })
        };
        Self {
            service: router.into_make_service_with_connect_info::<SocketAddr>(),
            handle,
            sweeper,
            webhooks,
            stopper,
            writer_died,
        }
    }

    /// Stops the tasks once the server has returned `result`.
    async fn finish(self, result: std::io::Result<()>) -> std::io::Result<()> {
        self.stopper.abort();
        if let Some(webhooks) = self.webhooks {
            webhooks.abort();
        }
        finish(self.sweeper, &self.writer_died, result).await
    }
}

/// The `Strict-Transport-Security` value of the TLS listener: two years, this host only (a
/// reverse proxy that terminates TLS sets its own).
pub const HSTS: &str = "max-age=63072000";

/// How long the server waits for requests in flight at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A future that completes on `shutdown` or when the writer thread stops (then the flag is set).
fn stop_on_shutdown_or_writer_death<F>(
    state: AppState,
    shutdown: F,
) -> (
    impl Future<Output = ()> + Send + 'static,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
)
where
    F: Future<Output = ()> + Send + 'static,
{
    let died = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = died.clone();
    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            () = state.store.writer_stopped() => {
                tracing::error!("the writer thread stopped; shutting down for a restart");
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    };
    (stop, died)
}

/// Stops the sweeper and turns a writer death into an error.
async fn finish(
    sweeper: tokio::task::JoinHandle<()>,
    writer_died: &std::sync::atomic::AtomicBool,
    result: std::io::Result<()>,
) -> std::io::Result<()> {
    sweeper.abort();
    if let Err(err) = sweeper.await
        && !err.is_cancelled()
    {
        tracing::warn!(error = %err, "the sweeper task failed");
    }
    result?;
    if writer_died.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(std::io::Error::other("the store's writer thread stopped"));
    }
    Ok(())
}

/// The request span: method and route pattern, never the concrete path (which holds the note
/// id: who read what when is worth hiding from the logs).
fn span_without_ids(request: &Request<Body>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str);
    tracing::info_span!("request", method = %request.method(), route = %route)
}

/// Gives bare error answers (axum's 404 and 405, the timeout's 408, the body limit's 413) the
/// service's JSON error body. JSON, HTML and the pages' own answers pass unchanged.
async fn json_error_body<B>(response: Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let response = response.map(Body::new);
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // No body type at all (axum's 404 and 405, the timeout's 408), or the body limit's plain-text
    // 413. Other plain-text errors belong to the pages and keep their form.
    let is_bare = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|value| {
            status == StatusCode::PAYLOAD_TOO_LARGE && value.as_bytes().starts_with(b"text/plain")
        });
    if !is_bare {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => NOT_FOUND_MESSAGE.to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => Error::BodyTooLarge.to_string(),
        _ => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    };
    let body = serde_json::json!({ "error": message }).to_string();
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}
