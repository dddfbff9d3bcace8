//! The tower layer: RED metrics per route template, a server span, propagation and
//! request ids for every request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tracing::Span;

use super::access::{AccessLog, RequestLine, Routine};
use super::outcome::Panicked;
use super::routes::{Route, routes};
use super::span::{method_value, server_span};
use crate::metrics::{HttpMethod, Label, Slo};
use crate::trace::propagation;
use crate::{log, trace};

/// The request id header, accepted when well-formed and always echoed.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest accepted incoming request id.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Status code recorded for a request whose client went away before the response
/// (nginx's "client closed request").
pub const CLIENT_CLOSED: u16 = 499;

obs_macros::metric! {
    /// HTTP requests being handled, by method.
    pub(crate) gauge HTTP_IN_PROGRESS("http_requests_in_progress", method: HttpMethod);
}

/// The request id of the request being handled, in its extensions (for handlers that
/// return it in a body or pass it on).
///
/// ```
/// use axum::{Extension, Router, routing::get};
/// use obs_runtime::axum::{ObsLayer, RequestId};
///
/// async fn whoami(Extension(id): Extension<RequestId>) -> String {
///     format!("request {id}")
/// }
///
/// let app: Router = Router::new().route("/whoami", get(whoami)).layer(ObsLayer::new());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub Arc<str>);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A well-formed incoming id: 1 to 128 visible ASCII characters.
fn accepted_id(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(REQUEST_ID_HEADER)?.as_bytes();
    if value.is_empty()
        || value.len() > MAX_REQUEST_ID_LEN
        || !value.iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return None;
    }
    std::str::from_utf8(value).ok()
}

/// A new id: 32 random hex digits.
fn new_id() -> Arc<str> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = trace::TraceId::random().to_u128();
    let mut digits = [0u8; 32];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = HEX[((n >> (124 - 4 * i)) & 0xf) as usize];
    }
    // ASCII hex digits are UTF-8.
    Arc::from(std::str::from_utf8(&digits).unwrap_or_default())
}

/// Gives every request of an axum router (or any tower HTTP service):
///
/// - `http_requests_total{method, endpoint, status_code}`,
///   `http_request_duration_seconds{method, endpoint}` and
///   `http_requests_in_progress{method}`, where `endpoint` is the matched route template
///   (axum's [`MatchedPath`]), `__unmatched__` for requests no route matched, and
///   `__overflow__` past [`MAX_ENDPOINTS`](super::MAX_ENDPOINTS) templates; methods outside
///   the standard set count as `OTHER`. A request whose client disconnects before the
///   response is counted with `status_code="499"`; a handler that panics, with `500`
///   (`error.type = "panic"` on the span).
/// - A server span named `"{METHOD} {route}"` (just `"{METHOD}"` when unmatched, `HTTP`
///   for a non-standard method) with the
///   OpenTelemetry HTTP attributes (`http.request.method`, `http.route`,
///   `http.response.status_code`, `url.scheme`, `url.path`, `server.address`,
///   `user_agent.original`; never the query string), `otel.kind = "server"`, and status
///   ERROR for 5xx responses and service errors. It continues the caller's trace from
///   `traceparent`/`tracestate` and carries its `baggage` on (also in the request's
///   extensions as [`Baggage`](crate::trace::propagation::Baggage)); malformed headers are
///   ignored.
/// - A request id: `X-Request-ID` when well-formed (1–128 visible ASCII characters), else
///   a new one; echoed on the response, recorded on the span as `request_id`, bound to
///   every log line of the request, and available to handlers as [`RequestId`].
///
/// Add it with `Router::layer` so that it wraps every route and the fallback:
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
///
/// let app: Router = Router::new()
///     .route("/api/orders/{id}", get(|| async { "order" }))
///     .layer(obs_runtime::axum::ObsLayer::new());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ObsLayer {
    access: AccessLog,
}

impl ObsLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the access log: one line per request when it completes (default
    /// [`AccessLog::DEFAULT`]: `info`, `warn` for 4xx, `error` for 5xx; [`AccessLog::OFF`]
    /// for none).
    #[must_use]
    pub fn access_log(mut self, access: AccessLog) -> Self {
        self.access = access;
        self
    }

    /// Measures `slo` on the requests of the route template `route` (as written in the
    /// router: `"/api/orders/{id}"`): its rules, alerts and panels join the generated ones
    /// ([`dashboards`](crate::dashboards)), and a latency threshold becomes a bucket
    /// boundary of that route's `http_request_duration_seconds`. Declare the SLO with
    /// [`Slo::for_http`] so that a threshold the buckets cannot hold is a compile error.
    ///
    /// ```
    /// use obs_runtime::metrics::Slo;
    ///
    /// const ORDERS: Slo = Slo::latency("orders-api", 99.0, 0.3).for_http();
    /// let layer = obs_runtime::axum::ObsLayer::new().slo("/api/orders/{id}", &ORDERS);
    /// # drop(layer);
    /// ```
    ///
    /// # Panics
    ///
    /// When the threshold is above the largest bucket of the HTTP histogram (10 s), which
    /// [`Slo::for_http`] refuses at compile time.
    #[must_use]
    pub fn slo(self, route: &str, slo: &'static Slo) -> Self {
        super::routes::set_route_slo(route, slo);
        self
    }
}

impl<S> tower_layer::Layer<S> for ObsLayer {
    type Service = ObsService<S>;

    fn layer(&self, inner: S) -> ObsService<S> {
        ObsService {
            inner,
            access: self.access,
        }
    }
}

/// The service [`ObsLayer`] wraps around yours.
#[derive(Clone, Debug)]
pub struct ObsService<S> {
    inner: S,
    access: AccessLog,
}

impl<S, B, RB> tower_service::Service<Request<B>> for ObsService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<RB>>,
    S::Error: fmt::Display,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let start = crate::time::clock().raw();
        let method = HttpMethod::from_bytes(request.method().as_str().as_bytes());
        // The span gets the real template even past the metrics' cap on templates.
        let template = request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let route = routes().get(template);
        let method_attr = match method {
            HttpMethod::Other => "_OTHER",
            known => known.as_str(),
        };
        let id: Arc<str> = match accepted_id(request.headers()) {
            Some(id) => Arc::from(id),
            None => new_id(),
        };
        let incoming =
            propagation::extract(|name| request.headers().get(name).and_then(|v| v.to_str().ok()));
        let span = match &incoming {
            Some(incoming) => {
                trace::with_remote_parent(incoming, || server_span(&request, method, template, &id))
            }
            None => server_span(&request, method, template, &id),
        };
        // Every line written inside the request says which request, route and method.
        // The values are shared with the route table and across requests, not copied.
        let client = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| Arc::<str>::from(c.0.ip().to_string()));
        let route_value = template.map(|t| {
            if *route.endpoint == *t {
                Arc::clone(&route.endpoint)
            } else {
                Arc::from(t)
            }
        });
        let line = RequestLine::new(self.access, &request, method_attr, route_value.as_ref());
        log::bind_all(
            &span,
            [
                ("request_id", Arc::clone(&id)),
                ("http.request.method", method_value(method)),
            ]
            .into_iter()
            .chain(route_value.clone().map(|t| ("http.route", t)))
            .chain(client.map(|c| ("client.address", c))),
        );
        let baggage = if let Some(incoming) = incoming {
            incoming.baggage
        } else {
            // Baggage travels without a trace context too.
            let baggage = propagation::extract_baggage(|name| {
                request.headers().get(name).and_then(|v| v.to_str().ok())
            });
            if !baggage.is_empty() {
                trace::set_baggage(&span, baggage.clone());
            }
            baggage
        };
        if !baggage.is_empty() {
            request.extensions_mut().insert(baggage);
        }
        let echo = HeaderValue::from_str(&id).ok();
        request.extensions_mut().insert(RequestId(Arc::clone(&id)));
        // Counted once `call` has returned: a `call` that panics leaves no request in
        // progress behind.
        let inner = span.in_scope(|| self.inner.call(request));
        HTTP_IN_PROGRESS.with(method).inc();
        ResponseFuture {
            inner,
            state: Some(InFlight {
                span,
                route,
                method,
                start,
                echo,
                polling: std::cell::Cell::new(false),
                access: self.access,
                line,
            }),
        }
    }
}

/// What is left to record once the response (or its absence) is known.
struct InFlight {
    span: Span,
    route: Arc<Route>,
    method: HttpMethod,
    start: u64,
    echo: Option<HeaderValue>,
    /// Set while the inner future is polled: still set when the future is dropped means
    /// the handler panicked (the executor catches the panic, then drops the future).
    polling: std::cell::Cell<bool>,
    access: AccessLog,
    /// The access log line's request parts, when the access log is on.
    line: Option<Box<RequestLine>>,
}

impl InFlight {
    /// `routine`: the answer of obs's own `/metrics` handler or health routes.
    fn finish(self, status: u16, error: Option<&str>, routine: bool) {
        let _entered = self.span.enter();
        self.span.record("http.response.status_code", status);
        if status >= 500 || error.is_some() {
            self.span.record("otel.status_code", "ERROR");
            self.span
                .record("error.type", error.unwrap_or(status_text(status)));
        }
        let clock = crate::time::clock();
        #[allow(
            clippy::cast_precision_loss,
            reason = "durations below 2^53 ns are exact"
        )]
        let seconds = clock.delta_as_nanos(self.start, clock.raw()) as f64 * 1e-9;
        let cells = self.route.method(self.method);
        cells.duration.observe(seconds);
        cells.statuses.inc(status);
        HTTP_IN_PROGRESS.with(self.method).dec();
        if let Some(line) = &self.line {
            line.write(self.access, status, seconds * 1e3, routine);
        }
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        500 => "500",
        501 => "501",
        502 => "502",
        503 => "503",
        504 => "504",
        CLIENT_CLOSED => "499",
        _ => "5xx",
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ObsService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<InFlight>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response: a panic in the handler is unwinding through
            // here (a 500), or the client went away (or a timeout layer above gave up).
            // Count it, and bring in-progress back down.
            if let Some(state) = this.project().state.take() {
                if state.polling.get() || std::thread::panicking() {
                    state.finish(500, Some("panic"), false);
                } else {
                    state.finish(CLIENT_CLOSED, Some("client_closed"), false);
                }
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
    E: fmt::Display,
{
    type Output = Result<Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.state.as_ref().map(|s| s.span.enter());
            if let Some(state) = this.state.as_ref() {
                state.polling.set(true);
            }
            let poll = this.inner.poll(cx);
            if let Some(state) = this.state.as_ref() {
                state.polling.set(false);
            }
            match poll {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            }
        };
        let Some(state) = this.state.take() else {
            return Poll::Ready(result);
        };
        match result {
            Ok(mut response) => {
                if let Some(echo) = state.echo.clone() {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static(REQUEST_ID_HEADER), echo);
                }
                // A panic that `PanicLayer` answered: a 500 of error type `panic`.
                let panicked = response.extensions().get::<Panicked>().map(|_| "panic");
                let routine = response.extensions().get::<Routine>().is_some();
                state.finish(response.status().as_u16(), panicked, routine);
                Poll::Ready(Ok(response))
            }
            Err(error) => {
                {
                    let _entered = state.span.enter();
                    tracing::event!(
                        target: crate::trace::EXCEPTION_TARGET,
                        tracing::Level::ERROR,
                        exception.r#type = "handler_error",
                        exception.message = %error,
                        "exception"
                    );
                }
                state.finish(500, Some("handler_error"), false);
                Poll::Ready(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any `X-Request-ID` is either kept as it is (1 to 128 visible ASCII characters)
        /// or replaced, without panicking.
        #[test]
        fn arbitrary_request_ids(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                headers.insert(REQUEST_ID_HEADER, value);
            }
            match accepted_id(&headers) {
                Some(id) => {
                    proptest::prop_assert_eq!(id.as_bytes(), &bytes[..]);
                    proptest::prop_assert!((1..=MAX_REQUEST_ID_LEN).contains(&id.len()));
                    proptest::prop_assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
                }
                None => proptest::prop_assert!(
                    bytes.is_empty()
                        || bytes.len() > MAX_REQUEST_ID_LEN
                        || !bytes.iter().all(|b| (0x21..=0x7e).contains(b))
                ),
            }
            let fresh = new_id();
            proptest::prop_assert_eq!(fresh.len(), 32);
        }
    }
}
