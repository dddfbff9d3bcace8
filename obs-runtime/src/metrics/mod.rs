//! Metric storage and exposition: bounded labels, cells, families, the registry and the
//! encoders of the Prometheus text format and OpenMetrics.
//!
//! The crate root re-exports what a service declares and updates (the cells, [`Family`],
//! [`Info`], [`Registry`], the label types); this module also holds what tools and custom
//! collectors need: [`DynamicFamily`] for labels known only at run time, the [`Collect`]
//! trait, the [`encoding`] interface and the [`name`] rules.
//!
//! ```
//! use obs_runtime::metrics::{DynamicOptions, Format, Registry};
//! use obs_runtime::Counter;
//!
//! let registry = Registry::new();
//! let routes = registry
//!     .register_dynamic::<Counter, 1>(
//!         DynamicOptions::new("edge_routes_total", "Requests by route.", ["route"]),
//!         (),
//!     )
//!     .unwrap();
//! routes.with(["/orders/{id}"]).inc();
//! assert!(registry
//!     .encode(Format::Prometheus)
//!     .contains("edge_routes_total{route=\"/orders/{id}\"} 1\n"));
//! ```

pub(crate) mod buckets;
pub(crate) mod capped;
pub(crate) mod cell;
mod counter;
mod dynamic;
pub mod encoding;
pub(crate) mod exemplar;
pub(crate) mod family;
mod gauge;
mod histogram;
#[cfg(feature = "prometheus")]
pub(crate) mod interop;
pub(crate) mod label;
pub use obs_names as name;
mod registry;
pub(crate) mod runtime;
pub(crate) mod self_metrics;
pub(crate) mod slo;
mod summary;

pub use buckets::{DEFAULT_BUCKETS, exponential_buckets, linear_buckets};
pub use cell::Metric;
pub use counter::{Counter, FloatCounter};
pub use dynamic::{DynamicFamily, DynamicOptions, MAX_LABEL_VALUE_LEN, OVERFLOW_VALUE};
pub use encoding::{Exemplar, Format};
pub use family::{Collect, EAGER_SERIES_LIMIT, Family, Info, Location};
pub use gauge::{FloatGauge, Gauge};
pub use histogram::{Histogram, HistogramOptions, HistogramTimer};
pub use label::{HttpMethod, Label, LabelSet, Outcome, StatusClass};
pub use name::MetricKind;
pub(crate) use registry::BUILT_IN;
pub use registry::{CATALOGUE, Exposition, Registry, RegistryError, catalogue};
pub use slo::Slo;
pub use summary::{Summary, SummaryOptions};
