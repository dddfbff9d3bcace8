//! obs metrics against prometheus, prometheus-client, measured and metrics, in one run.
//!
//! `cargo bench -p obs-benches --bench metrics`; results and ratios are in the crate's
//! README.

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use obs_benches::{Hundred, hundred};
use obs_runtime::{HttpMethod, Label, Registry, StatusClass, metric, metrics::Format};

/// A third label for the three-label counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Label, measured::FixedCardinalityLabel)]
pub enum Shard {
    /// First.
    A,
    /// Second.
    B,
    /// Third.
    C,
}

/// `HttpMethod` for measured, which needs its own derive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, measured::FixedCardinalityLabel)]
pub enum MMethod {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// Status class for measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, measured::FixedCardinalityLabel)]
pub enum MStatus {
    /// 2xx.
    Success,
    /// 5xx.
    ServerError,
}

/// measured's label group for the three-label counter.
#[derive(Clone, Copy, Debug, PartialEq, measured::LabelGroup)]
#[label(set = RequestSet)]
pub struct Request {
    method: MMethod,
    status: MStatus,
    shard: Shard,
}

metric! {
    /// Requests (three labels).
    pub counter REQUESTS("bench_requests_total", method: HttpMethod, status: StatusClass, shard: Shard);
    /// Latency (two labels).
    pub histogram LATENCY("bench_latency_seconds", method: HttpMethod, status: StatusClass);
    /// Contended counter.
    pub counter CONTENDED("bench_contended_total", shard: Shard);
    /// 10 000 series for the rendering benchmark.
    pub counter WIDE("bench_wide_total", a: Hundred, b: Hundred);
    /// 1 000 histograms for the rendering benchmark.
    pub histogram WIDE_HIST("bench_wide_seconds", a: Hundred, method: HttpMethod, budget = 1000);
}

const LABELS3: [(&str, &str); 3] = [("method", "GET"), ("status", "2xx"), ("shard", "b")];

fn counter_inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc_3_labels");

    g.bench_function("obs_with_labels", |b| {
        b.iter(|| {
            REQUESTS
                .with(
                    black_box(HttpMethod::Get),
                    black_box(StatusClass::Success),
                    black_box(Shard::B),
                )
                .inc();
        });
    });

    let prom_vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests_total", "Requests."),
        &["method", "status", "shard"],
    )
    .expect("valid");
    let prom_resolved = prom_vec.with_label_values(&["GET", "2xx", "b"]);
    g.bench_function("prometheus_preresolved_IntCounter", |b| {
        b.iter(|| black_box(&prom_resolved).inc());
    });
    g.bench_function("prometheus_with_label_values", |b| {
        b.iter(|| {
            prom_vec
                .with_label_values(black_box(&["GET", "2xx", "b"]))
                .inc();
        });
    });

    let pc_family = prometheus_client::metrics::family::Family::<
        [(&'static str, &'static str); 3],
        prometheus_client::metrics::counter::Counter,
    >::default();
    g.bench_function("prometheus_client_family", |b| {
        b.iter(|| {
            pc_family.get_or_create(black_box(&LABELS3)).inc();
        });
    });

    let measured_vec = measured::CounterVec::with_label_set(RequestSet {
        method: measured::label::StaticLabelSet::new(),
        status: measured::label::StaticLabelSet::new(),
        shard: measured::label::StaticLabelSet::new(),
    });
    g.bench_function("measured_counter_vec", |b| {
        b.iter(|| {
            measured_vec.inc(black_box(Request {
                method: MMethod::Get,
                status: MStatus::Success,
                shard: Shard::B,
            }));
        });
    });

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        g.bench_function("metrics_counter_macro", |b| {
            b.iter(|| {
                metrics::counter!("requests_total", "method" => "GET", "status" => "2xx", "shard" => "b")
                    .increment(1);
            });
        });
    });
    g.finish();
}

fn histogram_observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_observe");
    g.bench_function("obs_with_2_labels", |b| {
        b.iter(|| {
            LATENCY
                .with(black_box(HttpMethod::Post), black_box(StatusClass::Success))
                .observe(black_box(0.042));
        });
    });

    let pc_hist = prometheus_client::metrics::histogram::Histogram::new(
        obs_runtime::DEFAULT_BUCKETS.iter().copied(),
    );
    g.bench_function("prometheus_client_unlabelled", |b| {
        b.iter(|| pc_hist.observe(black_box(0.042)));
    });

    let prom_vec = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("latency_seconds", "Latency."),
        &["method", "status"],
    )
    .expect("valid");
    g.bench_function("prometheus_with_label_values", |b| {
        b.iter(|| {
            prom_vec
                .with_label_values(black_box(&["POST", "2xx"]))
                .observe(black_box(0.042));
        });
    });

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        g.bench_function("metrics_histogram_macro", |b| {
            b.iter(|| {
                metrics::histogram!("latency_seconds", "method" => "POST", "status" => "2xx")
                    .record(black_box(0.042));
            });
        });
    });
    g.finish();
}

/// Runs `op` `iters` times split across two threads that start together; returns the wall
/// time, so the reported figure is time per operation with two cores contending.
fn two_threads(iters: u64, op: &(dyn Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(3);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..iters / 2 {
                    op();
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins both threads before returning.
        start
    })
    .elapsed()
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc_2_threads_same_series");
    g.bench_function("obs_with_labels", |b| {
        b.iter_custom(|iters| two_threads(iters, &|| CONTENDED.with(black_box(Shard::A)).inc()));
    });
    let prom = prometheus::IntCounter::new("contended_total", "Contended.").expect("valid");
    g.bench_function("prometheus_preresolved_IntCounter", |b| {
        b.iter_custom(|iters| two_threads(iters, &|| black_box(&prom).inc()));
    });
    let pc_family = prometheus_client::metrics::family::Family::<
        [(&'static str, &'static str); 1],
        prometheus_client::metrics::counter::Counter,
    >::default();
    g.bench_function("prometheus_client_family", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                pc_family.get_or_create(black_box(&[("shard", "a")])).inc();
            })
        });
    });
    let pc_hist = prometheus_client::metrics::histogram::Histogram::new(
        obs_runtime::DEFAULT_BUCKETS.iter().copied(),
    );
    g.bench_function("prometheus_client_histogram_unlabelled", |b| {
        b.iter_custom(|iters| two_threads(iters, &|| pc_hist.observe(black_box(0.042))));
    });
    g.bench_function("obs_histogram_with_labels", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                LATENCY
                    .with(black_box(HttpMethod::Get), black_box(StatusClass::Success))
                    .observe(black_box(0.042));
            })
        });
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("render_10000_counters");
    g.sample_size(20);

    let registry = Registry::new();
    registry.register(&WIDE).expect("unique");
    for a in hundred() {
        for b in hundred() {
            WIDE.with(a, b).inc_by(7);
        }
    }
    g.bench_function("obs_prometheus_text", |b| {
        b.iter(|| black_box(registry.encode(Format::Prometheus)));
    });
    g.bench_function("obs_openmetrics", |b| {
        b.iter(|| black_box(registry.encode(Format::OpenMetrics)));
    });

    let mut pc_registry = prometheus_client::registry::Registry::default();
    let pc_family = prometheus_client::metrics::family::Family::<
        [(&'static str, &'static str); 2],
        prometheus_client::metrics::counter::Counter,
    >::default();
    for a in hundred() {
        for b in hundred() {
            pc_family
                .get_or_create(&[("a", a.as_str()), ("b", b.as_str())])
                .inc_by(7);
        }
    }
    pc_registry.register("bench_wide", "10 000 series.", pc_family);
    g.bench_function("prometheus_client_text", |b| {
        b.iter(|| {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &pc_registry).expect("encode");
            black_box(out)
        });
    });

    let prom_registry = prometheus::Registry::new();
    let prom_vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_wide_total", "10 000 series."),
        &["a", "b"],
    )
    .expect("valid");
    prom_registry
        .register(Box::new(prom_vec.clone()))
        .expect("register");
    for a in hundred() {
        for b in hundred() {
            prom_vec
                .with_label_values(&[a.as_str(), b.as_str()])
                .inc_by(7);
        }
    }
    g.bench_function("prometheus_text", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            prometheus::Encoder::encode(
                &prometheus::TextEncoder::new(),
                &prom_registry.gather(),
                &mut out,
            )
            .expect("encode");
            black_box(out)
        });
    });

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for a in hundred() {
            for b in hundred() {
                metrics::counter!("bench_wide_total", "a" => a.as_str(), "b" => b.as_str())
                    .increment(7);
            }
        }
    });
    g.bench_function("metrics_exporter_prometheus", |b| {
        b.iter(|| black_box(handle.render()));
    });
    g.finish();

    let mut g = c.benchmark_group("render_1000_histograms");
    g.sample_size(20);
    let registry = Registry::new();
    registry.register(&WIDE_HIST).expect("unique");
    for a in hundred() {
        for method in (0..HttpMethod::CARDINALITY).filter_map(HttpMethod::from_index) {
            WIDE_HIST.with(a, method).observe(0.3);
        }
    }
    g.bench_function("obs_prometheus_text", |b| {
        b.iter(|| black_box(registry.encode(Format::Prometheus)));
    });
    let mut pc_registry = prometheus_client::registry::Registry::default();
    let pc_family = prometheus_client::metrics::family::Family::<
        [(&'static str, &'static str); 2],
        prometheus_client::metrics::histogram::Histogram,
    >::new_with_constructor(|| {
        prometheus_client::metrics::histogram::Histogram::new(
            obs_runtime::DEFAULT_BUCKETS.iter().copied(),
        )
    });
    for a in hundred() {
        for method in (0..HttpMethod::CARDINALITY).filter_map(HttpMethod::from_index) {
            pc_family
                .get_or_create(&[("a", a.as_str()), ("method", method.as_str())])
                .observe(0.3);
        }
    }
    pc_registry.register("bench_wide_seconds", "Histograms.", pc_family);
    g.bench_function("prometheus_client_text", |b| {
        b.iter(|| {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &pc_registry).expect("encode");
            black_box(out)
        });
    });
    g.finish();
}

criterion_group!(benches, counter_inc, histogram_observe, contended, render);
criterion_main!(benches);
