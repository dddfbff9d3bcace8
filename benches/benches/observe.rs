//! An observed call against the hand-written floor and the peer attributes, in one run.
//!
//! `cargo bench -p obs-benches --bench observe`; results in the crate's README.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use obs_benches::{BenchError, body};
use obs_runtime::{metric, observe};

#[observe]
#[inline(never)]
fn obs_call(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[observe(concurrency = false)]
#[inline(never)]
fn obs_call_no_gauge(x: u64) -> Result<u64, BenchError> {
    body(x)
}

metric! {
    /// Floor: calls.
    pub counter FLOOR_CALLS("floor_calls_total");
    /// Floor: duration.
    pub histogram FLOOR_SECONDS("floor_duration_seconds", buckets = obs_runtime::observe::FUNCTION_BUCKETS);
}

/// What any RED instrumentation must do at least: two reads of the same clock, a counter
/// and a histogram update.
#[inline(never)]
fn floor_call(x: u64) -> Result<u64, BenchError> {
    let start = quanta::Instant::now();
    let out = body(x);
    let elapsed = quanta::Instant::now().saturating_duration_since(start);
    FLOOR_CALLS.inc();
    FLOOR_SECONDS.observe(elapsed.as_secs_f64());
    out
}

#[autometrics::autometrics]
#[inline(never)]
fn autometrics_call(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[tracing::instrument(skip_all, err)]
#[inline(never)]
fn instrument_call(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[fastrace::trace]
#[inline(never)]
fn fastrace_call(x: u64) -> Result<u64, BenchError> {
    body(x)
}

/// Runs `f` with a fresh `tracing_subscriber::Registry` as the thread's subscriber when
/// `registry` is set. The registry gets a no-op layer: a `Registry` with no layer at all
/// never frees closed spans (tokio-rs/tracing#900), so its cost would grow with the
/// iteration count instead of measuring a call.
fn maybe_registry(registry: bool, f: impl FnOnce()) {
    if registry {
        use tracing_subscriber::layer::SubscriberExt as _;
        let subscriber =
            tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new());
        tracing::subscriber::with_default(subscriber, f);
    } else {
        f();
    }
}

fn group(c: &mut Criterion, name: &str, registry: bool) {
    let mut g = c.benchmark_group(name);
    for (label, x) in [("ok", 2u64), ("err", 3u64)] {
        maybe_registry(registry, || {
            g.bench_function(format!("obs_observe/{label}"), |b| {
                b.iter(|| obs_call(black_box(x)));
            });
        });
        if !registry {
            g.bench_function(format!("obs_observe_concurrency_false/{label}"), |b| {
                b.iter(|| obs_call_no_gauge(black_box(x)));
            });
        }
        maybe_registry(registry, || {
            g.bench_function(format!("hand_written_floor/{label}"), |b| {
                b.iter(|| floor_call(black_box(x)));
            });
        });
        maybe_registry(registry, || {
            g.bench_function(format!("tracing_instrument/{label}"), |b| {
                b.iter(|| instrument_call(black_box(x)));
            });
        });
        if !registry {
            g.bench_function(format!("autometrics/{label}"), |b| {
                b.iter(|| autometrics_call(black_box(x)));
            });
            g.bench_function(format!("fastrace_trace/{label}"), |b| {
                b.iter(|| fastrace_call(black_box(x)));
            });
            g.bench_function(format!("plain_fn/{label}"), |b| {
                b.iter(|| body(black_box(x)));
            });
        }
    }
    g.finish();
}

fn observe(c: &mut Criterion) {
    group(c, "observed_call_no_subscriber", false);
    group(c, "observed_call_registry_subscriber", true);
}

criterion_group!(benches, observe);
criterion_main!(benches);
