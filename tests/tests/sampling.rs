//! Head sampling (ratio, parent-based) and the tail sampler, through an in-memory exporter.

use std::sync::Arc;
use std::time::Duration;

use obs_runtime::trace::propagation;
use obs_runtime::trace::{
    InMemoryExporter, PipelineConfig, Sampler, SpanRecord, Status, TailSampling,
};
use obs_runtime::{init::Telemetry, observe};

/// A builder with only `env` for an environment, a short batch delay, no server, no logs.
fn builder(env: &[(&str, &str)], sampler: Sampler) -> obs_runtime::init::Builder {
    obs_runtime::init()
        .env(env.iter().copied())
        .sampler(sampler)
        .batch(PipelineConfig {
            delay: Duration::from_millis(20),
            ..PipelineConfig::default()
        })
        .metrics_addr(None)
        .logs(false)
}

fn telemetry(sampler: Sampler, tail: Option<TailSampling>) -> (Telemetry, InMemoryExporter) {
    let exporter = InMemoryExporter::default();
    let mut builder = builder(&[], sampler).exporter(exporter.clone());
    if let Some(tail) = tail {
        builder = builder.tail_sampling(tail);
    }
    (builder.build().unwrap(), exporter)
}

/// Flushes and returns the exported spans sorted by name.
fn finish(
    telemetry: Telemetry,
    exporter: &InMemoryExporter,
) -> (Vec<SpanRecord>, obs_runtime::trace::PipelineStats) {
    let pipeline = telemetry.guard.pipeline().unwrap().clone();
    drop(telemetry.guard);
    let mut spans = exporter.spans();
    spans.sort_by(|a, b| a.name.cmp(&b.name));
    (spans, pipeline.stats())
}

#[observe]
fn leaf(fail: bool) -> Result<(), std::io::Error> {
    if fail {
        return Err(std::io::Error::other("disk on fire"));
    }
    Ok(())
}

#[observe]
fn request(fail: bool, sleep_ms: u64) -> Result<(), std::io::Error> {
    std::thread::sleep(Duration::from_millis(sleep_ms));
    // The root itself succeeds even when its child fails.
    let _ = leaf(fail);
    Ok(())
}

fn names(spans: &[SpanRecord]) -> Vec<(&str, bool)> {
    spans
        .iter()
        .map(|s| (s.name.as_ref(), s.local_root))
        .collect()
}

#[test]
fn ratio_one_keeps_everything() {
    let (t, exporter) = telemetry(Sampler::TraceIdRatio(1.0), None);
    tracing::dispatcher::with_default(&t.dispatch, || {
        for _ in 0..50 {
            request(false, 0).unwrap();
        }
    });
    let (spans, stats) = finish(t, &exporter);
    assert_eq!(spans.len(), 100);
    assert_eq!(stats.exported, 100);
    assert!(spans.iter().all(|s| s.sampled));
}

#[test]
fn ratio_zero_keeps_nothing_without_tail() {
    let (t, exporter) = telemetry(Sampler::parent_based(Sampler::TraceIdRatio(0.0)), None);
    tracing::dispatcher::with_default(&t.dispatch, || {
        for _ in 0..50 {
            request(true, 0).unwrap();
        }
    });
    let (spans, stats) = finish(t, &exporter);
    assert!(spans.is_empty());
    assert_eq!(stats.exported, 0);
    // Unsampled spans are never recorded, so nothing is dropped either.
    assert_eq!(stats.sampled_out, 0);
}

#[test]
fn ratio_zero_with_tail_keeps_only_failed_and_slow_traces() {
    let tail = TailSampling {
        latency: Duration::from_millis(80),
        max_spans: 1000,
    };
    let (t, exporter) = telemetry(Sampler::parent_based(Sampler::AlwaysOff), Some(tail));
    tracing::dispatcher::with_default(&t.dispatch, || {
        request(false, 0).unwrap(); // fast and fine: dropped
        request(true, 0).unwrap(); // a failed child: kept
        request(false, 120).unwrap(); // slow root: kept
        request(false, 0).unwrap(); // dropped
    });
    let (spans, stats) = finish(t, &exporter);
    assert_eq!(
        names(&spans),
        [
            ("leaf", false),
            ("leaf", false),
            ("request", true),
            ("request", true)
        ]
    );
    let failed_leaf = spans
        .iter()
        .find(|s| matches!(s.status, Status::Error { .. }))
        .unwrap();
    let failed_root = spans
        .iter()
        .find(|s| s.name == "request" && s.span_id == failed_leaf.parent_span_id.unwrap())
        .unwrap();
    assert_eq!(failed_root.trace_id, failed_leaf.trace_id);
    let slow_root = spans
        .iter()
        .find(|s| s.name == "request" && s.trace_id != failed_leaf.trace_id)
        .unwrap();
    assert!(slow_root.duration_nanos() >= 80_000_000);
    assert!(
        spans.iter().all(|s| !s.sampled),
        "the head decision stays 'not sampled'"
    );
    assert_eq!(stats.exported, 4);
    assert_eq!(stats.sampled_out, 4);
    assert_eq!(stats.tail_evicted, 0);
}

#[test]
fn tail_memory_is_bounded_and_evictions_counted() {
    let tail = TailSampling {
        latency: Duration::from_secs(60),
        max_spans: 8,
    };
    let (t, exporter) = telemetry(Sampler::AlwaysOff, Some(tail));
    tracing::dispatcher::with_default(&t.dispatch, || {
        let root = tracing::info_span!("batch");
        let _entered = root.enter();
        for _ in 0..20 {
            leaf(false).unwrap();
        }
    });
    let (spans, stats) = finish(t, &exporter);
    // The 9th child overflows the 8 held spans and evicts the whole trace (9 spans); the
    // next 9 children do it again; the last 2 are held when the root ends, and the trace,
    // neither failed nor slow, is dropped with them.
    assert!(spans.is_empty());
    assert_eq!(stats.tail_evicted, 18);
    assert_eq!(stats.sampled_out, 3);
}

#[test]
fn remote_parent_decision_is_honoured() {
    let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

    // The caller sampled; our root sampler says never: the caller wins.
    let (t, exporter) = telemetry(Sampler::parent_based(Sampler::AlwaysOff), None);
    let injected = tracing::dispatcher::with_default(&t.dispatch, || {
        let headers = [
            ("traceparent", sampled),
            ("tracestate", "vendor=x"),
            ("baggage", "tenant=acme"),
        ];
        let incoming =
            propagation::extract(|name| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
                .unwrap();
        let span = obs_runtime::trace::with_remote_parent(&incoming, || {
            tracing::info_span!("GET /orders", otel.kind = "server")
        });
        // The remote parent does not outlive `with_remote_parent`: later roots start anew.
        let unrelated = tracing::info_span!(parent: None, "unrelated");
        assert_ne!(
            unrelated.in_scope(|| obs_runtime::trace::current().unwrap().trace_id.to_string()),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        span.in_scope(|| {
            leaf(false).unwrap();
            let mut headers = Vec::new();
            propagation::inject(|k, v| headers.push((k, v)));
            headers
        })
    });
    let (spans, _) = finish(t, &exporter);
    assert_eq!(names(&spans), [("GET /orders", true), ("leaf", false)]);
    let server = &spans[0];
    assert_eq!(
        server.trace_id.to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        server.parent_span_id.unwrap().to_string(),
        "00f067aa0ba902b7"
    );
    assert!(server.parent_remote && server.sampled);
    assert_eq!(server.kind, obs_runtime::trace::SpanKind::Server);
    assert_eq!(server.trace_state.as_deref(), Some("vendor=x"));
    assert_eq!(spans[1].parent_span_id, Some(server.span_id));
    assert_eq!(spans[1].trace_state.as_deref(), Some("vendor=x"));
    assert_eq!(
        injected,
        [
            (
                "traceparent",
                format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", server.span_id)
            ),
            ("tracestate", "vendor=x".to_owned()),
            ("baggage", "tenant=acme".to_owned()),
        ]
    );

    // The caller did not sample; our root sampler says always: the caller wins again.
    let (t, exporter) = telemetry(Sampler::parent_based(Sampler::AlwaysOn), None);
    let injected = tracing::dispatcher::with_default(&t.dispatch, || {
        let caller = propagation::parse_traceparent(unsampled).unwrap();
        let span = tracing::info_span!("GET /orders", otel.kind = "server");
        assert!(obs_runtime::trace::set_parent(&span, &caller, None));
        span.in_scope(|| {
            leaf(false).unwrap();
            let mut headers = Vec::new();
            propagation::inject(|k, v| headers.push((k, v)));
            headers
        })
    });
    let (spans, _) = finish(t, &exporter);
    assert!(spans.is_empty());
    assert_eq!(injected.len(), 1);
    assert!(
        injected[0]
            .1
            .starts_with("00-0af7651916cd43dd8448eb211c80319c-")
    );
    assert!(injected[0].1.ends_with("-00"));
}

#[test]
fn exemplars_only_from_sampled_spans() {
    obs_runtime::metric! {
        /// Test counter.
        counter SAMPLED_WORK("sampling_test_work_total");
    }
    let (t, exporter) = telemetry(Sampler::AlwaysOff, None);
    tracing::dispatcher::with_default(&t.dispatch, || {
        tracing::info_span!("unsampled").in_scope(|| SAMPLED_WORK.inc());
    });
    assert_eq!(SAMPLED_WORK.get(), 1);
    assert_eq!(SAMPLED_WORK.exemplar(), None);
    drop(finish(t, &exporter));

    let (t, exporter) = telemetry(Sampler::AlwaysOn, None);
    tracing::dispatcher::with_default(&t.dispatch, || {
        tracing::info_span!("sampled").in_scope(|| SAMPLED_WORK.inc_by(2));
        SAMPLED_WORK.inc(); // outside any span: the exemplar stays
    });
    let (spans, _) = finish(t, &exporter);
    assert_eq!(SAMPLED_WORK.get(), 4);
    let exemplar = SAMPLED_WORK.exemplar().unwrap();
    assert_eq!(exemplar.trace_id, spans[0].trace_id.to_bytes());
    assert_eq!(exemplar.span_id, spans[0].span_id.to_bytes());
    assert_eq!(exemplar.value, 2.0);
}

/// The OpenTelemetry span limits bound what one span holds, whatever its inputs: values
/// cut at a character boundary, attributes and events past the count dropped, all
/// counted. A 300 KB attribute used to be kept whole (2 500 of them took the orders
/// example from 12 MiB to 710 MiB with the collector stalled).
#[test]
fn span_limits_bound_every_span() {
    let exporter = InMemoryExporter::default();
    let telemetry = builder(
        &[
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "10"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "7"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "2"),
        ],
        Sampler::AlwaysOn,
    )
    .exporter(exporter.clone())
    .build()
    .unwrap();
    let before = |limit: &str| {
        obs_tests::global_sample("obs_span_limits_total", &[("limit", limit)]).unwrap_or(0.0)
    };
    let (values, counts, events) = (
        before("attribute_value_length"),
        before("attribute_count"),
        before("event_count"),
    );
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        let huge = "ü".repeat(150_000);
        let span = tracing::info_span!(
            "limited",
            ua = huge.as_str(),
            a = 1,
            b = 2,
            c = 3,
            d = 4,
            e = 5,
            f = 6,
            g = 7
        );
        let _entered = span.enter();
        for i in 0..5 {
            tracing::info!(i, note = huge.as_str(), "event");
        }
    });
    let (spans, _) = finish(telemetry, &exporter);
    let span = spans
        .iter()
        .find(|s| s.name == "limited")
        .expect("exported");
    assert_eq!(span.attributes.len(), 7);
    assert_eq!(span.dropped_attributes, 1);
    let ua = span.attribute("ua").expect("kept").to_string();
    assert_eq!(ua, "ü".repeat(5));
    assert_eq!(span.events.len(), 2);
    assert_eq!(span.dropped_events, 3);
    let note = span.events[0]
        .attributes
        .iter()
        .find(|(k, _)| *k == "note")
        .map(|(_, v)| v.to_string());
    assert_eq!(note.as_deref(), Some("üüüüü"));
    assert_eq!(before("attribute_value_length") - values, 3.0);
    assert_eq!(before("attribute_count") - counts, 1.0);
    assert_eq!(before("event_count") - events, 3.0);
}

/// Without settings, a 300 KB value keeps its first 4 096 bytes.
#[test]
fn default_value_limit_is_four_kib() {
    let (telemetry, exporter) = telemetry(Sampler::AlwaysOn, None);
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        let agent = "x".repeat(300_000);
        let _span = tracing::info_span!("request", user_agent.original = agent.as_str()).entered();
    });
    let (spans, _) = finish(telemetry, &exporter);
    let span = spans
        .iter()
        .find(|s| s.name == "request")
        .expect("exported");
    assert_eq!(
        span.attribute("user_agent.original")
            .map(|v| v.to_string().len()),
        Some(4096)
    );
}

/// An exporter stalled until released.
struct Stalled {
    open: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl obs_runtime::trace::SpanExporter for Stalled {
    fn export(&mut self, _batch: Vec<SpanRecord>) -> Result<(), obs_runtime::trace::ExportError> {
        let (lock, cv) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        Ok(())
    }
}

/// With the collector stalled, the queue holds at most its byte budget: spans of 4 KB
/// against a 100 KB budget, 300 of them sent, about 25 kept, the rest dropped and
/// counted, and every span accounted for once the collector is back.
#[test]
fn queue_is_bounded_in_bytes() {
    let open = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let telemetry = builder(&[("OBS_BSP_MAX_QUEUE_BYTES", "100000")], Sampler::AlwaysOn)
        .exporter(Stalled {
            open: Arc::clone(&open),
        })
        .batch(PipelineConfig {
            max_queue: 10_000,
            max_batch: 1,
            delay: Duration::from_millis(5),
            ..PipelineConfig::default()
        })
        .build()
        .unwrap();
    let pipeline = telemetry.guard.pipeline().unwrap().clone();
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        let value = "v".repeat(4000);
        for _ in 0..300 {
            let _span = tracing::info_span!("big", payload = value.as_str()).entered();
        }
    });
    let stalled = pipeline.stats();
    // 100 000 / ~4 300 bytes a span, plus the one the stalled exporter holds.
    assert!(stalled.queue_full >= 300 - 25, "{stalled:?}");
    assert!(stalled.queue_full < 300, "{stalled:?}");
    {
        let (lock, cv) = &*open;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    drop(telemetry.guard);
    let done = pipeline.stats();
    assert_eq!(done.exported + done.queue_full, 300, "{done:?}");
}
