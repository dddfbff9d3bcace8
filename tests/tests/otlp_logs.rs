//! Log records over OTLP: every event becomes a record with its severity, message, fields
//! (secrets redacted), the fields bound to its span and that span's trace context, under
//! the resource of the spans; over HTTP/protobuf and gRPC to a receiver decoding the
//! official protos. A collector that is down or hung loses records with a count, never
//! blocking the code that logs. (`otlp_logs_installed.rs`: no feedback loop.)
//! `OTEL_LOGS_EXPORTER` chooses records, lines, both or neither.

use std::time::{Duration, Instant};

use obs_runtime::init::Telemetry;
use obs_runtime::log::{LogFormat, LogWriter, MemoryLog};
use obs_runtime::trace::Protocol;
use obs_tests::otlp::{ReceivedLog, Receiver, hex};

const SCHEDULE: (&str, &str) = ("OTEL_BLRP_SCHEDULE_DELAY", "20");

/// Telemetry exporting to `endpoint` (spans every 20 ms too), with `env` as its whole
/// environment and `filter` as its log filter; lines in memory.
fn telemetry(
    endpoint: &str,
    protocol: Protocol,
    env: &[(&str, &str)],
    filter: &str,
) -> (Telemetry, MemoryLog) {
    let (writer, lines) = LogWriter::memory();
    let mut vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    vars.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "20".into()));
    let telemetry = obs_runtime::init()
        .env(vars)
        .service_name("logs-test")
        .service_version("1.2.3")
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .otlp_timeout(Duration::from_secs(2))
        .metrics_addr(None)
        .log_filter(filter)
        .log_format(LogFormat::Json)
        .log_writer(writer)
        .build()
        .expect("build the telemetry");
    (telemetry, lines)
}

/// Writes, inside `telemetry`: one event in a span with a bound request id, one outside
/// any span. Returns the span's trace id and span id as hex.
fn write_events(telemetry: &Telemetry) -> (String, String) {
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        let span = tracing::info_span!("handle");
        obs_runtime::log::bind(&span, "request_id", "r-42");
        let ids = span.in_scope(|| {
            tracing::info!(items = 3, password = "hunter2", "order placed");
            let c = obs_runtime::trace::current().unwrap();
            (c.trace_id.to_string(), c.span_id.to_string())
        });
        tracing::warn!(queue = "payments", "no span here");
        ids
    })
}

fn check_records(receiver: &Receiver, trace_id: &str, span_id: &str) {
    let logs = receiver.wait_for_log(Duration::from_secs(10), |r| r.body() == "no span here");
    let ours: Vec<&ReceivedLog> = logs.iter().filter(|r| r.scope == "otlp_logs").collect();
    assert_eq!(ours.len(), 2, "{logs:#?}");
    assert_eq!(logs.len(), 2, "only the test's own records: {logs:#?}");
    let placed = ours[0];
    assert_eq!(placed.body(), "order placed");
    assert_eq!(placed.record.severity_number, 9);
    assert_eq!(placed.record.severity_text, "INFO");
    assert_eq!(placed.attr("items").as_deref(), Some("3"));
    assert_eq!(placed.attr("password").as_deref(), Some("[REDACTED]"));
    assert_eq!(placed.attr("request_id").as_deref(), Some("r-42"));
    assert_eq!(hex(&placed.record.trace_id), trace_id);
    assert_eq!(hex(&placed.record.span_id), span_id);
    assert_eq!(placed.record.flags & 1, 1, "sampled");
    assert!(
        placed.record.time_unix_nano > 0
            && placed.record.observed_time_unix_nano >= placed.record.time_unix_nano
    );
    let resource: Vec<(&str, &str)> = placed
        .resource
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(k, _)| k.starts_with("service."))
        .collect();
    assert_eq!(
        resource,
        [("service.name", "logs-test"), ("service.version", "1.2.3")]
    );
    let outside = ours[1];
    assert_eq!(outside.record.severity_number, 13);
    assert_eq!(outside.record.severity_text, "WARN");
    assert_eq!(outside.attr("queue").as_deref(), Some("payments"));
    assert!(outside.record.trace_id.is_empty() && outside.record.span_id.is_empty());
    // The span the first record was written in arrived too, under the same resource.
    let spans = receiver.wait_for(1, Duration::from_secs(10));
    let handle = spans.iter().find(|s| s.span.name == "handle").unwrap();
    assert_eq!(hex(&handle.span.trace_id), trace_id);
    assert_eq!(handle.resource, placed.resource);
}

#[test]
fn records_over_http_carry_severity_body_fields_trace_and_resource() {
    let receiver = Receiver::http();
    let (telemetry, lines) = telemetry(
        &receiver.endpoint(),
        Protocol::HttpProtobuf,
        &[SCHEDULE],
        "info",
    );
    let (trace_id, span_id) = write_events(&telemetry);
    assert!(telemetry.guard.flush(Duration::from_secs(5)));
    check_records(&receiver, &trace_id, &span_id);
    // Lines still go to the log output by default.
    assert_eq!(lines.lines().len(), 2, "{:?}", lines.lines());
    let stats = telemetry.guard.log_pipeline().unwrap().stats();
    assert_eq!(
        (stats.exported, stats.queue_full, stats.export_failed),
        (2, 0, 0)
    );
}

#[test]
fn records_over_grpc() {
    let receiver = Receiver::grpc();
    let (telemetry, _lines) = telemetry(&receiver.endpoint(), Protocol::Grpc, &[SCHEDULE], "info");
    let (trace_id, span_id) = write_events(&telemetry);
    assert!(telemetry.guard.flush(Duration::from_secs(5)));
    check_records(&receiver, &trace_id, &span_id);
}

/// A hung collector: 5 000 events are written in well under a second while exports time
/// out; every record is accounted for as exported or dropped.
#[test]
fn a_hung_collector_costs_records_with_a_count_never_the_caller_time() {
    let receiver = Receiver::http();
    receiver.delay(Duration::from_secs(30));
    let (telemetry, _lines) = telemetry(
        &receiver.endpoint(),
        Protocol::HttpProtobuf,
        &[
            SCHEDULE,
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "300"),
        ],
        "info",
    );
    let started = Instant::now();
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        for i in 0..5_000 {
            tracing::info!(i, "busy");
        }
    });
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "logging took {took:?}");
    let pipeline = telemetry.guard.log_pipeline().unwrap().clone();
    assert!(pipeline.shutdown(Duration::from_secs(30)));
    let stats = pipeline.stats();
    assert_eq!(stats.exported, 0, "{stats:?}");
    assert!(stats.queue_full >= 4_000, "{stats:?}");
    assert_eq!(stats.queue_full + stats.export_failed, 5_000, "{stats:?}");
}

#[test]
fn otel_logs_exporter_chooses_records_lines_both_or_neither() {
    for (setting, records, lines_expected) in [
        (Some("otlp"), true, false),
        (Some("console"), false, true),
        (Some("otlp,console"), true, true),
        (Some("none"), false, false),
        (None, true, true),
    ] {
        let receiver = Receiver::http();
        let mut env = vec![SCHEDULE];
        if let Some(value) = setting {
            env.push(("OTEL_LOGS_EXPORTER", value));
        }
        let (telemetry, lines) =
            telemetry(&receiver.endpoint(), Protocol::HttpProtobuf, &env, "info");
        tracing::dispatcher::with_default(&telemetry.dispatch, || tracing::info!("hello"));
        assert!(telemetry.guard.flush(Duration::from_secs(5)));
        assert_eq!(
            telemetry.guard.log_pipeline().is_some(),
            records,
            "{setting:?}"
        );
        assert_eq!(receiver.logs().len(), usize::from(records), "{setting:?}");
        assert_eq!(
            lines.lines().len(),
            usize::from(lines_expected),
            "{setting:?}"
        );
    }
    let error = obs_runtime::init()
        .env([("OTEL_LOGS_EXPORTER", "otlp,kafka")])
        .metrics_addr(None)
        .build()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid OTEL_LOGS_EXPORTER=\"otlp,kafka\""),
        "{error}"
    );
}

/// Records only (no lines), to a collector that is not there: the failure is still said
/// on the log output, and `otlp` named with no endpoint goes to the specification's
/// default rather than nowhere.
#[test]
fn without_lines_export_trouble_is_still_said() {
    // Port 1 on loopback: nothing listens there.
    let (telemetry, lines) = telemetry(
        "http://127.0.0.1:1",
        Protocol::HttpProtobuf,
        &[SCHEDULE, ("OTEL_LOGS_EXPORTER", "otlp")],
        "info",
    );
    tracing::dispatcher::with_default(&telemetry.dispatch, || tracing::info!("hello"));
    assert!(telemetry.guard.flush(Duration::from_secs(5)));
    let said: Vec<serde_json::Value> = lines
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(said.len(), 1, "only the trouble line: {said:#?}");
    assert_eq!(said[0]["target"], "obs::export");
    assert_eq!(said[0]["fields"]["signal"], "logs");
    assert_eq!(
        telemetry
            .guard
            .log_pipeline()
            .unwrap()
            .stats()
            .export_failed,
        1
    );

    let named = obs_runtime::init()
        .env([("OTEL_LOGS_EXPORTER", "otlp")])
        .metrics_addr(None)
        .build()
        .unwrap();
    assert!(
        named
            .guard
            .summary()
            .contains("logs over OTLP http/protobuf to http://localhost:4318/v1/logs"),
        "{}",
        named.guard.summary()
    );
}

/// Secrets in the logs' own variables never reach an error or the setup summary.
#[test]
fn logs_settings_never_echo_a_secret() {
    let error = obs_runtime::init()
        .env([(
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            "x-honeycomb-team=SECRETKEY123,oops",
        )])
        .metrics_addr(None)
        .build()
        .unwrap_err()
        .to_string();
    assert!(!error.contains("SECRETKEY123"), "{error}");
    assert!(error.contains("OTEL_EXPORTER_OTLP_LOGS_HEADERS"), "{error}");
    // A header value HTTP refuses (a newline once decoded): named by its own variable.
    let error = obs_runtime::init()
        .env([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-key=SEC%0ARET"),
        ])
        .metrics_addr(None)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("invalid OTEL_EXPORTER_OTLP_LOGS_HEADERS="),
        "{error}"
    );
    assert!(!error.contains("SEC"), "{error}");
    let telemetry = obs_runtime::init()
        .env([
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://user:hunter2@127.0.0.1:1",
            ),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://user:hunter3@127.0.0.1:2/v1/logs",
            ),
        ])
        .metrics_addr(None)
        .build()
        .unwrap();
    let summary = telemetry.guard.summary();
    assert!(
        !summary.contains("hunter2") && !summary.contains("hunter3"),
        "{summary}"
    );
    assert!(summary.contains("127.0.0.1:2/v1/logs"), "{summary}");
}

/// The log record limits: values cut at a character boundary, attributes past the count
/// dropped, both counted and said in `dropped_attributes_count`.
#[test]
fn records_are_bounded_by_the_log_record_limits() {
    let receiver = Receiver::http();
    let (telemetry, _lines) = telemetry(
        &receiver.endpoint(),
        Protocol::HttpProtobuf,
        &[
            SCHEDULE,
            ("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "5"),
            ("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "2"),
        ],
        "info",
    );
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        tracing::info!(a = "ééééé", b = 1, c = true, "limited");
    });
    assert!(telemetry.guard.flush(Duration::from_secs(5)));
    let logs = receiver.wait_for_log(Duration::from_secs(5), |r| r.body() == "limited");
    let record = logs.iter().find(|r| r.body() == "limited").unwrap();
    let keys: Vec<&str> = record
        .record
        .attributes
        .iter()
        .map(|kv| kv.key.as_str())
        .collect();
    assert_eq!(keys, ["a", "b"]);
    // Five bytes cut at a character boundary: two of the two-byte `é`.
    assert_eq!(record.attr("a").as_deref(), Some("éé"));
    assert_eq!(record.record.dropped_attributes_count, 1);
}
