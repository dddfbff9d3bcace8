//! Outgoing `reqwest` calls observed: a CLIENT span per call with the OpenTelemetry HTTP
//! client attributes, the downstream server span its child, and exact client RED counts.
//! One test: it installs the process-global subscriber.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use obs_runtime::axum::ObsLayer;
use obs_runtime::reqwest::Traced as _;
use obs_tests::global_sample;
use obs_tests::otlp::{attr, by_request_id, hex};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;

fn count(server: &str, status: &str) -> Option<f64> {
    global_sample(
        "http_client_request_duration_seconds_count",
        &[
            ("method", "GET"),
            ("server_address", server),
            ("status_code", status),
        ],
    )
}

#[test]
fn client_spans_parent_the_server_spans_and_are_counted() {
    let installed = obs_tests::Installed::new("client");
    let addr = installed.serve(
        Router::new()
            .route("/stock/{sku}", get(|| async { "12" }))
            .layer(ObsLayer::new()),
    );
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = reqwest::Client::new();
    let (ok, missing, refused) = installed.rt.block_on(async {
        let mut ok = Vec::new();
        for i in 0..3 {
            let response = client
                .get(format!(
                    "http://user:hunter2@{addr}/stock/A{i}?token=secret"
                ))
                .header("x-request-id", format!("client-{i}"))
                .send_observed()
                .await
                .unwrap();
            ok.push(response.status());
        }
        let missing = client
            .get(format!("http://{addr}/nowhere"))
            .header("x-request-id", "client-404")
            .send_observed()
            .await
            .unwrap()
            .status();
        let refused = client
            .get(format!("http://{closed}/stock/B"))
            .send_observed()
            .await
            .unwrap_err();
        (ok, missing, refused)
    });
    assert_eq!(ok, [StatusCode::OK; 3]);
    assert_eq!(missing, StatusCode::NOT_FOUND);
    assert!(refused.is_connect(), "{refused}");

    let server = addr.to_string();
    assert_eq!(count(&server, "200"), Some(3.0));
    assert_eq!(count(&server, "404"), Some(1.0));
    assert_eq!(count(&closed.to_string(), "error"), Some(1.0));

    assert!(installed.guard.flush(Duration::from_secs(10)));
    let spans = installed.receiver.wait_for(9, Duration::from_secs(10));
    let clients: Vec<_> = spans
        .iter()
        .filter(|s| s.span.kind == SpanKind::Client as i32)
        .collect();
    assert_eq!(clients.len(), 5, "{clients:?}");
    for i in 0..3 {
        let downstream = by_request_id(&spans, &format!("client-{i}"));
        let parent = clients
            .iter()
            .find(|c| c.span.span_id == downstream.span.parent_span_id)
            .unwrap_or_else(|| panic!("client-{i}: no client span is the server span's parent"));
        assert_eq!(hex(&parent.span.trace_id), hex(&downstream.span.trace_id));
        assert_eq!(parent.span.name, "GET");
        let a = &parent.span.attributes;
        assert_eq!(attr(a, "http.request.method").as_deref(), Some("GET"));
        assert_eq!(attr(a, "server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            attr(a, "server.port").as_deref(),
            Some(addr.port().to_string().as_str())
        );
        assert_eq!(
            attr(a, "url.full"),
            Some(format!("http://{addr}/stock/A{i}"))
        );
        assert_eq!(attr(a, "http.response.status_code").as_deref(), Some("200"));
        assert_eq!(attr(a, "error.type"), None);
    }
    let not_found = by_request_id(&spans, "client-404");
    let parent = clients
        .iter()
        .find(|c| c.span.span_id == not_found.span.parent_span_id)
        .unwrap();
    assert_eq!(
        attr(&parent.span.attributes, "error.type").as_deref(),
        Some("404")
    );
    assert_eq!(
        parent.span.status.as_ref().map(|s| s.code),
        Some(OtlpStatus::Error as i32)
    );
    let failed = clients
        .iter()
        .find(|c| attr(&c.span.attributes, "error.type").as_deref() == Some("connect"))
        .expect("the refused call's span");
    assert_eq!(
        attr(&failed.span.attributes, "http.response.status_code"),
        None
    );
    // No credentials or query anywhere in the exported spans.
    let all = format!("{spans:?}");
    assert!(!all.contains("hunter2") && !all.contains("secret"), "{all}");
}
