//! The request timeout, which never drops a committed answer.
//!
//! A plain timeout layer drops the handler's future when time runs out. A reveal whose job is
//! already queued to the writer still commits (the note is deleted), and its answer, the only
//! copy of the message, would be lost. So the timeout here applies only until the handler
//! calls [`Deadline::commit`], right before it queues work that must be answered: after that,
//! the handler runs to the end and its answer is delivered however long the writer takes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The handler's side of the timeout: marks the point after which the request is not cut off.
#[derive(Clone, Debug, Default)]
pub(crate) struct Deadline(Arc<AtomicBool>);

impl Deadline {
    /// From now on the request runs to completion, past the timeout if need be.
    pub(crate) fn commit(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Deadline {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Without the middleware (a router used bare) there is no timeout to escape.
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}

/// Middleware: answers 408 if the handler has not committed within `timeout`; once it has
/// committed, waits for its answer.
pub(crate) async fn enforce(
    State(timeout): State<Duration>,
    mut request: Request,
    next: Next,
) -> Response {
    let deadline = Deadline::default();
    request.extensions_mut().insert(deadline.clone());
    let handler = next.run(request);
    tokio::pin!(handler);
    tokio::select! {
        response = &mut handler => response,
        () = tokio::time::sleep(timeout) => {
            // The handler is not running while this branch runs (both are polled by this one
            // task), so `commit` cannot race with this check.
            if deadline.0.load(Ordering::SeqCst) {
                handler.await
            } else {
                StatusCode::REQUEST_TIMEOUT.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    async fn status(router: Router, path: &str) -> StatusCode {
        let request = Request::get(path).body(Body::empty()).unwrap();
        router.oneshot(request).await.unwrap().status()
    }

    fn router(timeout: Duration) -> Router {
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }
        async fn committed(deadline: Deadline) -> &'static str {
            deadline.commit();
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }
        Router::new()
            .route("/slow", get(slow))
            .route("/committed", get(committed))
            .layer(axum::middleware::from_fn_with_state(timeout, enforce))
    }

    #[tokio::test]
    async fn the_timeout_cuts_off_only_uncommitted_handlers() {
        let timeout = Duration::from_millis(50);
        assert_eq!(
            status(router(timeout), "/slow").await,
            StatusCode::REQUEST_TIMEOUT
        );
        assert_eq!(status(router(timeout), "/committed").await, StatusCode::OK);
        assert_eq!(
            status(router(Duration::from_secs(5)), "/slow").await,
            StatusCode::OK
        );
    }
}
