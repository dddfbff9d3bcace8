//! Trace-context propagation into outgoing `reqwest` requests (feature `reqwest`).
//!
//! ```no_run
//! use obs_runtime::reqwest::Traced as _;
//!
//! # async fn call() -> Result<(), reqwest::Error> {
//! let client = reqwest::Client::new();
//! // Carries the current span's `traceparent` (and `tracestate`):
//! let response = client.get("http://inventory.internal/stock/42").traced().send().await?;
//! # Ok(()) }
//! ```

use http::{HeaderName, HeaderValue};

/// Adds the current span's W3C trace context to a request being built.
pub trait Traced {
    /// The builder with `traceparent` (and `tracestate`) set from the current span; unchanged
    /// outside a span or without the obs trace layer.
    #[must_use]
    fn traced(self) -> Self;
}

impl Traced for reqwest::RequestBuilder {
    fn traced(self) -> Self {
        let mut headers = http::HeaderMap::new();
        crate::trace::propagation::inject(|name, value| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        });
        if headers.is_empty() {
            self
        } else {
            self.headers(headers)
        }
    }
}
