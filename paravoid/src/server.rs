//! The router with its middleware (`app`), and the server loop around it (`serve`).

use std::future::Future;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::{BoxError, Router};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::NOT_FOUND_MESSAGE;
use crate::{AppState, Error, routes, sweeper};

/// The whole HTTP application: the JSON API, `/healthz`, the OpenAPI document and the pages,
/// with their middleware.
///
/// Every response carries `Cache-Control: no-store` (unless a page route sets its own) and
/// `X-Content-Type-Options: nosniff`; every error answer, including those of the middleware
/// (404 for unknown paths, 405, 408, 413), is JSON `{"error": "..."}`.
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
                // Method, path and version only: no headers, no bodies. The link keys of a
                // share link sit in the URL fragment, which never reaches the server.
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
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
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout(),
        ))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes()));

    Router::new()
        .merge(routes::secrets::router())
        .merge(routes::e2e::router())
        .merge(routes::health::router())
        .merge(routes::openapi::router())
        .merge(routes::pages::router())
        .layer(middleware)
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` completes, with the expired-note sweeper
/// running beside it.
///
/// On shutdown the server stops accepting connections and waits for requests in flight to
/// finish; every answered create or reveal has been committed before its answer was sent.
///
/// # Errors
///
/// An I/O error from the listener.
pub async fn serve<F>(listener: TcpListener, state: AppState, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let sweeper = sweeper::spawn(state.clone());
    let result = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    if let Err(err) = sweeper.await
        && !err.is_cancelled()
    {
        tracing::warn!(error = %err, "the sweeper task failed");
    }
    result
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
