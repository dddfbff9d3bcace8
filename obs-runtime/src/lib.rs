//! Observability checked at compile time: Prometheus metrics whose labels are bounded enums.
//!
//! `obs-runtime` is the one crate a service depends on. It re-exports the macros of
//! `obs-macros` and holds the metric storage, the registry and the exposition encoders.
//!
//! # Usage
//!
//! ```
//! use obs_runtime::{HttpMethod, Label, Registry, StatusClass, metric};
//!
//! #[derive(Clone, Copy, Debug, Label)]
//! enum PaymentMethod { Card, Paypal }
//!
//! metric! {
//!     /// Orders processed, by payment method.
//!     pub counter ORDERS("shop_orders_processed_total", method: PaymentMethod);
//!     /// HTTP request latency.
//!     pub histogram LATENCY(
//!         "shop_http_request_duration_seconds",
//!         method: HttpMethod,
//!         status: StatusClass,
//!         unit = "seconds",
//!     );
//! }
//!
//! ORDERS.with(PaymentMethod::Card).inc();
//! LATENCY.with(HttpMethod::Get, StatusClass::Success).observe(0.042);
//!
//! let text = Registry::global().render(None).body;
//! assert!(text.contains("shop_orders_processed_total{method=\"card\"} 1\n"));
//! assert!(text.contains("shop_orders_processed_total{method=\"paypal\"} 0\n"));
//! ```
//!
//! A label type whose values are not a bounded set does not compile:
//!
//! ```compile_fail
//! obs_runtime::metric! {
//!     /// Requests per path.
//!     pub counter REQUESTS("requests_total", path: &'static str);
//! }
//! ```
//!
//! # Features
//!
//! - `prometheus` (default): interop with the `prometheus` crate. obs families implement
//!   `prometheus::core::Collector`, and the global registry's exposition includes
//!   `prometheus::default_registry()`.
//! - `process` (default): process metrics (CPU, memory, open file descriptors) on Linux,
//!   through the `prometheus` crate's process collector.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.85 (edition 2024).

#![deny(missing_docs)]

// Lets `metric!` expand inside this crate too (self-metrics).
extern crate self as obs_runtime;

mod dynamic;
pub mod encoding;
mod family;
#[cfg(feature = "prometheus")]
mod interop;
mod label;
mod metric;
pub mod name;
mod registry;
mod self_metrics;

pub use dynamic::{DynamicFamily, DynamicOptions, OVERFLOW_VALUE};
pub use encoding::{Exemplar, Format};
pub use family::{Collect, Descriptor, EAGER_SERIES_LIMIT, Family, Info, Location};
pub use label::{HttpMethod, Label, LabelSet, Outcome, StatusClass};
pub use metric::{
    CachePadded, Counter, DEFAULT_BUCKETS, FloatCounter, FloatGauge, Gauge, Histogram,
    HistogramOptions, HistogramTimer, Metric, Summary, SummaryOptions, buckets_valid,
    exponential_buckets, linear_buckets, quantiles_valid,
};
pub use name::MetricKind;
pub use obs_macros::{Label, metric};
pub use registry::{Exposition, Registry, RegistryError, catalogue};

/// Items the macros expand to. Not a stable API: names and signatures change without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::family::{Collect, Descriptor, Family, Info, Location};
    pub use crate::label::{Label, LabelSet};
    pub use crate::metric::{
        Counter, FloatCounter, FloatGauge, Gauge, Histogram, HistogramOptions, Summary,
        SummaryOptions, buckets_valid, quantiles_valid,
    };
    pub use crate::name::MetricKind;
    pub use core::time::Duration;
    pub use linkme;

    /// Every family declared with `metric!`, collected at link time.
    // linkme places the slice in a link section; that attribute is what `unsafe_code` flags.
    // The slice holds only `&'static dyn Collect` built by `metric!`.
    #[allow(unsafe_code)]
    #[linkme::distributed_slice]
    pub static CATALOGUE: [&'static dyn Collect];

    /// Compile-time proof that `T` is a bounded label (the error speaks through
    /// `Label`'s `on_unimplemented`).
    pub const fn assert_label<T: Label>() {}

    /// The number of label combinations of a set, for the const cardinality budget check.
    pub const fn cardinality<L: LabelSet>() -> usize {
        L::CARDINALITY
    }
}
