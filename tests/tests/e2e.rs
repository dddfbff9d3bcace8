//! End to end: the orders service served on 127.0.0.1, scraped by a real Prometheus
//! (Debian package, exemplar storage on), exporting traces to an OTLP receiver, and called
//! by a Python client instrumented with the OpenTelemetry SDK. One test: it installs the
//! process-global subscriber.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use obs_examples::orders::{Store, app};
use obs_tests::http_call;
use obs_tests::otlp::{by_request_id, hex};
use obs_tests::prom_server::Prometheus;
use serde_json::Value;

const ORDER: &str = r#"{"user_id":3,"items":[{"sku":"B2","quantity":1,"price":42.5}],"payment_method":"bank_transfer"}"#;
const BIG_ORDER: &str =
    r#"{"user_id":3,"items":[{"sku":"B2","quantity":2,"price":4000}],"payment_method":"card"}"#;

#[test]
fn prometheus_and_python_client_end_to_end() {
    let installed = obs_tests::Installed::new("orders-e2e");
    let (receiver, guard) = (&installed.receiver, &installed.guard);
    let addr = installed.serve(app(installed.rt.block_on(Store::in_memory()), None));

    let prometheus = Prometheus::start("orders", addr);

    // ---- Traffic with known counts ------------------------------------------------------
    for _ in 0..12 {
        assert_eq!(
            http_call(addr, "POST", "/api/orders", &[], Some(ORDER)).status,
            201
        );
    }
    for _ in 0..3 {
        assert_eq!(
            http_call(addr, "POST", "/api/orders", &[], Some(BIG_ORDER)).status,
            402
        );
    }
    for id in 1..=5 {
        assert_eq!(
            http_call(addr, "GET", &format!("/api/orders/{id}"), &[], None).status,
            200
        );
    }
    for _ in 0..4 {
        assert_eq!(
            http_call(addr, "GET", "/api/orders/9999", &[], None).status,
            404
        );
    }
    for id in [1, 2, 3, 4, 5, 6] {
        assert_eq!(
            http_call(addr, "GET", &format!("/api/users/{id}"), &[], None).status,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            http_call(addr, "GET", "/api/users/7", &[], None).status,
            200
        ); // slow path
    }
    assert_eq!(
        http_call(addr, "GET", "/no/such/route", &[], None).status,
        404
    );

    // ---- PromQL over what Prometheus scraped --------------------------------------------
    // All 33 requests scraped before any exact comparison.
    let scraped = prometheus.wait_for(
        r#"sum(http_requests_total{job="orders",endpoint!="/metrics"})"#,
        33.0,
        Duration::from_secs(30),
    );
    assert_eq!(scraped, Some(33.0), "{}", prometheus.log());
    let mut counts = BTreeMap::new();
    for series in prometheus.query(
        r#"sum by (method, endpoint, status_code) (http_requests_total{job="orders",endpoint!="/metrics"})"#,
    ) {
        let m = &series["metric"];
        counts.insert(
            format!("{} {} {}", m["method"].as_str().unwrap(), m["endpoint"].as_str().unwrap(), m["status_code"].as_str().unwrap()),
            series["value"][1].as_str().unwrap().parse::<f64>().unwrap(),
        );
    }
    let expected: BTreeMap<String, f64> = [
        ("GET /api/orders/{id} 200", 5.0),
        ("GET /api/orders/{id} 404", 4.0),
        ("GET /api/users/{id} 200", 8.0),
        ("GET __unmatched__ 404", 1.0),
        ("POST /api/orders 201", 12.0),
        ("POST /api/orders 402", 3.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(counts, expected);
    assert_eq!(
        prometheus.scalar(r#"sum(orders_processed_total{job="orders",status="success",payment_method="bank_transfer"})"#),
        Some(12.0)
    );
    assert_eq!(
        prometheus.scalar(
            r#"sum(orders_processed_total{job="orders",status="failure",payment_method="card"})"#
        ),
        Some(3.0)
    );
    assert_eq!(
        prometheus.scalar(r#"inventory_level{job="orders",warehouse="east"}"#),
        Some(1_000_000.0 - 12.0)
    );
    assert_eq!(
        prometheus.scalar(r#"sum(http_requests_in_progress{job="orders",method="POST"})"#),
        Some(0.0)
    );
    // 6 fast lookups (~2 ms) and 2 slow ones (~300 ms): the median sits in a fast bucket,
    // the 99th percentile in the (0.25, 0.5] bucket.
    let quantile = |q: f64| {
        prometheus
            .scalar(&format!(
                r#"histogram_quantile({q}, sum by (le) (http_request_duration_seconds_bucket{{job="orders",endpoint="/api/users/{{id}}"}}))"#
            ))
            .unwrap()
    };
    let p50 = quantile(0.5);
    let p99 = quantile(0.99);
    // The median is a fast lookup: below the slow bucket, whatever the machine's load.
    assert!(p50 > 0.0 && p50 <= 0.25, "p50 = {p50}");
    assert!(p99 > 0.25 && p99 <= 0.5, "p99 = {p99}");
    assert_eq!(
        prometheus.scalar(r#"sum(function_calls_total{job="orders",function="charge_payment",result="error",error="PaymentDeclined"})"#),
        Some(3.0)
    );

    // ---- Exemplars: Prometheus stored trace ids that the OTLP receiver also got ----------
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = receiver.spans();
    let exemplars = prometheus.exemplars(
        r#"http_request_duration_seconds_bucket{job="orders",endpoint="/api/users/{id}"}"#,
        Duration::from_secs(300),
    );
    let mut linked = 0;
    let mut buckets = Vec::new();
    for series in &exemplars {
        let le: f64 = series["seriesLabels"]["le"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        for exemplar in series["exemplars"].as_array().unwrap() {
            let trace_id = exemplar["labels"]["trace_id"].as_str().unwrap();
            let span_id = exemplar["labels"]["span_id"].as_str().unwrap();
            let span = spans
                .iter()
                .find(|s| hex(&s.span.trace_id) == trace_id && hex(&s.span.span_id) == span_id)
                .unwrap_or_else(|| panic!("exemplar {trace_id}/{span_id} has no exported span"));
            assert_eq!(span.span.name, "GET /api/users/{id}");
            linked += 1;
            buckets.push(le);
        }
    }
    // Both a fast bucket and the slow one (0.25, 0.5] link to their traces.
    assert!(linked >= 2, "{exemplars:?}");
    assert!(
        buckets.iter().any(|le| *le <= 0.25),
        "no fast bucket: {buckets:?}"
    );
    assert!(buckets.contains(&0.5), "no slow bucket: {buckets:?}");

    // ---- A Python OpenTelemetry client continues its trace into the service --------------
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/otel_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("http://{addr}/api/users/3"))
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(client["status"], 200);
    let request_id = client["request_id"]
        .as_str()
        .expect("X-Request-ID on the response");
    assert_eq!(request_id.len(), 32);
    assert_eq!(client["baggage"], "tenant=acme");
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = receiver.spans();
    let server = by_request_id(&spans, request_id);
    assert_eq!(server.span.name, "GET /api/users/{id}");
    assert_eq!(
        hex(&server.span.trace_id),
        client["trace_id"].as_str().unwrap()
    );
    assert_eq!(
        hex(&server.span.parent_span_id),
        client["span_id"].as_str().unwrap()
    );
    let fetch = spans
        .iter()
        .find(|s| s.span.name == "fetch_user" && s.span.parent_span_id == server.span.span_id)
        .expect("fetch_user under the server span");
    assert_eq!(fetch.span.trace_id, server.span.trace_id);
    assert_eq!(
        server
            .resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.as_str()),
        Some("orders-e2e")
    );
    drop(prometheus);
}
