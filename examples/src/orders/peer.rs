//! The orders service instrumented the way Rust services usually are (feature `peer`): the
//! peer stack obs is measured against under load (`benches/load/compare.sh`).
//!
//! - `#[tracing::instrument(skip_all, fields(..), err)]` on the service functions, with the
//!   fields `#[observe]` records;
//! - `axum-prometheus` (RED metrics per route, through `metrics-exporter-prometheus`) and
//!   tower-http's `TraceLayer` with INFO spans and a line per response;
//! - tracing-subscriber's JSON lines on stdout, with the current span;
//! - tracing-opentelemetry over the OpenTelemetry SDK's batch span processor on the
//!   service's Tokio runtime, exporting over OTLP HTTP/protobuf to
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (nothing exported when it is unset). The async-runtime
//!   processor is the one that works here: the SDK's default processor with the hyper
//!   client exports nothing (its thread has no Tokio reactor).

use axum::Router;
use axum::routing::get;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing_subscriber::layer::SubscriberExt as _;

/// The installed peer stack; shutting it down exports the spans still queued.
#[derive(Debug)]
pub struct PeerTelemetry {
    provider: SdkTracerProvider,
    /// Where spans go, for the startup line.
    pub summary: String,
}

impl Drop for PeerTelemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the peer stack as the global subscriber. Call it inside the Tokio runtime the
/// batch processor will run on.
///
/// # Errors
///
/// When the OTLP exporter cannot be built or a global subscriber is already set.
pub fn install() -> Result<PeerTelemetry, Box<dyn std::error::Error>> {
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("orders")
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
    let summary = match &endpoint {
        Some(endpoint) => {
            let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(&url)
                .build()?;
            builder = builder.with_span_processor(
                BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build(),
            );
            format!("peer stack: spans to {url}")
        }
        None => "peer stack: spans not exported (OTEL_EXPORTER_OTLP_ENDPOINT unset)".to_owned(),
    };
    let provider = builder.build();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false),
        )
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("orders")));
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(PeerTelemetry { provider, summary })
}

/// `router` behind axum-prometheus and tower-http's `TraceLayer`, with axum-prometheus's
/// exposition at `/peer/metrics`. Call it once per process: axum-prometheus installs a
/// global recorder.
pub fn layers(router: Router) -> Router {
    let (metrics, handle) = axum_prometheus::PrometheusMetricLayer::pair();
    router
        .route("/peer/metrics", get(move || async move { handle.render() }))
        .layer(metrics)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
}
