//! Logs, in one run:
//!
//! - `log_line`: the cost of one JSON line written inside a request's span, by obs's
//!   `LogLayer` as it was (no service, no request fields) and as it is (service name,
//!   version and environment, and the request's id, method, route, client and the user
//!   id bound to the span), against `tracing-subscriber`'s JSON formatter carrying the
//!   same values as span fields. Every writer discards the line.
//! - `log_record_export`: log records through to an OTLP/HTTP sink on 127.0.0.1, emitted
//!   in chunks of 500 and flushed after each chunk (so none is dropped): obs's log
//!   pipeline against `opentelemetry-appender-tracing` over the OpenTelemetry SDK's batch
//!   log processor and `opentelemetry-otlp`'s log exporter. Time per record, end to end.
//!
//! `cargo bench -p obs-benches --bench logs`; results in the crate's README.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use obs_runtime::log::{LogFormat, LogLayer, LogWriter, bind};
use opentelemetry_otlp::WithExportConfig as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// The event every benchmark writes.
#[inline(never)]
fn event() {
    tracing::info!(items = 3, sku = "A1", "order placed");
}

/// A request's span with obs's request fields bound to it, as `ObsLayer` binds them.
fn obs_request_span() -> tracing::Span {
    let span = tracing::info_span!("POST /api/orders");
    for (key, value) in [
        ("request_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("http.request.method", "POST"),
        ("http.route", "/api/orders"),
        ("client.address", "127.0.0.1"),
        ("user_id", "5"),
    ] {
        assert!(bind(&span, key, value), "bound");
    }
    span
}

/// A discarding writer (the line is built, then dropped).
fn discard() -> LogWriter {
    LogWriter::new(|line| {
        black_box(line);
    })
}

fn log_line(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_line");
    let plain = tracing::Dispatch::new(
        tracing_subscriber::registry().with(LogLayer::new(LogFormat::Json, discard())),
    );
    tracing::dispatcher::with_default(&plain, || {
        let span = tracing::info_span!("POST /api/orders");
        let _entered = span.enter();
        g.bench_function("obs_json_without_placement", |b| b.iter(event));
    });
    let placed = tracing::Dispatch::new(tracing_subscriber::registry().with(
        LogLayer::new(LogFormat::Json, discard()).service(
            "orders",
            Some("1.4.0"),
            Some("production"),
        ),
    ));
    tracing::dispatcher::with_default(&placed, || {
        let span = obs_request_span();
        let _entered = span.enter();
        g.bench_function("obs_json_placed", |b| b.iter(event));
    });
    let fmt = tracing::Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::sink),
        ),
    );
    tracing::dispatcher::with_default(&fmt, || {
        let span = tracing::info_span!(
            "POST /api/orders",
            request_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            http.request.method = "POST",
            http.route = "/api/orders",
            client.address = "127.0.0.1",
            user_id = "5",
        );
        let _entered = span.enter();
        g.bench_function("tracing_subscriber_json_span_fields", |b| b.iter(event));
    });
    g.finish();
}

/// Records emitted between flushes: under both queues' capacity, so none is dropped.
const CHUNK: u64 = 500;

/// Emits `n` events in chunks, calling `flush` after each; the time it all took.
fn emit_flushed(n: u64, flush: impl Fn()) -> Duration {
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let chunk = left.min(CHUNK);
        for _ in 0..chunk {
            event();
        }
        flush();
        left -= chunk;
    }
    start.elapsed()
}

/// obs's subscriber with log records to `addr` only (no lines, no spans).
fn obs_records(addr: SocketAddr) -> obs_runtime::init::Telemetry {
    obs_runtime::init()
        .env([
            ("OTEL_LOGS_EXPORTER", "otlp"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ])
        .service_name("bench")
        .otlp_endpoint(format!("http://{addr}"))
        .metrics_addr(None)
        .log_format(LogFormat::Json)
        .log_writer(discard())
        .build()
        .expect("obs log pipeline")
}

/// `opentelemetry-appender-tracing` over the SDK's batch log processor (on a Tokio
/// runtime, which the hyper-based HTTP exporter needs) exporting to `addr`.
fn otel_records(
    addr: SocketAddr,
    runtime: &tokio::runtime::Runtime,
) -> (
    tracing::Dispatch,
    opentelemetry_sdk::logs::SdkLoggerProvider,
) {
    let _entered = runtime.enter();
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("http://{addr}/v1/logs"))
        .build()
        .expect("OTLP log exporter");
    let processor =
        opentelemetry_sdk::logs::log_processor_with_async_runtime::BatchLogProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_log_processor(processor)
        .with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("bench")
                .build(),
        )
        .build();
    let bridge = opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider);
    (
        tracing::Dispatch::new(tracing_subscriber::registry().with(bridge)),
        provider,
    )
}

fn log_record_export(c: &mut Criterion) {
    let addr = obs_benches::otlp_sink();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let obs = obs_records(addr);
    let pipeline = obs.guard.log_pipeline().expect("log pipeline").clone();
    let (otel, provider) = otel_records(addr, &runtime);

    let mut g = c.benchmark_group("log_record_export");
    tracing::dispatcher::with_default(&obs.dispatch, || {
        let span = obs_request_span();
        let _entered = span.enter();
        g.bench_function("obs_log_pipeline", |b| {
            b.iter_custom(|n| {
                emit_flushed(n, || {
                    assert!(pipeline.force_flush(Duration::from_secs(10)));
                })
            });
        });
    });
    // The same records without the request's fields: what the appender's records carry
    // (message, two fields), plus the trace context obs always adds.
    tracing::dispatcher::with_default(&obs.dispatch, || {
        let span = tracing::info_span!("POST /api/orders");
        let _entered = span.enter();
        g.bench_function("obs_log_pipeline_unplaced", |b| {
            b.iter_custom(|n| {
                emit_flushed(n, || {
                    assert!(pipeline.force_flush(Duration::from_secs(10)));
                })
            });
        });
    });
    let stats = pipeline.stats();
    assert_eq!(
        (stats.queue_full, stats.export_failed),
        (0, 0),
        "every record exported"
    );
    tracing::dispatcher::with_default(&otel, || {
        let span = tracing::info_span!("POST /api/orders");
        let _entered = span.enter();
        g.bench_function("otel_appender_batch_processor", |b| {
            b.iter_custom(|n| {
                emit_flushed(n, || {
                    provider.force_flush().expect("flush");
                })
            });
        });
    });
    g.finish();
    let _ = provider.shutdown();
}

criterion_group!(benches, log_line, log_record_export);
criterion_main!(benches);
