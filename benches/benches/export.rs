//! An observed call whose span is exported through obs's batch pipeline, against
//! `#[tracing::instrument]` + `tracing-opentelemetry` over the OpenTelemetry SDK's batch
//! processor, both exporting with the same `opentelemetry-otlp` HTTP/protobuf exporter to
//! the same OTLP sink on 127.0.0.1, in one run.
//!
//! Each sample runs its calls in chunks of one batch (512 spans) and flushes the pipeline
//! after each chunk, so the time per call covers the span, its metrics and its share of
//! encoding and sending, end to end; no span is dropped at a full queue (asserted for
//! obs, whose counts are exact), which would make a call look cheaper than its export.
//!
//! `cargo bench -p obs-benches --bench export`; results in the crate's README.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use obs_benches::{BenchError, body};
use obs_runtime::{metric, observe};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[observe]
#[inline(never)]
fn obs_call(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[tracing::instrument(skip_all, err)]
#[inline(never)]
fn instrument_call(x: u64) -> Result<u64, BenchError> {
    body(x)
}

metric! {
    /// Floor: calls.
    pub counter EXPORT_FLOOR_CALLS("export_floor_calls_total");
    /// Floor: duration.
    pub histogram EXPORT_FLOOR_SECONDS("export_floor_duration_seconds", buckets = obs_runtime::observe::FUNCTION_BUCKETS);
}

/// `#[tracing::instrument]` plus the RED metrics obs also records, written by hand.
#[tracing::instrument(skip_all, err)]
#[inline(never)]
fn instrument_with_metrics_call(x: u64) -> Result<u64, BenchError> {
    let start = quanta::Instant::now();
    let out = body(x);
    let elapsed = quanta::Instant::now().saturating_duration_since(start);
    EXPORT_FLOOR_CALLS.inc();
    EXPORT_FLOOR_SECONDS.observe(elapsed.as_secs_f64());
    out
}

/// obs's subscriber (filter, trace layer, pipeline; logs off) exporting to `addr`.
fn obs_dispatch(addr: SocketAddr) -> (tracing::Dispatch, obs_runtime::init::Guard) {
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .service_name("bench")
        .otlp_endpoint(format!("http://{addr}"))
        .metrics_addr(None)
        .logs(false)
        .build()
        .expect("obs pipeline");
    (telemetry.dispatch, telemetry.guard)
}

/// tracing-opentelemetry over the SDK's batch processor (on a Tokio runtime, which the
/// hyper-based HTTP exporter needs) exporting to `addr`.
fn otel_dispatch(
    addr: SocketAddr,
    runtime: &tokio::runtime::Runtime,
) -> (
    tracing::Dispatch,
    opentelemetry_sdk::trace::SdkTracerProvider,
) {
    let _entered = runtime.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("http://{addr}/v1/traces"))
        .build()
        .expect("OTLP exporter");
    let processor =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name("bench")
                .build(),
        )
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    (tracing::Dispatch::new(subscriber), provider)
}

/// Spans per chunk: one export batch of both pipelines.
const CHUNK: u64 = 512;

/// Runs `iters` calls of `call` in chunks, `flush` after each; the time of it all.
fn chunked(iters: u64, mut call: impl FnMut(), flush: impl Fn()) -> Duration {
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        for _ in 0..n {
            call();
        }
        flush();
        left -= n;
    }
    start.elapsed()
}

fn export(c: &mut Criterion) {
    let addr = obs_benches::otlp_sink();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (obs, obs_guard) = obs_dispatch(addr);
    let pipeline = obs_guard.pipeline().expect("an exporting pipeline").clone();
    let (otel, provider) = otel_dispatch(addr, &runtime);
    let obs_flush = || {
        assert!(
            pipeline.force_flush(Duration::from_secs(10)),
            "obs flush timed out"
        );
    };
    let otel_flush = || provider.force_flush().expect("SDK flush");

    let mut g = c.benchmark_group("observed_call_exported");
    for (label, x) in [("ok", 2u64), ("err", 3u64)] {
        tracing::dispatcher::with_default(&obs, || {
            g.bench_function(format!("obs_observe/{label}"), |b| {
                b.iter_custom(|iters| {
                    chunked(iters, || drop(black_box(obs_call(black_box(x)))), obs_flush)
                });
            });
        });
        tracing::dispatcher::with_default(&otel, || {
            g.bench_function(format!("tracing_instrument_otel/{label}"), |b| {
                b.iter_custom(|iters| {
                    chunked(
                        iters,
                        || drop(black_box(instrument_call(black_box(x)))),
                        otel_flush,
                    )
                });
            });
            g.bench_function(
                format!("tracing_instrument_otel_with_metrics/{label}"),
                |b| {
                    b.iter_custom(|iters| {
                        chunked(
                            iters,
                            || drop(black_box(instrument_with_metrics_call(black_box(x)))),
                            otel_flush,
                        )
                    });
                },
            );
        });
    }
    g.finish();
    let stats = pipeline.stats();
    assert_eq!(
        (stats.queue_full, stats.export_failed),
        (0, 0),
        "obs dropped spans: {stats:?}"
    );
    eprintln!("obs exported {} spans, none dropped", stats.exported);
    let _ = provider.shutdown();
    drop(obs_guard);
}

criterion_group!(benches, export);
criterion_main!(benches);
