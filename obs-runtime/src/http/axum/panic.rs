//! Handler panics answered with a JSON `500` that carries the request id, instead of a
//! dropped connection.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Request, Response, StatusCode};

use super::layer::RequestId;
use super::outcome::Panicked;

/// A layer that answers a handler panic with `500` and a JSON body
/// `{"error":"internal server error","request_id":"…"}`, as the observability guides
/// answer unhandled exceptions, instead of closing the connection. Put it inside
/// [`ObsLayer`](super::ObsLayer) (add it first), so that the request id is known and the
/// request is counted as a `500` with `error.type = "panic"`:
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
/// use obs_runtime::axum::{ObsLayer, PanicLayer};
///
/// async fn boom() -> &'static str {
///     panic!("bug")
/// }
///
/// let app: Router = Router::new()
///     .route("/boom", get(boom))
///     .layer(PanicLayer::new())
///     .layer(ObsLayer::new());
/// ```
///
/// The panic message is not sent to the client (it can name internals); the default
/// panic hook still prints it, and the span records the panic.
#[derive(Clone, Copy, Debug, Default)]
pub struct PanicLayer {
    _private: (),
}

impl PanicLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> tower_layer::Layer<S> for PanicLayer {
    type Service = PanicService<S>;

    fn layer(&self, inner: S) -> PanicService<S> {
        PanicService { inner }
    }
}

/// The service [`PanicLayer`] wraps around yours.
#[derive(Clone, Debug)]
pub struct PanicService<S> {
    inner: S,
}

/// The `500` answer to a panic of the request `id`.
fn answer(id: Option<&Arc<str>>, payload: &(dyn Any + Send)) -> Response<Body> {
    let message =
        crate::observe::panic::payload_message(payload).unwrap_or("a panic without a message");
    // The backtrace the panic hook kept (`init().install()`, `RUST_BACKTRACE`), if any.
    let report = crate::observe::panic::last();
    tracing::event!(
        target: crate::trace::EXCEPTION_TARGET,
        tracing::Level::ERROR,
        exception.r#type = "panic",
        exception.message = %crate::redact::scrub(message),
        exception.stacktrace = report.as_ref().and_then(|r| r.stacktrace.as_deref()),
        "exception"
    );
    let mut body = String::from("{\"error\":\"internal server error\"");
    if let Some(id) = id {
        body.push_str(",\"request_id\":");
        crate::log::json_str(&mut body, id);
    }
    body.push_str("}\n");
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.extensions_mut().insert(Panicked);
    response
}

impl<S, B> tower_service::Service<Request<B>> for PanicService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = PanicFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let id = request
            .extensions()
            .get::<RequestId>()
            .map(|r| Arc::clone(&r.0));
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(inner) => PanicFuture {
                inner: Some(inner),
                id,
                panic: None,
            },
            // Answered when polled, like a panic inside the future.
            Err(payload) => PanicFuture {
                inner: None,
                id,
                panic: Some(payload),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`PanicService`].
    pub struct PanicFuture<F> {
        #[pin]
        inner: Option<F>,
        id: Option<Arc<str>>,
        // A panic of the service's `call`, answered at the first poll.
        panic: Option<Box<dyn Any + Send>>,
    }
}

impl<F> fmt::Debug for PanicFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for PanicFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let payload = this
                .panic
                .take()
                .unwrap_or_else(|| Box::new("the response was already taken"));
            return Poll::Ready(Ok(answer(this.id.as_ref(), payload.as_ref())));
        };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Ok(answer(this.id.as_ref(), payload.as_ref()))),
        }
    }
}
