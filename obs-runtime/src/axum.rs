//! Serving `/metrics` from your own axum 0.8 router (feature `axum`), instead of the
//! embedded server.
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//!
//! let app: Router = Router::new()
//!     .route("/metrics", get(obs_runtime::axum::metrics_handler(None)))
//!     .route("/internal/metrics", get(obs_runtime::axum::metrics_handler(Some("s3cret".into()))));
//! ```

use std::future::{Ready, ready};
use std::sync::Arc;

use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{Registry, metrics_response};

/// A handler that renders the global registry in the format the request's `Accept`
/// prefers; with a `token`, it requires `Authorization: Bearer <token>` (else `401`).
pub fn metrics_handler(
    token: Option<String>,
) -> impl Fn(HeaderMap) -> Ready<Response> + Clone + Send + Sync + 'static {
    registry_handler(Registry::global(), token)
}

/// As [`metrics_handler`], for an explicit registry.
pub fn registry_handler(
    registry: &'static Registry,
    token: Option<String>,
) -> impl Fn(HeaderMap) -> Ready<Response> + Clone + Send + Sync + 'static {
    let token: Option<Arc<str>> = token.map(Arc::from);
    move |headers: HeaderMap| {
        let header = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let answer = metrics_response(
            registry,
            token.as_deref(),
            header(ACCEPT),
            header(AUTHORIZATION),
        );
        let mut response = answer.body.into_response();
        *response.status_mut() =
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let out = response.headers_mut();
        out.insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
        for (name, value) in answer.headers {
            out.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        ready(response)
    }
}
