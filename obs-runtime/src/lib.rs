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
mod observe;
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
pub use obs_macros::{ErrorLabel, Label, observe};
pub use observe::{ErrorLabel, FUNCTION_BUCKETS, FnSite, observed_function, observed_functions};

/// Declares metric families as statics whose labels are bounded enums.
///
/// # Grammar
///
/// ```text
/// metric! {
///     /// Help text (required): becomes `# HELP`.
///     VIS KIND IDENT("exposition_name", label: LabelType, …, option = value, …);
///     …
/// }
/// ```
///
/// | `KIND` | static type | update API |
/// |---|---|---|
/// | `counter` | [`Family`]`<L, `[`Counter`]`>` | `inc()`, `inc_by(u64)` |
/// | `float_counter` | [`Family`]`<L, `[`FloatCounter`]`>` | `inc_by(f64)` |
/// | `gauge` | [`Family`]`<L, `[`Gauge`]`>` | `set`, `inc`, `dec`, `add` (i64) |
/// | `float_gauge` | [`Family`]`<L, `[`FloatGauge`]`>` | `set`, `add` (f64) |
/// | `histogram` | [`Family`]`<L, `[`Histogram`]`>` | `observe(f64)`, `start_timer()` |
/// | `summary` | [`Family`]`<L, `[`Summary`]`>` | `observe(f64)` |
/// | `info` | [`Info`]`<N>` | `set([&str; N])`; labels are names only |
///
/// Labels are `name: Type` where `Type` implements [`Label`] (derive it on a fieldless
/// enum; `bool`, [`HttpMethod`], [`StatusClass`] and [`Outcome`] are ready-made), at most 8.
/// A labelled family is used with `with(value, …)` in declared order; an unlabelled one
/// dereferences to its single cell.
///
/// Options: `unit = "seconds"` (the name must end in `_seconds`, before `_total` on
/// counters), `budget = N` (the most label combinations; default 10 000), `buckets = [..]`
/// or a const expression of type `[f64; N]` such as [`exponential_buckets`] (histograms;
/// default [`DEFAULT_BUCKETS`]), `quantiles = [..]`, `max_age = SECONDS`,
/// `age_buckets = N` (summaries; default p50/p90/p99 over 600 s in 5 steps), and
/// `crate = path` for crates that re-export obs under another name.
///
/// Every family joins the program's link-time catalogue, so [`Registry::global`] exposes
/// it, zero-valued, from the first scrape on.
///
/// # Checks at compile time
///
/// Each is an error at the offending token that says what to write instead: the name's
/// character set, `:` and the reserved `__` prefix; `_total` on counters and only on
/// counters; suffixes the formats add themselves (`_bucket`, `_created`, `_info`, …); the
/// unit suffix and non-base units (`_milliseconds` → `_seconds`); reserved label names
/// (`le`, `quantile`, `__*`) and per-request identifiers (`user_id`, `request_id`, `email`,
/// `ip`, …); duplicate labels, options and names; empty, non-finite or unsorted buckets;
/// quantiles outside `0..=1`; a missing doc comment; label types that are not bounded
/// (`String`, `&str`, integers); and, in const evaluation, the cardinality budget.
///
/// # Examples
///
/// ```
/// use obs_runtime::{HttpMethod, Label, StatusClass, metric};
///
/// #[derive(Clone, Copy, Debug, Label)]
/// pub enum Cache { Hit, Miss }
///
/// metric! {
///     /// Lookups by cache outcome.
///     pub counter LOOKUPS("catalog_lookups_total", cache: Cache);
///     /// Request latency.
///     pub histogram LATENCY(
///         "catalog_request_duration_seconds",
///         method: HttpMethod,
///         status: StatusClass,
///         buckets = [0.005, 0.05, 0.5, 5.0],
///         unit = "seconds",
///     );
///     /// Items in the cache.
///     pub gauge ITEMS("catalog_cache_items");
/// }
///
/// LOOKUPS.with(Cache::Hit).inc();
/// LATENCY.with(HttpMethod::Get, StatusClass::Success).observe(0.012);
/// ITEMS.set(42);
/// assert_eq!(LOOKUPS.with(Cache::Hit).get(), 1);
/// ```
///
/// Labels are typed and ordered:
///
/// ```compile_fail
/// # use obs_runtime::{HttpMethod, StatusClass, metric};
/// metric! {
///     /// Requests.
///     pub counter REQUESTS("requests_total", method: HttpMethod, status: StatusClass);
/// }
/// REQUESTS.with(StatusClass::Success, HttpMethod::Get).inc(); // wrong order
/// ```
///
/// A per-request identifier is not a label:
///
/// ```compile_fail
/// # use obs_runtime::metric;
/// metric! {
///     /// Requests.
///     pub counter REQUESTS("requests_total", user_id: bool);
/// }
/// ```
///
/// Too many combinations for the budget:
///
/// ```compile_fail
/// # use obs_runtime::{HttpMethod, StatusClass, metric};
/// metric! {
///     /// Requests.
///     pub counter REQUESTS("requests_total", method: HttpMethod, status: StatusClass, budget = 10);
/// }
/// ```
///
/// Counters end in `_total`:
///
/// ```compile_fail
/// obs_runtime::metric! {
///     /// Requests.
///     pub counter REQUESTS("requests");
/// }
/// ```
#[doc(inline)]
pub use obs_macros::metric;
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
    pub use crate::observe::{
        CallOutcome, ErrorInfo, ErrorLabel, ErrorName, FUNCTION_BUCKETS, FnSite, Message, Probe,
        ProbeDebug, ProbeDisplay, ProbeLabel, ProbeNone, ProbeType, short_type_name,
    };
    pub use core::time::Duration;
    pub use linkme;
    pub use tracing::field::{Value, debug, display};
    pub use tracing::{Level, Metadata};
    pub use tracing_core::callsite::{DefaultCallsite, Identifier};
    pub use tracing_core::field::FieldSet;

    /// The kind of a span's metadata.
    pub const SPAN: tracing_core::metadata::Kind = tracing_core::metadata::Kind::SPAN;

    /// Every function instrumented with `#[observe]`, collected at link time.
    #[allow(unsafe_code)] // see CATALOGUE
    #[linkme::distributed_slice]
    pub static OBSERVED: [&'static FnSite];

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
