//! Spans from `#[observe]` exported over OTLP (HTTP/protobuf and gRPC) to a receiver on
//! 127.0.0.1 decoding the official protobuf definitions; the log line, the exported span
//! and the histogram exemplar of one call carry the same ids.

use std::fmt;
use std::time::{Duration, Instant};

use obs_runtime::log::{LogFormat, LogWriter};
use obs_runtime::trace::PipelineConfig;
use obs_runtime::{
    ErrorLabel,
    init::Protocol,
    observe,
    observe::{FnSite, observed_function},
};
use obs_tests::otlp::{Received, Receiver, attr, hex};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

fn site(function: &str) -> &'static FnSite {
    observed_function(module_path!(), function).unwrap()
}

/// Payment failures.
#[derive(Debug, ErrorLabel)]
pub enum PayError {
    /// Declined by the issuer.
    Declined {
        /// Issuer code.
        code: u16,
    },
}

impl fmt::Display for PayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayError::Declined { code } => write!(f, "card declined with code {code}"),
        }
    }
}

#[observe(err(level = "warn"), buckets = [0.5, 10.0])]
fn charge(cents: u64) -> Result<u64, PayError> {
    if cents > 1000 {
        return Err(PayError::Declined { code: 51 });
    }
    Ok(cents)
}

#[observe(fields(items = n))]
fn checkout(n: u64) -> Result<u64, PayError> {
    tracing::info!(n, "checking out");
    charge(n * 600)
}

#[observe]
fn step(i: u64) -> u64 {
    i + 1
}

/// The HTTP and gRPC export tests drive the same global `charge` site, and the HTTP one
/// reads its exemplar: they take turns.
static SAME_SITES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn quiet_batch() -> PipelineConfig {
    PipelineConfig {
        delay: Duration::from_millis(50),
        ..PipelineConfig::default()
    }
}

fn by_name<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    spans
        .iter()
        .find(|s| s.span.name == name)
        .unwrap_or_else(|| panic!("span {name} received"))
}

/// The exported spans of one failing call tree, exactly as specified.
fn check_checkout_spans(spans: &[Received]) {
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let root = by_name(spans, "checkout");
    let child = by_name(spans, "charge");
    assert_eq!(root.span.trace_id.len(), 16);
    assert_eq!(child.span.trace_id, root.span.trace_id);
    assert!(root.span.parent_span_id.is_empty());
    assert_eq!(child.span.parent_span_id, root.span.span_id);
    assert_ne!(child.span.span_id, root.span.span_id);
    for s in [root, child] {
        assert_eq!(s.span.kind, SpanKind::Internal as i32);
        assert_eq!(s.scope, module_path!());
        assert_eq!(
            attr(&s.span.attributes, "code.namespace").as_deref(),
            Some(module_path!())
        );
        let status = s.span.status.as_ref().unwrap();
        assert_eq!(status.code, StatusCode::Error as i32);
        assert_eq!(
            attr(&s.span.attributes, "error.type").as_deref(),
            Some("Declined")
        );
        assert!(s.span.end_time_unix_nano >= s.span.start_time_unix_nano);
        let resource: std::collections::HashMap<_, _> = s.resource.iter().cloned().collect();
        assert_eq!(resource["service.name"], "orders-test");
        assert_eq!(resource["service.version"], "9.9.9");
        assert_eq!(resource["telemetry.sdk.name"], "obs");
        assert_eq!(resource["telemetry.sdk.language"], "rust");
    }
    assert_eq!(
        attr(&root.span.attributes, "code.function").as_deref(),
        Some("checkout")
    );
    assert_eq!(
        attr(&child.span.attributes, "code.function").as_deref(),
        Some("charge")
    );
    assert_eq!(attr(&root.span.attributes, "items").as_deref(), Some("2"));
    // The child lies within the root.
    assert!(child.span.start_time_unix_nano >= root.span.start_time_unix_nano);
    assert!(child.span.end_time_unix_nano <= root.span.end_time_unix_nano);

    // charge: exactly one event, the exception.
    assert_eq!(child.span.events.len(), 1, "{:#?}", child.span.events);
    let exception = &child.span.events[0];
    assert_eq!(exception.name, "exception");
    assert_eq!(
        attr(&exception.attributes, "exception.type").as_deref(),
        Some(concat!(module_path!(), "::PayError"))
    );
    assert_eq!(
        attr(&exception.attributes, "exception.message").as_deref(),
        Some("card declined with code 51")
    );
    // checkout: its own log event, then its exception.
    let names: Vec<&str> = root.span.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["checking out", "exception"]);
    assert_eq!(
        attr(&root.span.events[0].attributes, "n").as_deref(),
        Some("2")
    );
}

#[test]
fn http_export_and_log_span_exemplar_correlation() {
    let _turn = SAME_SITES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let receiver = Receiver::http();
    let (writer, logs) = LogWriter::memory();
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .service_name("orders-test")
        .service_version("9.9.9")
        .otlp_endpoint(receiver.endpoint())
        .otlp_header("authorization", "Bearer collector-key")
        .batch(quiet_batch())
        .metrics_addr(None)
        .log_format(LogFormat::Json)
        .log_writer(writer)
        .build()
        .unwrap();
    assert!(telemetry.guard.summary().contains(&format!(
        "traces over OTLP http/protobuf to {}/v1/traces",
        receiver.endpoint()
    )));
    let result = tracing::dispatcher::with_default(&telemetry.dispatch, || checkout(2));
    assert!(matches!(result, Err(PayError::Declined { code: 51 })));
    drop(telemetry.guard); // flushes
    let spans = receiver.spans();
    check_checkout_spans(&spans);
    assert_eq!(
        receiver.last_header("authorization").as_deref(),
        Some("Bearer collector-key")
    );
    assert_eq!(
        receiver.last_header("content-type").as_deref(),
        Some("application/x-protobuf")
    );
    let child = by_name(&spans, "charge");

    // The log line of the failed call carries the exported span's ids.
    let lines = logs.lines();
    let warn: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"target\":\"obs::error\""))
        .collect();
    assert_eq!(warn.len(), 1, "{lines:#?}");
    let log: serde_json::Value = serde_json::from_str(warn[0]).unwrap();
    assert_eq!(log["level"], "WARN");
    assert_eq!(log["message"], "charge failed: card declined with code 51");
    assert_eq!(log["span"], "charge");
    assert_eq!(log["trace_id"], hex(&child.span.trace_id));
    assert_eq!(log["span_id"], hex(&child.span.span_id));
    assert_eq!(log["fields"]["error.type"], "Declined");

    // The duration histogram's bucket holding that call keeps the same ids.
    let exemplars = site("charge").duration().exemplars();
    assert_eq!(exemplars.len(), 3);
    let exemplar = exemplars[0].expect("the call landed in the first bucket (<= 0.5 s)");
    assert_eq!(hex(&exemplar.trace_id), hex(&child.span.trace_id));
    assert_eq!(hex(&exemplar.span_id), hex(&child.span.span_id));
    assert!(exemplar.value > 0.0 && exemplar.value <= 0.5);
    assert!(exemplars[1].is_none() && exemplars[2].is_none());

    // And OpenMetrics exposes it on that bucket.
    let text = obs_runtime::Registry::global()
        .render(Some("application/openmetrics-text; version=1.0.0"))
        .body;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("function_calls_duration_seconds_bucket{")
                && l.contains("function=\"charge\"")
                && l.contains(&format!("module=\"{}\"", module_path!()))
                && l.contains("le=\"0.5\"")
        })
        .unwrap();
    assert!(
        line.contains(&format!(
            "# {{trace_id=\"{}\",span_id=\"{}\"}}",
            hex(&child.span.trace_id),
            hex(&child.span.span_id)
        )),
        "{line}"
    );
    let parsed = obs_tests::python_parse("openmetrics", &text);
    let bucket = parsed
        .iter()
        .flat_map(|f| &f.samples)
        .find(|s| {
            s.name == "function_calls_duration_seconds_bucket"
                && s.labels.get("function").map(String::as_str) == Some("charge")
                && s.labels.get("le").map(String::as_str) == Some("0.5")
        })
        .unwrap();
    let (trace_id, span_id, _) = bucket.exemplar.clone().unwrap();
    assert_eq!(trace_id, hex(&child.span.trace_id));
    assert_eq!(span_id, hex(&child.span.span_id));
}

#[test]
fn grpc_export() {
    let _turn = SAME_SITES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let receiver = Receiver::grpc();
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .service_name("orders-test")
        .service_version("9.9.9")
        .otlp_endpoint(receiver.endpoint())
        .otlp_protocol(Protocol::Grpc)
        .otlp_header("x-api-key", "k-123")
        .batch(quiet_batch())
        .metrics_addr(None)
        .logs(false)
        .build()
        .unwrap();
    let result = tracing::dispatcher::with_default(&telemetry.dispatch, || checkout(2));
    assert!(result.is_err());
    drop(telemetry.guard);
    check_checkout_spans(&receiver.spans());
    assert_eq!(receiver.last_header("x-api-key").as_deref(), Some("k-123"));
    assert_eq!(
        receiver.last_header("content-type").as_deref(),
        Some("application/grpc")
    );
}

#[test]
fn shutdown_flushes_every_span() {
    let receiver = Receiver::http();
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .otlp_endpoint(receiver.endpoint())
        .batch(PipelineConfig {
            // Nothing would be exported before shutdown on its own.
            delay: Duration::from_secs(3600),
            max_batch: 512,
            max_queue: 4096,
            ..PipelineConfig::default()
        })
        .metrics_addr(None)
        .logs(false)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        for i in 0..1500 {
            assert_eq!(step(i), i + 1);
        }
    });
    let pipeline = telemetry.guard.pipeline().unwrap().clone();
    drop(telemetry.guard);
    let spans = receiver.spans();
    assert_eq!(spans.len(), 1500);
    let ids: std::collections::HashSet<_> = spans.iter().map(|s| s.span.span_id.clone()).collect();
    assert_eq!(ids.len(), 1500);
    assert!(spans.iter().all(|s| s.span.name == "step"));
    let stats = pipeline.stats();
    assert_eq!(
        (stats.exported, stats.queue_full, stats.export_failed),
        (1500, 0, 0)
    );
}

/// Calls made while the collector is down or slow are not held up, memory stays within
/// the queue, every span not exported is counted, and export resumes when it is back.
#[test]
fn collector_down_then_slow_then_back() {
    let receiver = Receiver::http();
    let addr = receiver.addr();
    let endpoint = receiver.endpoint();
    receiver.stop(); // connection refused from now on
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .otlp_endpoint(endpoint)
        .otlp_timeout(Duration::from_millis(300))
        .batch(PipelineConfig {
            delay: Duration::from_millis(20),
            max_batch: 16,
            max_queue: 64,
            ..PipelineConfig::default()
        })
        .metrics_addr(None)
        .logs(false)
        .build()
        .unwrap();
    let pipeline = telemetry.guard.pipeline().unwrap().clone();
    // The slowest of `n` calls: a call that waited for the exporter would take at least
    // its 300 ms timeout (or the slow collector's 2 s); one that did not takes microseconds.
    let calls = |n: u64| {
        tracing::dispatcher::with_default(&telemetry.dispatch, || {
            (0..n)
                .map(|i| {
                    let start = Instant::now();
                    assert_eq!(step(i), i + 1);
                    start.elapsed()
                })
                .max()
                .unwrap_or_default()
        })
    };
    let dropped_before =
        obs_tests::global_sample("obs_spans_dropped_total", &[("reason", "queue_full")])
            .unwrap_or(0.0);

    // Down: 5 000 calls, none held up by the refused exports.
    let slowest = calls(5000);
    assert!(
        slowest < Duration::from_millis(250),
        "a call took {slowest:?} while the collector was down (the export timeout is 300 ms)"
    );
    assert!(pipeline.force_flush(Duration::from_secs(10)));
    let down = pipeline.stats();
    assert_eq!(down.exported, 0);
    assert!(down.export_errors >= 1);
    assert!(
        down.queue_full > 0,
        "a 64-span queue cannot hold 5000 spans: {down:?}"
    );
    assert_eq!(down.queue_full + down.export_failed, 5000, "{down:?}");
    let dropped_after =
        obs_tests::global_sample("obs_spans_dropped_total", &[("reason", "queue_full")])
            .unwrap_or(0.0);
    assert!(dropped_after - dropped_before >= down.queue_full as f64);

    // Slow: answers after 2 s, past the 300 ms timeout.
    let receiver = Receiver::http_on(addr);
    receiver.delay(Duration::from_secs(2));
    let slowest = calls(2000);
    assert!(
        slowest < Duration::from_millis(250),
        "a call took {slowest:?} while the collector answered after 2 s"
    );
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    let slow = pipeline.stats();
    assert!(slow.export_errors > down.export_errors, "{slow:?}");
    assert_eq!(
        slow.exported + slow.queue_full + slow.export_failed,
        7000,
        "{slow:?}"
    );

    // Back: everything new arrives.
    receiver.delay(Duration::ZERO);
    let already = receiver.spans().len();
    calls(10);
    assert!(pipeline.force_flush(Duration::from_secs(10)));
    let back = pipeline.stats();
    assert_eq!(back.exported, slow.exported + 10, "{back:?}");
    assert_eq!(receiver.spans().len(), already + 10);
    drop(telemetry.guard);
}

/// Inside an async runtime (`#[tokio::main]`), building, failing to build and dropping the
/// pipeline never panics: the exporter's own runtime lives on the export thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_inside_an_async_runtime() {
    let receiver = Receiver::grpc();
    let error = obs_runtime::init()
        .env([("RUST_LOG", "info,[[[")])
        .otlp_endpoint(receiver.endpoint())
        .otlp_protocol(Protocol::Grpc)
        .metrics_addr(None)
        .build()
        .map(|_| ())
        .unwrap_err();
    assert!(
        error.to_string().starts_with("invalid RUST_LOG="),
        "{error}"
    );
    let error = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .otlp_endpoint(receiver.endpoint())
        .otlp_header("bad header", "x")
        .metrics_addr(None)
        .build()
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid OTEL_EXPORTER_OTLP_HEADERS=\"[REDACTED]\": expected header names and values valid in HTTP"
    );
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .otlp_endpoint(receiver.endpoint())
        .otlp_protocol(Protocol::Grpc)
        .batch(quiet_batch())
        .metrics_addr(None)
        .logs(false)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        assert_eq!(step(41), 42);
    });
    drop(telemetry.guard);
    let spans = receiver.wait_for(1, Duration::from_secs(5));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span.name, "step");
}
