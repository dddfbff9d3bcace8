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
//! ```compile_fail,E0277
//! obs_runtime::metric! {
//!     /// Requests per path.
//!     pub counter REQUESTS("requests_total", path: &'static str);
//! }
//! ```
//!
//! # Where things are
//!
//! The crate root holds what a service writes: [`metric!`], [`observe`](macro@observe), [`Label`],
//! [`ErrorLabel`], the metric cells ([`Counter`], [`Gauge`], [`Histogram`], [`Summary`],
//! …), [`Family`], [`Info`], [`Registry`] and [`init()`]. The rest is in modules:
//!
//! | module | what it holds |
//! |---|---|
//! | [`metrics`] | dynamic families, the `Collect` trait, encoders, naming rules |
//! | [`observe`](mod@observe) | the sites of observed functions ([`observe::observed_function`]) |
//! | [`trace`] | the span layer, samplers, the export pipeline, OTLP, propagation |
//! | [`log`] | the JSON/pretty log layer and fields bound to a span |
//! | [`server`] | the embedded `/metrics` and health server |
//! | [`init`](mod@init) | the [`init::Builder`], its errors and the guard it returns |
//! | `axum`, `reqwest` | HTTP integrations (features of the same name) |
//!
//! # Features
//!
//! - `otlp` (default): OTLP trace export over HTTP/protobuf (the official protobuf
//!   definitions of `opentelemetry-proto`, sent with hyper, so that a failed export keeps
//!   its cause: the connection error, the collector's status and answer), and the W3C
//!   propagators installed in `opentelemetry::global`. Without it, [`init()`](fn@init)
//!   still installs traces (ids, sampling, exemplars, a custom [`trace::SpanExporter`]),
//!   logs and the metrics server, and refuses an OTLP endpoint with an error naming this
//!   feature.
//! - `otlp-tls`: OTLP over `https://` (HTTP/protobuf) with rustls, a custom CA and mTLS
//!   from the standard `OTEL_EXPORTER_OTLP_*CERTIFICATE`/`_CLIENT_KEY` variables;
//!   `otlp-grpc-tls` does the same for gRPC.
//! - `otlp-grpc`: OTLP over gRPC as well (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`), through
//!   tonic. Without it, asking for gRPC is an [`init::InitError`] naming this feature.
//! - `prometheus` (default): interop with the `prometheus` crate. obs families implement
//!   `prometheus::core::Collector`, and the global registry's exposition includes
//!   `prometheus::default_registry()`.
//! - `process` (default): process metrics (CPU, memory, open file descriptors) on Linux,
//!   through the `prometheus` crate's process collector.
//! - `tokio-runtime` (default): `init().tokio_runtime(handle)` exposes the Tokio runtime's
//!   metrics.
//! - `log-bridge` (default): `init().install()` forwards records of the `log` crate to the
//!   subscriber, so libraries that log through `log` reach the same JSON lines.
//! - `axum`: the tower layer for HTTP services (RED metrics per
//!   route, server spans, propagation, request ids), health checks, and a `/metrics`
//!   handler.
//! - `reqwest`: trace-context injection for outgoing `reqwest` requests.
//!
//! # Runtime
//!
//! [`init()`] installs traces ([`trace`]), logs ([`log`]) and the metrics server in one
//! call, configured from code and the standard `OTEL_*` variables; see
//! [`init::Builder`]. Spans are ordinary `tracing` spans, so any subscriber sees them;
//! obs's own span layer records and exports them, and also feeds exemplars and the trace
//! ids of log lines.
//!
//! # Supported Rust versions
//!
//! The minimum supported Rust version is 1.88 (edition 2024, let chains).

#![deny(missing_docs)]

// Lets `metric!` expand inside this crate too (self-metrics).
extern crate self as obs_runtime;

pub mod dashboards;
#[cfg(feature = "sqlx")]
pub mod db;
mod http;
pub mod init;
pub mod log;
pub mod metrics;
pub mod observe;
mod redact;
#[cfg(test)]
mod testing;
mod time;
pub mod trace;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "axum")]
pub use http::axum;
#[cfg(feature = "reqwest")]
pub use http::reqwest;
pub use http::server;
pub use init::init;
pub use metrics::{
    Counter, DEFAULT_BUCKETS, Family, FloatCounter, FloatGauge, Gauge, Histogram, HttpMethod, Info,
    Label, Outcome, Registry, StatusClass, Summary, exponential_buckets, linear_buckets,
};
pub use obs_macros::{ErrorLabel, Label};
pub use observe::ErrorLabel;
/// The `tracing` crate obs is built on, so a service can log and open spans with one
/// dependency: `use obs_runtime::tracing;`.
pub use tracing;
/// `tracing-subscriber`, for composing [`trace::TraceLayer`] and [`log::LogLayer`] into a
/// subscriber of your own.
pub use tracing_subscriber;

/// Instruments a function: a `tracing` span, error recording and RED metrics in one.
///
/// Works on sync and async functions, free functions and methods (`&self`, `&mut self`,
/// `self`, `self: Arc<Self>`), generic functions, `impl Trait` in arguments and returns,
/// trait impl methods and `#[async_trait]` impls. The expansion is a few statics and one
/// call into [`FnSite`](observe::FnSite); the logic lives in this crate.
///
/// # What one call produces
///
/// - A span named after the function (or `name = ".."`), at `level` (default `info`),
///   with `code.function`, `code.namespace` and `otel.kind = "internal"`, plus only the
///   fields listed in `fields(..)`: arguments are never recorded implicitly.
/// - `function_calls_total{function, module, result, error}`: `result` is `ok`, `error`
///   or `cancelled` (an async call dropped before completion, by `timeout` or `select!`);
///   `error` is the variant name of an error enum deriving [`ErrorLabel`], else the error
///   type's readable name (see [Error labels](#error-labels)), and `panic` for a panic,
///   which is recorded and then continues.
/// - `function_calls_duration_seconds{function, module}`, a histogram (default
///   [`FUNCTION_BUCKETS`](observe::FUNCTION_BUCKETS), or `buckets = [..]`).
/// - `function_calls_concurrent{function, module}`, calls in flight (unless
///   `concurrency = false`); it returns to zero on every path, panics and cancellations
///   included.
/// - On error: the span gets `otel.status_code = "ERROR"` and `error.type`, and an
///   `exception` event (target `obs::exception`) with `exception.type` and
///   `exception.message` (the error's `Display`, else its `Debug`). No log line unless
///   `err(level = "warn")` asks for one (target `obs::error`).
///
/// The names follow the Autometrics specification, so its dashboards and these queries work:
///
/// ```text
/// # calls per second
/// sum by (function, module) (rate(function_calls_total[5m]))
/// # error ratio
/// sum by (function, module) (rate(function_calls_total{result="error"}[5m]))
///   / sum by (function, module) (rate(function_calls_total[5m]))
/// # p99 latency
/// histogram_quantile(0.99, sum by (le, function, module) (rate(function_calls_duration_seconds_bucket[5m])))
/// ```
///
/// # The function keeps its meaning
///
/// Adding the attribute never changes whether or how a function compiles. The body keeps
/// its expected return type (`fn name(&self) -> &str { &self.name }` with a `String`
/// field, `-> Box<dyn Fn()>` from an `if` of two closures, `async fn` returning
/// `Result<Box<dyn Debug + Send>, E>` from `Ok(Box::new(5))`), its borrows (`&mut`
/// returned from `&mut self`), its inner attributes, `#[track_caller]` (the body is not
/// moved into a closure, so `Location::caller()` is the caller's), `-> !`, `unsafe fn`
/// and `extern "C" fn`. Lints and type errors stay on the user's lines.
///
/// # How an outcome is classified
///
/// By the output's type, never by how the return type is spelled:
///
/// - A `Result` is classified by its variant, through any alias (`type Outcome =
///   Result<..>`, `io::Result<T>`, a crate's own `Result<T>`, `core::result::Result`).
///   Anything else is `ok` unless `ok_if`/`error_if` says otherwise (they take precedence).
/// - A non-`async` function returning `impl Future<..>`, or a boxed future
///   (`Pin<Box<dyn Future<Output = T> (+ Send) + 'a>>`, and aliases of it such as
///   `BoxFuture`), is timed from the call to the future's completion and classified by the
///   future's output; dropped before completion it is `cancelled`. A body that ends in
///   `Box::pin(async move { .. })` (as `#[async_trait]` writes) is observed like an
///   `async fn`, from its first poll. Other named future types (a `JoinHandle`, say) are
///   ordinary values, recorded when the function returns.
/// - A generic function labels each call by its own error type. Where the error type is a
///   generic parameter bounded by [`ErrorLabel`] the label is the variant; without that
///   bound the variant is unknown where the body is compiled, and the label is the type's
///   name (one value per error type).
/// - A generic output type `T` is classified by what is known where the body is compiled:
///   it is not a `Result` there, so the call is `ok`.
/// - In a `#[track_caller]` function the body is not wrapped, so its `return`s and `?`s are
///   rewritten to be seen. An exit the attribute cannot see, a `return` or `?` inside a
///   macro call (`bail!(..)`, `println!("{}", f()?)`), is counted as `result="error",
///   error="unclassified"`: never as `ok`. Ordinary functions see every exit.
///
/// # Error labels
///
/// Variants of an [`ErrorLabel`] enum label themselves (`Declined`, or their `rename`).
/// `panic` and `unclassified` are reserved for what obs records itself. Other error types
/// get a short, unambiguous name:
///
/// | error type | `error` label |
/// |---|---|
/// | a type of the observed function's own crate | `CheckoutError` |
/// | a type of another crate | `anyhow::Error`, `serde_json::Error`, `reqwest::Error` |
/// | a std type of the prelude | `String`, `Vec<u8>` |
/// | any other std type | `io::Error`, `fmt::Error`, `num::ParseIntError` |
/// | a boxed trait object (auto traits left out) | `Box<dyn Error>` |
///
/// # Arguments
///
/// | argument | meaning |
/// |---|---|
/// | `name = "checkout.submit"` | span name and `function` label |
/// | `level = "debug"` | span level: `trace`, `debug`, `info`, `warn`, `error` |
/// | `fields(id = %order.id, n = count, cart = ?cart)` | span fields: `%` Display, `?` Debug, else a `tracing::Value` |
/// | `fields(token = redact(token))`, `fields(token = unredacted(%token))` | a sensitive-looking name needs one of these markers; `unredacted` gives the value to the span, but obs's own logs and exporter still redact keys that look secret |
/// | `skip(a, b)` | accepted for `#[instrument]` users; must name parameters |
/// | `buckets = [0.01, 0.1, 1.0]` or `buckets = CONST` | duration buckets, checked increasing |
/// | `labels(tier = Tier::Gold)` | extra bounded labels (values implement [`Label`]) |
/// | `err(level = "warn")` | also log failed calls at that level |
/// | `ok_if = path`, `error_if = path` | classify a non-`Result` output with `fn(&T) -> bool` |
/// | `concurrency = false` | no in-flight gauge |
/// | `slo = CHECKOUT` | measure the function against a [`metrics::Slo`] const: its rules, alerts and panels come from [`dashboards`]; a latency threshold becomes a bucket boundary, and one the buckets cannot hold is a compile error |
/// | `crate = path` | where obs is, for crates that re-export it |
///
/// # Examples
///
/// ```
/// use obs_runtime::{ErrorLabel, observe, observe::observed_function};
///
/// #[derive(Debug, ErrorLabel)]
/// pub enum PaymentError {
///     Declined { code: u16 },
///     Timeout,
/// }
///
/// #[observe(fields(amount = amount_cents))]
/// fn charge(amount_cents: u64) -> Result<u64, PaymentError> {
///     if amount_cents > 10_000 {
///         return Err(PaymentError::Declined { code: 51 });
///     }
///     Ok(amount_cents)
/// }
///
/// #[observe(name = "inventory.reserve", level = "debug")]
/// async fn reserve(sku: &str) -> Result<(), std::io::Error> {
///     let _ = sku;
///     Ok(())
/// }
///
/// assert!(charge(500).is_ok());
/// assert!(charge(50_000).is_err());
/// let site = observed_function(module_path!(), "charge").unwrap();
/// assert_eq!(site.calls("ok"), 1);
/// assert_eq!(site.errors("Declined"), 1);
/// assert_eq!(site.in_flight(), 0);
/// # let _ = reserve("sku-1");
/// ```
///
/// A sensitive-looking field needs an explicit marker:
///
/// ```compile_fail
/// #[obs_runtime::observe(fields(password = %password))]
/// fn login(password: &str) -> bool { password.is_empty() }
/// ```
///
/// `const fn` cannot be observed:
///
/// ```compile_fail
/// #[obs_runtime::observe]
/// const fn answer() -> u8 { 42 }
/// ```
///
/// Extra labels are fixed per function, so their values are enum constants, not
/// variables:
///
/// ```compile_fail,E0435
/// # use obs_runtime::{Label, observe};
/// #[derive(Clone, Copy, Debug, Label)]
/// enum Tier { Gold }
///
/// #[observe(labels(tier = tier))]
/// fn premium(tier: Tier) {}
/// ```
///
/// Borrows and coercions work as without the attribute, and outcomes go by type:
///
/// ```
/// use obs_runtime::{observe, observe::observed_function};
///
/// pub struct Cart { name: String, items: Vec<u32> }
///
/// /// The crate's own result alias.
/// type Outcome = Result<u32, std::io::Error>;
///
/// impl Cart {
///     #[observe]
///     fn name(&self) -> &str { &self.name }
///
///     #[observe]
///     fn first(&mut self) -> &mut u32 { &mut self.items[0] }
///
///     #[observe]
///     fn total(&self) -> Outcome {
///         if self.items.is_empty() { Err(std::io::Error::other("empty")) } else { Ok(1) }
///     }
/// }
///
/// let mut cart = Cart { name: "a".into(), items: vec![1] };
/// assert_eq!(cart.name(), "a");
/// *cart.first() += 1;
/// assert!(Cart { name: String::new(), items: vec![] }.total().is_err());
/// let site = observed_function(module_path!(), "total").unwrap();
/// assert_eq!(site.errors("io::Error"), 1);
/// ```
#[doc(inline)]
pub use obs_macros::observe;

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
/// ```compile_fail,E0308
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
/// ```compile_fail,E0080
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
