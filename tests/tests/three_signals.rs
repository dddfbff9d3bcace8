//! Three signals, end to end: the orders service (the release binary, configured only by
//! the standard environment variables) exporting traces and log records to an OTLP
//! receiver that decodes the official protos. Every record sits beside its trace, says
//! the same as its line on standard output, and a failed payment's record carries its
//! cause chain; a killed collector costs records with a count and never a request; an
//! endpoint on gRPC's port over http/protobuf is said with a hint within the export
//! timeout.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use obs_tests::load::{Build, banner_addr, orders_binary};
use obs_tests::otlp::{ReceivedLog, Receiver, by_request_id, hex};
use obs_tests::{HttpResponse, http_call};
use serde_json::Value;

const PLACED: &str =
    r#"{"user_id":5,"items":[{"sku":"A1","quantity":2,"price":3.5}],"payment_method":"card"}"#;
const DECLINED: &str =
    r#"{"user_id":6,"items":[{"sku":"B2","quantity":1,"price":9000}],"payment_method":"paypal"}"#;

/// The orders service with JSON lines on standard output, read as they come.
struct Orders {
    child: Child,
    addr: std::net::SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Orders {
    /// Starts it with `env` over a telemetry environment of its own (nothing inherited).
    fn start(env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(orders_binary(Build::Observed));
        for (key, _) in std::env::vars() {
            if key.starts_with("OTEL_") || key.starts_with("OBS_") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        let mut child = command
            .env("ORDERS_ADDR", "127.0.0.1:0")
            .env("OBS_LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the orders service");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let addr = banner_addr(&mut stderr);
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&lines);
        let readers = vec![
            std::thread::spawn(move || {
                for line in stdout.lines().map_while(Result::ok) {
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(line);
                }
            }),
            // Drained so the service never blocks on it.
            std::thread::spawn(move || for _ in stderr.lines().map_while(Result::ok) {}),
        ];
        Self {
            child,
            addr,
            stdout: lines,
            readers,
        }
    }

    /// The JSON lines written so far.
    fn lines(&self) -> Vec<Value> {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Waits (at most `timeout`) for a line satisfying `want`; how long it took.
    fn wait_for_line(&self, timeout: Duration, want: impl Fn(&Value) -> bool) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.lines().iter().any(&want) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
        http_call(self.addr, method, path, &[], body)
    }

    /// The value of the series of `name` whose labels include `labels`, from /metrics.
    fn metric(&self, name: &str, labels: &str) -> f64 {
        let response = self.call("GET", "/metrics", None);
        assert_eq!(response.status, 200);
        response
            .body
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter(|l| l.contains(labels))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    }

    /// Stops it as a platform would (SIGTERM) and waits, at most `limit`, for it to exit
    /// successfully; its lines.
    fn stop(mut self, limit: Duration) -> Vec<Value> {
        let start = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                break;
            }
            assert!(
                start.elapsed() < limit,
                "the service did not stop within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.lines()
    }
}

impl Drop for Orders {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request_id(response: &HttpResponse) -> String {
    response
        .headers
        .iter()
        .find(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.clone())
        .expect("X-Request-ID")
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[test]
fn every_record_sits_beside_its_trace_and_says_what_its_line_says() {
    let receiver = Receiver::http();
    let endpoint = receiver.endpoint();
    let orders = Orders::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
    ]);
    let placed = orders.call("POST", "/api/orders", Some(PLACED));
    assert_eq!(placed.status, 201, "{}", placed.body);
    let declined = orders.call("POST", "/api/orders", Some(DECLINED));
    assert_eq!(declined.status, 402, "{}", declined.body);
    assert_eq!(orders.call("GET", "/api/orders/1", None).status, 200);
    assert_eq!(orders.call("GET", "/api/orders/77", None).status, 404);
    // A graceful stop flushes both pipelines.
    let lines = orders.stop(Duration::from_secs(15));
    let spans = receiver.spans();
    let records = receiver.logs();

    // Every record written inside a span names an exported trace; the requests' do.
    let traces: BTreeSet<String> = spans.iter().map(|s| hex(&s.span.trace_id)).collect();
    let in_traces: Vec<&ReceivedLog> = records
        .iter()
        .filter(|r| !r.record.trace_id.is_empty())
        .collect();
    // Four access records, the order created, its payment captured, the declined
    // payment's error; outside any request: database ready, listening and stopped.
    assert_eq!(in_traces.len(), 7, "{records:#?}");
    assert_eq!(records.len(), 10, "{records:#?}");
    for record in &in_traces {
        let trace_id = hex(&record.record.trace_id);
        assert!(
            traces.contains(&trace_id),
            "record {:?} of trace {trace_id}, never exported",
            record.body()
        );
    }

    // Records and lines are the same events: message, level, target and ids.
    let from_records: BTreeMap<(String, String, String, String), usize> =
        records.iter().fold(BTreeMap::new(), |mut m, r| {
            let key = (
                r.body(),
                r.record.severity_text.clone(),
                r.scope.clone(),
                hex(&r.record.trace_id),
            );
            *m.entry(key).or_default() += 1;
            m
        });
    let from_lines: BTreeMap<(String, String, String, String), usize> =
        lines.iter().fold(BTreeMap::new(), |mut m, l| {
            let key = (
                text(&l["message"]),
                text(&l["level"]),
                text(&l["target"]),
                text(&l["trace_id"]),
            );
            *m.entry(key).or_default() += 1;
            m
        });
    assert_eq!(from_records, from_lines);

    // The access record of the placed order: its server span's trace and span, placed by
    // route, method, request id and client, under the service's resource.
    let id = request_id(&placed);
    let server = by_request_id(&spans, &id);
    let access = records
        .iter()
        .find(|r| r.scope == "obs::access" && r.attr("request_id").as_deref() == Some(&id))
        .expect("the access record of the placed order");
    assert_eq!(access.record.trace_id, server.span.trace_id);
    assert_eq!(access.record.span_id, server.span.span_id);
    assert_eq!(access.attr("http.route").as_deref(), Some("/api/orders"));
    assert_eq!(access.attr("http.request.method").as_deref(), Some("POST"));
    assert_eq!(
        access.attr("http.response.status_code").as_deref(),
        Some("201")
    );
    assert_eq!(access.attr("client.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(access.resource, server.resource);
    let service: Vec<(&str, &str)> = access
        .resource
        .iter()
        .filter(|(k, _)| k == "service.name")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(service, [("service.name", "orders")]);

    // The declined payment: its error record carries the whole cause chain, in the
    // declined request's trace, with the ids the observed functions mark.
    let declined_server = by_request_id(&spans, &request_id(&declined));
    let error = records
        .iter()
        .find(|r| r.scope == "obs::error")
        .expect("the declined payment's error record");
    assert_eq!(
        error.body(),
        "charge_payment failed: payment of $9000.00 declined: \
         gateway refused the charge: over the limit of $5000.00"
    );
    assert_eq!(error.record.severity_text, "WARN");
    assert_eq!(error.record.trace_id, declined_server.span.trace_id);
    assert_eq!(error.attr("user_id").as_deref(), Some("6"));
    assert_eq!(error.attr("http.route").as_deref(), Some("/api/orders"));
    // Its span's exception event says the same chain.
    let charge = spans
        .iter()
        .find(|s| s.span.name == "charge_payment" && s.span.trace_id == error.record.trace_id)
        .expect("the declined charge's span");
    let exception = charge
        .span
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("its exception event");
    assert_eq!(
        obs_tests::otlp::attr(&exception.attributes, "exception.message").as_deref(),
        Some(
            "payment of $9000.00 declined: gateway refused the charge: over the limit of $5000.00"
        )
    );
}

#[test]
fn a_killed_collector_costs_records_with_a_count_never_a_request() {
    let receiver = Receiver::http();
    let endpoint = receiver.endpoint();
    // A long export timeout: a request that waited on the exporter would take seconds.
    let orders = Orders::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
    ]);
    let first = orders.call("POST", "/api/orders", Some(PLACED));
    assert_eq!(first.status, 201);
    let id = request_id(&first);
    let got = receiver.wait_for_log(Duration::from_secs(10), |r| {
        r.scope == "obs::access" && r.attr("request_id").as_deref() == Some(&id)
    });
    assert!(got.iter().any(|r| r.scope == "obs::access"), "{got:#?}");
    let exported_before = orders.metric("obs_log_records_exported_total", "");
    assert!(exported_before >= 1.0);

    receiver.stop();
    let mut slowest = Duration::ZERO;
    for n in 0..20 {
        let start = Instant::now();
        let response = orders.call("GET", &format!("/api/orders/{}", n % 3 + 1), None);
        slowest = slowest.max(start.elapsed());
        assert!(matches!(response.status, 200 | 404), "{}", response.status);
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a request waited on the dead collector: {slowest:?}"
    );

    // The 20 requests' access records (at least) are dropped and counted as failed
    // exports; what was exported before stays what the receiver got.
    let deadline = Instant::now() + Duration::from_secs(30);
    let dropped = loop {
        let dropped = orders.metric("obs_log_records_dropped_total", r#"reason="export_failed""#);
        if dropped >= 20.0 || Instant::now() >= deadline {
            break dropped;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(dropped >= 20.0, "dropped {dropped}");
    assert_eq!(
        orders.metric("obs_log_records_exported_total", ""),
        exported_before,
        "nothing is exported to a dead collector"
    );
    let lines = orders.lines();
    let warning = lines
        .iter()
        .find(|l| l["target"] == "obs::export" && l["fields"]["signal"] == "logs")
        .expect("the log exporter's failure said on standard output");
    assert_eq!(warning["level"], "WARN");
    // The collector died with a connection open (the exporter's request cut short) or
    // before it (refused): either is said.
    let cause = text(&warning["fields"]["cause"]).to_ascii_lowercase();
    assert!(
        cause.contains("connection refused") || cause.contains("connection closed"),
        "{warning}"
    );
    assert_eq!(
        warning["fields"]["destination"],
        format!("http/protobuf to {endpoint}/v1/logs")
    );
    // Stopping with the collector gone is bounded too.
    orders.stop(Duration::from_secs(15));
}

#[test]
fn http_protobuf_on_grpcs_port_is_said_with_a_hint_within_the_export_timeout() {
    let timeout = Duration::from_secs(3);
    let orders = Orders::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
    ]);
    assert_eq!(orders.call("GET", "/api/orders/1", None).status, 404);
    let hinted = |l: &Value| {
        l["target"] == "obs::export"
            && l["level"] == "WARN"
            && text(&l["fields"]["hint"]).starts_with("4317 is the OTLP/gRPC port")
    };
    // The batch delay, then one export attempt bounded by the timeout.
    let took = orders.wait_for_line(timeout + Duration::from_secs(2), hinted);
    assert!(took.is_some(), "no hint: {:#?}", orders.lines());
    let lines = orders.stop(Duration::from_secs(15));
    let signals: BTreeSet<String> = lines
        .iter()
        .filter(|l| hinted(l))
        .map(|l| text(&l["fields"]["signal"]))
        .collect();
    // Each exporter says it once: traces and logs.
    assert_eq!(
        signals,
        BTreeSet::from(["logs".to_owned(), "traces".to_owned()])
    );
    assert_eq!(lines.iter().filter(|l| hinted(l)).count(), 2);
}
