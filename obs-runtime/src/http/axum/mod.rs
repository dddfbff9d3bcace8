//! HTTP services on axum 0.8 (feature `axum`): [`ObsLayer`] for RED metrics, server spans,
//! propagation and request ids; [`Health`] for health checks; [`metrics_handler`] to serve
//! `/metrics` from your own router instead of the embedded server, and
//! [`dashboards_handler`] for the generated Grafana dashboard and Prometheus rules.
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use obs_runtime::dashboards::{DashboardOptions, RuleOptions};
//!
//! let app: Router = Router::new()
//!     .route("/metrics", get(obs_runtime::axum::metrics_handler(None)))
//!     .route("/internal/metrics", get(obs_runtime::axum::metrics_handler(Some("s3cret".into()))))
//!     .route(
//!         "/dashboards/{file}",
//!         get(obs_runtime::axum::dashboards_handler(
//!             DashboardOptions::new("orders"),
//!             RuleOptions::new("orders"),
//!         )),
//!     );
//! ```

use std::future::{Ready, ready};
use std::sync::Arc;

use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::dashboards::{DashboardOptions, RuleOptions, grafana_dashboard, prometheus_rules};
use crate::http::server::metrics_response;
use crate::metrics::Registry;

mod access;
mod health;
mod layer;
mod outcome;
mod panic;
mod routes;
mod span;

pub use access::{AccessLog, MAX_ACCESS_FIELD_LEN};
pub use health::{ComponentHealth, DEFAULT_CACHE, ErrorDetails, Health, HealthReport};
pub use layer::{
    CLIENT_CLOSED, MAX_REQUEST_ID_LEN, ObsLayer, ObsService, REQUEST_ID_HEADER, RequestId,
    ResponseFuture,
};
pub use panic::{PanicFuture, PanicLayer, PanicService};
pub use routes::{MAX_ENDPOINTS, UNMATCHED};

/// Writes the current span's `traceparent` (and `tracestate`) into `headers`, for an
/// outgoing request made with any `http`-based client.
///
/// ```
/// let mut headers = axum::http::HeaderMap::new();
/// obs_runtime::axum::inject_headers(&mut headers); // outside a span: nothing to write
/// assert!(headers.is_empty());
/// ```
pub fn inject_headers(headers: &mut HeaderMap) {
    crate::trace::propagation::inject(|name, value| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    });
}

/// Reads the W3C trace context of an incoming request's headers.
pub fn extract_headers(headers: &HeaderMap) -> Option<crate::trace::propagation::Extracted> {
    crate::trace::propagation::extract(|name| headers.get(name).and_then(|v| v.to_str().ok()))
}

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
        // A scrape: its successes are access-logged at debug.
        response.extensions_mut().insert(access::Routine);
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

/// A handler for a route `/…/{file}` answering `grafana.json` with the generated Grafana
/// dashboard and `rules.yml` with the generated Prometheus rules (see
/// [`dashboards`](crate::dashboards)); other names are `404`. Both are generated on each
/// request, so SLOs registered since appear.
pub fn dashboards_handler(
    dashboard: DashboardOptions,
    rules: RuleOptions,
) -> impl Fn(axum::extract::Path<String>) -> Ready<Response> + Clone + Send + Sync + 'static {
    let options = Arc::new((dashboard, rules));
    move |axum::extract::Path(file): axum::extract::Path<String>| {
        let (content_type, body) = match file.as_str() {
            "grafana.json" => ("application/json", grafana_dashboard(&options.0)),
            "rules.yml" => ("application/yaml", prometheus_rules(&options.1)),
            _ => return ready((StatusCode::NOT_FOUND, "not found\n").into_response()),
        };
        let mut response = body.into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        ready(response)
    }
}
