//! Outgoing `reqwest` calls observed (feature `reqwest`): a CLIENT span per request with
//! the OpenTelemetry HTTP client attributes, the trace context carried to the server, and
//! client RED metrics.
//!
//! ```no_run
//! use obs_runtime::reqwest::Traced as _;
//!
//! # async fn call() -> Result<(), reqwest::Error> {
//! let client = reqwest::Client::new();
//! // A CLIENT span around the call, whose context the server continues:
//! let response = client.get("http://inventory.internal/stock/42").send_observed().await?;
//! // Only the trace context of the current span, no span of its own:
//! let response = client.get("http://inventory.internal/stock/42").traced().send().await?;
//! # Ok(()) }
//! ```
//!
//! Each observed call counts in `http_client_request_duration_seconds{method,
//! server_address, status_code}` (`status_code` is `error` when no response came back).
//! At most [`MAX_SERVERS`] distinct `server_address` values are kept; calls to further
//! servers share `__overflow__`, counted in `obs_cardinality_overflow_total`.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use http::{HeaderName, HeaderValue};
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::metrics::capped::CappedMap;
use crate::metrics::{
    DynamicFamily, DynamicOptions, Histogram, HistogramOptions, HttpMethod, Label as _,
    OVERFLOW_VALUE, Registry,
};

/// The most distinct servers the client metrics keep.
pub const MAX_SERVERS: usize = 100;

/// Adds the current span's W3C trace context to a request being built, or observes the
/// whole call.
pub trait Traced {
    /// The builder with `traceparent` (and `tracestate`) set from the current span; unchanged
    /// outside a span or without the obs trace layer.
    #[must_use]
    fn traced(self) -> Self;

    /// Sends the request inside a CLIENT span named after its method, with
    /// `http.request.method`, `server.address`, `server.port`, `url.full` (without
    /// credentials or query), `http.response.status_code` and, for a status of 400 or
    /// more or a failed call, `error.type` and status ERROR. The span's context goes out
    /// in `traceparent`, so the server's span is its child. The call is counted in the
    /// client metrics (see the [module](self)).
    fn send_observed(self) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>>;
}

fn inject_current(headers: &mut http::HeaderMap) {
    crate::trace::propagation::inject(|name, value| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    });
}

impl Traced for reqwest::RequestBuilder {
    fn traced(self) -> Self {
        let mut headers = http::HeaderMap::new();
        inject_current(&mut headers);
        if headers.is_empty() {
            self
        } else {
            self.headers(headers)
        }
    }

    fn send_observed(self) -> impl Future<Output = Result<reqwest::Response, reqwest::Error>> {
        let (client, request) = self.build_split();
        async move {
            let mut request = request?;
            let method = HttpMethod::from_bytes(request.method().as_str().as_bytes());
            let url = request.url();
            let host = url.host_str().unwrap_or("").to_owned();
            let port = url.port_or_known_default();
            let mut full = url.clone();
            let _ = full.set_username("");
            let _ = full.set_password(None);
            full.set_query(None);
            full.set_fragment(None);
            let method_attr = match method {
                HttpMethod::Other => "_OTHER",
                known => known.as_str(),
            };
            let span = tracing::info_span!(
                target: "obs::http",
                "http.client",
                otel.name = match method { HttpMethod::Other => "HTTP", known => known.as_str() },
                otel.kind = "client",
                otel.status_code = Empty,
                http.request.method = method_attr,
                server.address = %host,
                server.port = port,
                url.full = %full,
                http.response.status_code = Empty,
                error.type = Empty,
            );
            span.in_scope(|| inject_current(request.headers_mut()));
            let start = Instant::now();
            let result = client.execute(request).instrument(span.clone()).await;
            let status = match &result {
                Ok(response) => {
                    let code = response.status().as_u16();
                    span.record("http.response.status_code", code);
                    if code >= 400 {
                        span.record("otel.status_code", "ERROR");
                        span.record("error.type", code);
                    }
                    code.to_string()
                }
                Err(e) => {
                    span.record("otel.status_code", "ERROR");
                    span.record("error.type", error_type(e));
                    "error".to_owned()
                }
            };
            let server = match port {
                Some(p) => format!("{host}:{p}"),
                None => host,
            };
            let server =
                servers().get_or_insert(server.as_str(), || (server.clone(), server.clone()));
            client_duration()
                .with([method.as_str(), server.as_str(), status.as_str()])
                .observe(start.elapsed().as_secs_f64());
            result
        }
    }
}

/// The OpenTelemetry `error.type` of a failed call.
fn error_type(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_redirect() {
        "redirect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_builder() {
        "builder"
    } else {
        "request"
    }
}

/// The servers seen, capped at [`MAX_SERVERS`].
fn servers() -> &'static CappedMap<String, String> {
    static SERVERS: OnceLock<CappedMap<String, String>> = OnceLock::new();
    SERVERS.get_or_init(|| CappedMap::new(MAX_SERVERS, OVERFLOW_VALUE.to_owned()))
}

/// `http_client_request_duration_seconds`, registered in the global registry on first use.
fn client_duration() -> &'static DynamicFamily<Histogram, 3> {
    static FAMILY: OnceLock<Arc<DynamicFamily<Histogram, 3>>> = OnceLock::new();
    FAMILY.get_or_init(|| {
        let options = || DynamicOptions {
            unit: Some("seconds"),
            // Every (method, server, status) combination of the capped servers.
            max_series: MAX_SERVERS * HttpMethod::CARDINALITY * 16,
            ..DynamicOptions::new(
                "http_client_request_duration_seconds",
                "Outgoing HTTP request latency, by method, server and status code.",
                ["method", "server_address", "status_code"],
            )
        };
        let buckets = || HistogramOptions {
            buckets: &crate::metrics::DEFAULT_BUCKETS,
        };
        Registry::global()
            .register_dynamic::<Histogram, 3>(options(), buckets())
            .or_else(|_| {
                // The name is taken (a `metric!` of the same name): keep counting, in a
                // family of its own that is not exposed.
                Registry::new().register_dynamic::<Histogram, 3>(options(), buckets())
            })
            .expect("a valid name in a fresh registry")
    })
}
