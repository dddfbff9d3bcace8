//! Exemplars that survive tail sampling, proved against an OTLP receiver decoding the
//! official protos. Head sampling at 0 (`parentbased_traceidratio` with ratio 0, the
//! documented way to keep only failed and slow traces) and the tail sampler keeping slow
//! ones: 300 traces, 30 with a slow call. Every exemplar on the call metrics names a trace
//! the receiver got, and the slow buckets' exemplars are kept slow traces. One test: the
//! call metrics are process-global.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use obs_runtime::metrics::Format;
use obs_runtime::observe;
use obs_runtime::trace::{PipelineConfig, TailSampling};
use obs_tests::otlp::{Receiver, attr, hex};

/// The tail sampler's threshold: a root this slow keeps its trace.
const SLOW: Duration = Duration::from_millis(50);

#[observe]
fn lookup(slow: bool) -> u32 {
    if slow {
        std::thread::sleep(SLOW + Duration::from_millis(10));
    }
    7
}

#[observe(fields(n = n))]
fn handle(n: u32) -> u32 {
    lookup(n.is_multiple_of(10))
}

#[test]
fn exemplars_point_only_at_exported_traces_and_the_slow_bucket_at_a_slow_one() {
    let receiver = Receiver::http();
    let telemetry = obs_runtime::init()
        .env([
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ])
        .tail_sampling(TailSampling {
            latency: SLOW,
            max_spans: 10_000,
        })
        .otlp_endpoint(receiver.endpoint())
        .batch(PipelineConfig {
            delay: Duration::from_millis(20),
            ..PipelineConfig::default()
        })
        .metrics_addr(None)
        .logs(false)
        .build()
        .expect("telemetry");
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        for n in 0..300 {
            assert_eq!(handle(n), 7);
        }
    });
    assert!(telemetry.guard.flush(Duration::from_secs(10)));

    // The tail sampler kept exactly the 30 slow traces, whole.
    let spans = receiver.spans();
    let roots: HashMap<String, u32> = spans
        .iter()
        .filter(|s| s.span.name == "handle")
        .map(|s| {
            let n = attr(&s.span.attributes, "n").expect("the root's n");
            (hex(&s.span.trace_id), n.parse().unwrap())
        })
        .collect();
    let kept: BTreeSet<u32> = roots.values().copied().collect();
    assert_eq!(kept, (0..300).step_by(10).collect::<BTreeSet<u32>>());
    assert_eq!(spans.len(), 60, "a root and its lookup per kept trace");
    let slow_lookups: HashMap<(String, String), u64> = spans
        .iter()
        .filter(|s| s.span.name == "lookup")
        .map(|s| {
            let nanos = s.span.end_time_unix_nano - s.span.start_time_unix_nano;
            ((hex(&s.span.trace_id), hex(&s.span.span_id)), nanos)
        })
        .collect();
    assert_eq!(slow_lookups.len(), 30);
    assert!(
        slow_lookups
            .values()
            .all(|&nanos| nanos >= SLOW.as_nanos() as u64)
    );

    // Every exemplar on the call metrics of these functions, as Python's OpenMetrics
    // parser reads the scrape, names an exported trace.
    let om = obs_runtime::Registry::global().encode(Format::OpenMetrics);
    let families = obs_tests::python_parse("openmetrics", &om);
    let mut exemplars = Vec::new();
    for family in families
        .iter()
        .filter(|f| f.name.starts_with("function_calls"))
    {
        for sample in &family.samples {
            let function = sample.labels.get("function").map(String::as_str);
            if !matches!(function, Some("handle" | "lookup")) {
                continue;
            }
            if let Some((trace_id, span_id, value)) = &sample.exemplar {
                assert!(
                    roots.contains_key(trace_id),
                    "{} {:?}: exemplar of a trace never exported: {trace_id}",
                    sample.name,
                    sample.labels
                );
                exemplars.push((sample.clone(), trace_id.clone(), span_id.clone(), *value));
            }
        }
    }

    // The buckets above the threshold, the ones a latency spike points at, link to a
    // kept slow trace: the lookup's to the slow lookup span itself.
    let slow_bucket = |function: &str| {
        exemplars
            .iter()
            .filter(|(s, ..)| {
                s.name == "function_calls_duration_seconds_bucket"
                    && s.labels["function"] == function
                    && s.labels["le"].parse::<f64>().unwrap() > SLOW.as_secs_f64()
            })
            .map(|(_, trace_id, span_id, value)| (trace_id.clone(), span_id.clone(), *value))
            .collect::<Vec<_>>()
    };
    let lookup = slow_bucket("lookup");
    assert!(!lookup.is_empty(), "no slow lookup bucket exemplar:\n{om}");
    for (trace_id, span_id, value) in &lookup {
        assert!(*value >= SLOW.as_secs_f64(), "{value}");
        assert!(
            slow_lookups.contains_key(&(trace_id.clone(), span_id.clone())),
            "{trace_id}/{span_id} is not a kept slow lookup"
        );
        assert_eq!(roots[trace_id] % 10, 0);
    }
    let handle = slow_bucket("handle");
    assert!(!handle.is_empty(), "no slow handle bucket exemplar:\n{om}");
    for (trace_id, _, value) in &handle {
        assert!(*value >= SLOW.as_secs_f64(), "{value}");
        assert_eq!(roots[trace_id] % 10, 0);
    }
}
