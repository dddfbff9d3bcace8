//! Export trouble said out loud: an exporter's first failure is one `warn` line with its
//! cause, where it was sending and a hint when the configuration is the cause; later
//! failures add no line (a summary a minute at most, unit-tested in `trace/trouble.rs`);
//! recovery is one `info` line with the counts. Against real OTLP servers on 127.0.0.1:
//! each test builds its own telemetry (not installed), so the lines reach its own logs.

use std::time::{Duration, Instant};

use obs_runtime::init::{Guard, Telemetry};
use obs_runtime::log::{LogFormat, LogWriter, MemoryLog};
use obs_runtime::trace::{PipelineConfig, Protocol};
use obs_tests::otlp::Receiver;
use serde_json::Value;

/// Telemetry exporting to `endpoint` over `protocol` in 20 ms batches with a 2 s timeout,
/// JSON logs in memory; `env` is the whole environment it reads.
fn telemetry(
    endpoint: Option<&str>,
    protocol: Protocol,
    env: &[(&str, &str)],
) -> (Telemetry, MemoryLog) {
    let (writer, logs) = LogWriter::memory();
    let mut builder = obs_runtime::init()
        .env(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        .service_name("trouble")
        .otlp_protocol(protocol)
        .otlp_timeout(Duration::from_secs(2))
        .batch(PipelineConfig {
            delay: Duration::from_millis(20),
            ..PipelineConfig::default()
        })
        .metrics_addr(None)
        .log_format(LogFormat::Json)
        .log_writer(writer);
    if let Some(endpoint) = endpoint {
        builder = builder.otlp_endpoint(endpoint);
    }
    (builder.build().expect("build the telemetry"), logs)
}

/// Finishes one span inside `telemetry`'s subscriber.
fn one_span(telemetry: &Telemetry) {
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        tracing::info_span!("work").in_scope(|| {});
    });
}

/// The lines about export trouble.
fn trouble_lines(logs: &MemoryLog) -> Vec<Value> {
    logs.lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["target"] == "obs::export")
        .collect()
}

/// Finishes spans until `n` lines about export trouble were written (10 s at most).
fn wait_for_lines(telemetry: &Telemetry, logs: &MemoryLog, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = trouble_lines(logs);
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} trouble lines, {n} expected: {:?}",
            lines.len(),
            logs.lines()
        );
        one_span(telemetry);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Finishes spans until the pipeline counted `errors` failed exports.
fn wait_for_errors(telemetry: &Telemetry, errors: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let pipeline = telemetry.guard.pipeline().unwrap();
    while pipeline.stats().export_errors < errors {
        assert!(Instant::now() < deadline, "{:?}", pipeline.stats());
        one_span(telemetry);
        std::thread::sleep(Duration::from_millis(30));
    }
}

fn shut(guard: Guard) {
    drop(guard);
}

#[test]
fn http_protobuf_sent_to_a_grpc_server_is_said_once_with_a_hint() {
    let grpc = Receiver::grpc();
    let endpoint = grpc.endpoint();
    let (telemetry, logs) = telemetry(Some(&endpoint), Protocol::HttpProtobuf, &[]);
    let lines = wait_for_lines(&telemetry, &logs, 1);
    let line = &lines[0];
    assert_eq!(line["level"], "WARN", "{line}");
    let fields = &line["fields"];
    assert_eq!(fields["signal"], "traces");
    assert_eq!(
        fields["destination"],
        format!("http/protobuf to {endpoint}/v1/traces")
    );
    let hint = fields["hint"]
        .as_str()
        .unwrap_or_else(|| panic!("no hint: {line}"));
    assert!(hint.contains("gRPC"), "{line}");
    let message = line["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "OTLP traces export failed; spans are dropped and counted until it succeeds: "
        ),
        "{message}"
    );
    assert!(message.ends_with(&format!("; hint: {hint}")), "{message}");
    // More failures, no more lines (a summary comes after a minute).
    wait_for_errors(&telemetry, 5);
    assert_eq!(trouble_lines(&logs).len(), 1, "{:?}", logs.lines());
    assert_eq!(grpc.span_count(), 0);
    shut(telemetry.guard);
}

#[test]
fn grpc_sent_to_an_http_server_is_said_with_a_hint() {
    let http = Receiver::http();
    let (telemetry, logs) = telemetry(Some(&http.endpoint()), Protocol::Grpc, &[]);
    let line = &wait_for_lines(&telemetry, &logs, 1)[0];
    assert_eq!(line["level"], "WARN", "{line}");
    assert!(
        line["fields"]["hint"]
            .as_str()
            .unwrap()
            .contains("OTLP/HTTP"),
        "{line}"
    );
    shut(telemetry.guard);
}

#[test]
fn nothing_listening_is_said_as_connection_refused() {
    // Port 1 on loopback: nothing listens there.
    let (telemetry, logs) = telemetry(Some("http://127.0.0.1:1"), Protocol::HttpProtobuf, &[]);
    let line = &wait_for_lines(&telemetry, &logs, 1)[0];
    let cause = line["fields"]["cause"].as_str().unwrap();
    assert!(
        cause.to_ascii_lowercase().contains("connection refused"),
        "{line}"
    );
    assert!(
        line["fields"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("nothing accepts connections there"),
        "{line}"
    );
    shut(telemetry.guard);
}

#[test]
fn a_signal_endpoint_without_its_path_is_said_with_the_path() {
    let http = Receiver::http();
    let endpoint = http.endpoint();
    let (telemetry, logs) = telemetry(
        None,
        Protocol::HttpProtobuf,
        &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint.as_str())],
    );
    let line = &wait_for_lines(&telemetry, &logs, 1)[0];
    assert!(
        line["fields"]["cause"].as_str().unwrap().contains("404"),
        "{line}"
    );
    assert!(
        line["fields"]["hint"]
            .as_str()
            .unwrap()
            .contains("needs the path /v1/traces"),
        "{line}"
    );
    shut(telemetry.guard);
}

#[test]
fn an_http_status_is_said_with_its_body_then_the_recovery_with_the_counts() {
    let http = Receiver::http();
    http.fail_with(503);
    let (telemetry, logs) = telemetry(Some(&http.endpoint()), Protocol::HttpProtobuf, &[]);
    let first = wait_for_lines(&telemetry, &logs, 1)[0].clone();
    let cause = first["fields"]["cause"].as_str().unwrap();
    assert!(cause.contains("503"), "{first}");
    assert!(
        cause.contains("the test receiver fails on purpose"),
        "{first}"
    );
    assert!(
        first["fields"].get("hint").is_none(),
        "no known misconfiguration, no hint field: {first}"
    );
    wait_for_errors(&telemetry, 3);
    http.fail_with(0);
    let lines = wait_for_lines(&telemetry, &logs, 2);
    let recovered = &lines[1];
    assert_eq!(recovered["level"], "INFO", "{recovered}");
    let stats = telemetry.guard.pipeline().unwrap().stats();
    assert_eq!(recovered["fields"]["failed_exports"], stats.export_errors);
    assert_eq!(recovered["fields"]["dropped"], stats.export_failed);
    assert!(
        recovered["message"]
            .as_str()
            .unwrap()
            .starts_with("OTLP traces export recovered after "),
        "{recovered}"
    );
    shut(telemetry.guard);
}

/// A collector answering with a body larger than what is read still has its excerpt said.
#[test]
fn a_long_error_body_is_said_by_its_start() {
    let http = Receiver::http();
    http.fail_with_long_body(400, 100_000);
    let (telemetry, logs) = telemetry(Some(&http.endpoint()), Protocol::HttpProtobuf, &[]);
    let first = wait_for_lines(&telemetry, &logs, 1)[0].clone();
    let cause = first["fields"]["cause"].as_str().unwrap();
    assert!(
        cause.starts_with(
            "the collector answered HTTP 400 Bad Request: the test receiver fails on purpose x x"
        ),
        "{first}"
    );
    assert!(
        cause.len() < 400,
        "an excerpt, not the body: {} bytes",
        cause.len()
    );
    shut(telemetry.guard);
}
