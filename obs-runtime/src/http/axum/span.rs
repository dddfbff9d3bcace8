//! The server span of a request and the values it shares with the request's log lines.

use std::sync::{Arc, OnceLock};

use axum::http::Request;
use axum::http::header::{HOST, USER_AGENT};
use tracing::Span;
use tracing::field::Empty;

use crate::metrics::{HttpMethod, Label};

/// The `http.request.method` value of `method` (`_OTHER` for an unknown one), shared.
pub(super) fn method_value(method: HttpMethod) -> Arc<str> {
    static VALUES: OnceLock<Vec<Arc<str>>> = OnceLock::new();
    let values = VALUES.get_or_init(|| {
        (0..HttpMethod::CARDINALITY)
            .map(|i| match HttpMethod::from_index(i) {
                Some(HttpMethod::Other) | None => Arc::from("_OTHER"),
                Some(known) => Arc::from(known.as_str()),
            })
            .collect()
    });
    Arc::clone(&values[method.index()])
}

pub(super) fn server_span<B>(
    request: &Request<B>,
    method: HttpMethod,
    template: Option<&str>,
    id: &str,
) -> Span {
    // OpenTelemetry: `{method} {route}`, where an unknown method reads `HTTP`.
    let shown = match method {
        HttpMethod::Other => "HTTP",
        known => known.as_str(),
    };
    let name = match template {
        Some(route) => format!("{shown} {route}"),
        None => shown.to_owned(),
    };
    let headers = request.headers();
    let uri = request.uri();
    let host = uri
        .host()
        .or_else(|| headers.get(HOST).and_then(|h| h.to_str().ok()))
        .map(|h| h.rsplit_once(':').map_or(h, |(host, _)| host));
    let (method_attr, method_original) = match method {
        HttpMethod::Other => ("_OTHER", Some(request.method().as_str())),
        known => (known.as_str(), None),
    };
    // All known values at creation: every later `record` is a lookup in the registry.
    tracing::info_span!(
        target: "obs::http",
        "http.request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method_attr,
        http.request.method_original = method_original,
        http.route = template,
        http.response.status_code = Empty,
        url.path = uri.path(),
        url.scheme = uri.scheme_str().unwrap_or("http"),
        server.address = host,
        user_agent.original = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()),
        request_id = id,
        error.type = Empty,
    )
}
