//! `init().install()`: the global subscriber, the metrics server with its token, the
//! environment, and a second install refused. One test: installing is process-global.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use obs_runtime::init::InitError;
use obs_runtime::log::{LogFormat, LogWriter};
use obs_tests::otlp::Receiver;

fn get(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes())
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[obs_runtime::observe]
fn handle() -> u32 {
    tracing::info!("handled");
    7
}

#[test]
fn install_from_the_environment() {
    let receiver = Receiver::http();
    let (writer, logs) = LogWriter::memory();
    let guard = obs_runtime::init()
        .env([
            ("OTEL_SERVICE_NAME", "env-service".to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
            ("OBS_METRICS_ADDR", "127.0.0.1:0".to_owned()),
            ("OBS_METRICS_TOKEN", "s3cret".to_owned()),
            ("OBS_LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ])
        .log_writer(writer)
        .install()
        .unwrap();
    let addr = guard.metrics_addr().unwrap();
    assert_eq!(
        guard.summary(),
        format!(
            "env-service: traces over OTLP http/protobuf to {0}/v1/traces; logs over OTLP http/protobuf to {0}/v1/logs and standard output; metrics on http://{addr}/metrics",
            receiver.endpoint()
        )
    );

    // The global subscriber is ours.
    assert_eq!(handle(), 7);
    let lines = logs.lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("\"message\":\"handled\""));
    // Records of the `log` crate reach the same logs, inside the current span too.
    tracing::info_span!("legacy")
        .in_scope(|| log::warn!(target: "legacy_lib", "from the log crate"));
    log::debug!("below the filter");
    let legacy = logs.lines();
    assert_eq!(legacy.len(), 2, "{legacy:#?}");
    let line: serde_json::Value = serde_json::from_str(&legacy[1]).unwrap();
    assert_eq!(line["message"], "from the log crate");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["target"], "legacy_lib");
    assert_eq!(line["span"], "legacy");
    assert!(guard.flush(std::time::Duration::from_secs(5)));
    let mut spans = receiver.wait_for(2, std::time::Duration::from_secs(5));
    spans.sort_by(|a, b| a.span.name.cmp(&b.span.name));
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].span.name, "handle");
    assert_eq!(spans[1].span.name, "legacy");
    assert_eq!(spans[1].span.events.len(), 1);
    assert_eq!(spans[1].span.events[0].name, "from the log crate");
    assert_eq!(receiver.last_header("x-tenant").as_deref(), Some("acme"));
    let service = spans[0]
        .resource
        .iter()
        .find(|(k, _)| k == "service.name")
        .unwrap();
    assert_eq!(service.1, "env-service");
    assert!(lines[0].contains(&format!(
        "\"trace_id\":\"{}\"",
        obs_tests::otlp::hex(&spans[0].span.trace_id)
    )));

    // The token guards /metrics, not health.
    assert_eq!(get(addr, "/metrics", "").0, 401);
    assert_eq!(
        get(addr, "/metrics", "Authorization: Bearer wrong\r\n").0,
        401
    );
    let (status, body) = get(addr, "/metrics", "Authorization: Bearer s3cret\r\n");
    assert_eq!(status, 200);
    assert!(body.contains("obs_spans_exported_total 2\n"), "{body}");
    assert!(body.contains("obs_spans_dropped_total{reason=\"queue_full\"} 0\n"));
    assert!(body.contains("obs_export_errors_total 0\n"));
    assert_eq!(get(addr, "/health/live", "").0, 200);

    // The W3C propagators are installed for OpenTelemetry-based libraries too.
    let mut fields: Vec<String> =
        opentelemetry::global::get_text_map_propagator(|p| p.fields().map(str::to_owned).collect());
    fields.sort();
    assert_eq!(fields, ["baggage", "traceparent", "tracestate"]);

    // Only one global subscriber.
    let again = obs_runtime::init()
        .env([("OBS_METRICS_ADDR", "off")])
        .log_format(LogFormat::Json)
        .install();
    assert!(
        matches!(again, Err(InitError::AlreadyInstalled)),
        "{again:?}"
    );

    // A port in use is a clear error.
    let taken = obs_runtime::init()
        .env([("OBS_METRICS_ADDR", addr.to_string())])
        .build()
        .map(|_| ())
        .unwrap_err();
    assert!(
        taken
            .to_string()
            .starts_with(&format!("cannot serve metrics on {addr}: ")),
        "{taken}"
    );

    drop(guard);
    assert!(
        TcpStream::connect(addr).is_err(),
        "the server stopped with the guard"
    );
}
