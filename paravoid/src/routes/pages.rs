//! The browser interface: `GET /`, `GET /s/{id}`, static assets and their security headers.
//!
//! The pages talk to the JSON API of [`secrets`](super::secrets); the link keys travel in the URL
//! fragment, which browsers never send to the server.

use axum::Router;

use crate::AppState;

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
}
