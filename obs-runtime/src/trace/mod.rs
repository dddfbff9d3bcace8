//! Traces: span identity, sampling, recording and export.
//!
//! [`TraceLayer`] is a `tracing-subscriber` layer. It gives every span a W3C trace id and
//! span id (children inherit the trace, roots start one or continue a remote caller's,
//! see [`set_parent`]), decides sampling, records the spans that may be exported into
//! [`SpanRecord`]s, and hands finished ones to a bounded batch queue drained by a
//! background thread into a [`SpanExporter`]: OTLP over HTTP/protobuf or gRPC with the
//! `otlp` feature, or one of your own.
//!
//! The hot path never blocks: a full queue drops the span and counts it in
//! `obs_spans_dropped_total{reason="queue_full"}`; a failed export counts
//! `obs_export_errors_total` and drops its batch (`reason="export_failed"`).
//!
//! While a span of a sampled trace is entered, counters and histogram buckets updated on
//! that thread keep its ids as their exemplar, so a slow bucket links to its trace.
//!
//! [`crate::init()`] wires all of this up; use the layer directly to build your own
//! subscriber:
//!
//! ```
//! use obs_runtime::trace::{self, InMemoryExporter, Pipeline, PipelineConfig, Sampler, TraceLayer};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let exporter = InMemoryExporter::default();
//! let pipeline = Pipeline::start(Box::new(exporter.clone()), PipelineConfig::default());
//! let layer = TraceLayer::new(Sampler::AlwaysOn).with_pipeline(&pipeline);
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let root = tracing::info_span!("checkout");
//!     let _entered = root.enter();
//!     tracing::info_span!("charge").in_scope(|| {
//!         let context = trace::current().unwrap();
//!         assert!(context.sampled);
//!     });
//! });
//! pipeline.shutdown(std::time::Duration::from_secs(5));
//! let spans = exporter.spans();
//! assert_eq!(spans.len(), 2);
//! assert_eq!(spans[0].name, "charge");
//! assert_eq!(spans[0].parent_span_id, Some(spans[1].span_id));
//! assert_eq!(spans[0].trace_id, spans[1].trace_id);
//! ```

mod export;
mod fields;
mod hint;
mod ids;
mod layer;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
mod pipeline;
pub mod propagation;
mod protocol;
pub(crate) mod queue;
pub(crate) mod record;
mod sampler;
mod state;
mod tls;
mod trouble;

pub use export::{ExportError, InMemoryExporter, SpanExporter};
pub use ids::{SpanContext, SpanId, TraceId};
pub use layer::{
    TraceLayer, current, current_baggage, current_with_state, set_baggage, set_parent,
};
#[cfg(feature = "otlp")]
pub use otlp::OtlpExporter;
pub use pipeline::{MAX_QUEUE_SIZE, Pipeline, PipelineConfig, PipelineStats};
pub use protocol::Protocol;
pub use record::{AttrValue, EventRecord, Resource, SpanKind, SpanLimits, SpanRecord, Status};
pub use sampler::{Sampler, TailSampling};

pub(crate) use state::layer_state_context;
pub use state::with_remote_parent;
pub use tls::TlsConfig;
pub use trouble::ExportTarget;
pub(crate) use trouble::{EXPORT_TARGET, Trouble, mark_export_thread, on_export_thread};

/// Target of the `exception` span events (of `#[observe]` and the HTTP layer): they belong
/// to the trace, so the log layer writes no line for them.
pub(crate) const EXCEPTION_TARGET: &str = "obs::exception";

/// Target of the log line `err(level = ..)` asks for: the span already has the matching
/// `exception` event, so the trace layer records no second span event for it.
pub(crate) const ERROR_LOG_TARGET: &str = "obs::error";

/// Target of the access log lines of the HTTP layer: the span already has their
/// attributes, so the trace layer records no span event for them.
pub(crate) const ACCESS_TARGET: &str = "obs::access";
