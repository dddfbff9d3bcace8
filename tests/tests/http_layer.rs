//! The axum layer on the orders service, over real loopback sockets, with the global
//! subscriber exporting to an OTLP receiver: exact RED counts per route template and
//! status, in-progress back to zero after client aborts, server spans with the HTTP
//! attributes and the caller's trace, request ids in responses and logs, and the malformed
//! inputs of the issue. One test: it installs the process-global subscriber.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use obs_examples::orders::{Store, app};
use obs_runtime::log::MemoryLog;
use obs_runtime::reqwest::Traced as _;
use obs_tests::otlp::{Received, attr, by_request_id, hex};
use obs_tests::{global_sample, http_call};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use serde_json::Value;

fn requests(method: &str, endpoint: &str, status: &str) -> f64 {
    global_sample(
        "http_requests_total",
        &[
            ("method", method),
            ("endpoint", endpoint),
            ("status_code", status),
        ],
    )
    .unwrap_or(0.0)
}

fn in_progress(method: &str) -> f64 {
    global_sample("http_requests_in_progress", &[("method", method)]).unwrap()
}

const ORDER: &str =
    r#"{"user_id":7,"items":[{"sku":"A1","quantity":2,"price":19.5}],"payment_method":"card"}"#;
const BIG_ORDER: &str =
    r#"{"user_id":7,"items":[{"sku":"A1","quantity":1,"price":9000}],"payment_method":"paypal"}"#;
const EMPTY_ORDER: &str = r#"{"user_id":7,"items":[],"payment_method":"card"}"#;

fn post(addr: SocketAddr, body: &str, headers: &[(&str, &[u8])]) -> obs_tests::HttpResponse {
    http_call(addr, "POST", "/api/orders", headers, Some(body))
}

fn spans_named<'a>(spans: &'a [Received], name: &str) -> Vec<&'a Received> {
    spans.iter().filter(|s| s.span.name == name).collect()
}

fn log_lines(logs: &MemoryLog) -> Vec<Value> {
    logs.lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn http_layer_end_to_end() {
    let installed = obs_tests::Installed::new("orders-test");
    let (receiver, logs, guard, rt) = (
        &installed.receiver,
        &installed.logs,
        &installed.guard,
        &installed.rt,
    );
    let serve = |router: Router| installed.serve(router);
    let addr = serve(app(installed.rt.block_on(Store::in_memory()), None));

    // ---- Exact counts per route template and status -------------------------------------
    for _ in 0..3 {
        assert_eq!(post(addr, ORDER, &[]).status, 201);
    }
    assert_eq!(post(addr, EMPTY_ORDER, &[]).status, 400);
    assert_eq!(post(addr, BIG_ORDER, &[]).status, 402);
    assert_eq!(
        http_call(addr, "GET", "/api/orders/1", &[], None).status,
        200
    );
    assert_eq!(
        http_call(addr, "GET", "/api/orders/2?verbose=1", &[], None).status,
        200
    );
    assert_eq!(
        http_call(addr, "GET", "/api/orders/999", &[], None).status,
        404
    );
    assert_eq!(http_call(addr, "GET", "/api/nope", &[], None).status, 404);
    assert_eq!(http_call(addr, "GET", "/etc/passwd", &[], None).status, 404);
    assert_eq!(
        http_call(addr, "BREW", "/api/orders", &[], None).status,
        405
    );
    assert_eq!(requests("POST", "/api/orders", "201"), 3.0);
    assert_eq!(requests("POST", "/api/orders", "400"), 1.0);
    assert_eq!(requests("POST", "/api/orders", "402"), 1.0);
    assert_eq!(requests("GET", "/api/orders/{id}", "200"), 2.0);
    assert_eq!(requests("GET", "/api/orders/{id}", "404"), 1.0);
    assert_eq!(requests("GET", "__unmatched__", "404"), 2.0);
    assert_eq!(requests("OTHER", "/api/orders", "405"), 1.0);
    let text = obs_runtime::Registry::global().render(None).body;
    assert!(
        !text.contains("/api/nope") && !text.contains("/etc/passwd"),
        "raw paths never become labels"
    );
    assert_eq!(
        global_sample(
            "http_request_duration_seconds_count",
            &[("method", "POST"), ("endpoint", "/api/orders")]
        ),
        Some(5.0)
    );
    assert_eq!(in_progress("GET"), 0.0);
    assert_eq!(in_progress("POST"), 0.0);
    obs_tests::promtool_check(&text);

    // ---- Request ids ------------------------------------------------------------------
    let echoed = post(addr, ORDER, &[("X-Request-ID", b"req-abc_123")]);
    assert_eq!(echoed.header("x-request-id"), Some("req-abc_123"));
    let body: Value = serde_json::from_str(&echoed.body).unwrap();
    assert_eq!(body["request_id"], "req-abc_123");
    let long = "x".repeat(200);
    for bad in [long.as_bytes(), "caf\u{e9}".as_bytes(), b"two words", b""] {
        let r = http_call(addr, "GET", "/api/orders/1", &[("X-Request-ID", bad)], None);
        assert_eq!(r.status, 200);
        let id = r.header("x-request-id").unwrap();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    let generated = http_call(addr, "GET", "/api/orders/1", &[], None);
    assert_eq!(generated.header("x-request-id").unwrap().len(), 32);
    let lines = log_lines(logs);
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| l["request_id"] == "req-abc_123")
        .collect();
    let messages: Vec<&str> = of_request
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        ["payment captured", "order created", "request completed"]
    );
    let in_spans: Vec<&Value> = lines.iter().filter(|l| l.get("span").is_some()).collect();
    assert!(!in_spans.is_empty());
    assert!(in_spans.iter().all(|l| l.get("request_id").is_some()));

    // ---- The caller's trace, span attributes -------------------------------------------
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let traced = post(
        addr,
        ORDER,
        &[
            (
                "traceparent",
                format!("00-{trace_id}-{caller}-01").as_bytes(),
            ),
            ("X-Request-ID", b"traced-1"),
            ("User-Agent", b"obs-test/1.0"),
        ],
    );
    assert_eq!(traced.status, 201);
    let malformed = post(
        addr,
        ORDER,
        &[
            ("traceparent", b"00-not-a-trace-01"),
            ("X-Request-ID", b"malformed-1"),
        ],
    );
    assert_eq!(malformed.status, 201, "a malformed traceparent is ignored");
    // The client has its answer before the server span closes: wait until both server
    // spans arrived (flushing each time), not only for what was queued at the answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let spans = loop {
        assert!(guard.flush(Duration::from_secs(10)));
        let spans = receiver.spans();
        let arrived = |id: &str| {
            spans
                .iter()
                .any(|s| attr(&s.span.attributes, "request_id").as_deref() == Some(id))
        };
        if arrived("traced-1") && arrived("malformed-1") {
            break spans;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server spans missing after 10 s"
        );
    };
    let server = by_request_id(&spans, "traced-1");
    assert_eq!(server.span.name, "POST /api/orders");
    assert_eq!(hex(&server.span.trace_id), trace_id);
    assert_eq!(hex(&server.span.parent_span_id), caller);
    assert_eq!(server.span.kind, SpanKind::Server as i32);
    let a = |k: &str| attr(&server.span.attributes, k);
    assert_eq!(a("http.request.method").as_deref(), Some("POST"));
    assert_eq!(a("http.route").as_deref(), Some("/api/orders"));
    assert_eq!(a("http.response.status_code").as_deref(), Some("201"));
    assert_eq!(a("url.path").as_deref(), Some("/api/orders"));
    assert_eq!(a("url.scheme").as_deref(), Some("http"));
    assert_eq!(a("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(a("user_agent.original").as_deref(), Some("obs-test/1.0"));
    assert_eq!(
        server.span.status.as_ref().map_or(0, |s| s.code),
        OtlpStatus::Unset as i32
    );
    let child = spans
        .iter()
        .find(|s| s.span.name == "create_order" && s.span.parent_span_id == server.span.span_id)
        .unwrap();
    assert_eq!(child.span.trace_id, server.span.trace_id);
    let created = lines_for(logs, "traced-1", "order created");
    assert_eq!(created["trace_id"], trace_id);

    let fresh = by_request_id(&spans, "malformed-1");
    assert_eq!(fresh.span.name, "POST /api/orders");
    assert!(fresh.span.parent_span_id.is_empty());
    assert_ne!(hex(&fresh.span.trace_id), trace_id);

    let get_span = spans_named(&spans, "GET /api/orders/{id}")
        .into_iter()
        .find(|s| attr(&s.span.attributes, "url.path").as_deref() == Some("/api/orders/2"))
        .unwrap();
    assert!(
        !get_span
            .span
            .attributes
            .iter()
            .any(|kv| obs_tests::otlp::value_text(kv.value.as_ref()).contains("verbose")),
        "no query string"
    );
    let unmatched = spans_named(&spans, "GET");
    assert_eq!(
        unmatched.len(),
        2,
        "unmatched requests are named by method alone"
    );
    assert_eq!(
        unmatched
            .iter()
            .filter(|s| attr(&s.span.attributes, "http.route").is_none())
            .count(),
        2
    );
    let brew = spans_named(&spans, "HTTP /api/orders");
    assert_eq!(brew.len(), 1);
    assert_eq!(
        attr(&brew[0].span.attributes, "http.request.method").as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        attr(&brew[0].span.attributes, "http.request.method_original").as_deref(),
        Some("BREW")
    );

    // ---- Outgoing calls carry the current span: reqwest and any `http` header map ------
    let (outgoing_trace, outgoing_span) = {
        let span = tracing::info_span!("outgoing");
        let _entered = span.enter();
        let current = obs_runtime::trace::current().unwrap();
        let mut headers = axum::http::HeaderMap::new();
        obs_runtime::axum::inject_headers(&mut headers);
        assert_eq!(
            headers["traceparent"],
            format!("00-{}-{}-01", current.trace_id, current.span_id)
        );
        let extracted = obs_runtime::axum::extract_headers(&headers).unwrap();
        assert_eq!(extracted.context.trace_id, current.trace_id);
        let request = reqwest::Client::new()
            .get(format!("http://{addr}/api/orders/1"))
            .header("x-request-id", "reqwest-1")
            .traced();
        let status = rt.block_on(async { request.send().await.unwrap().status() });
        assert_eq!(status, 200);
        (current.trace_id.to_string(), current.span_id.to_string())
    };
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = receiver.spans();
    let downstream = by_request_id(&spans, "reqwest-1");
    assert_eq!(hex(&downstream.span.trace_id), outgoing_trace);
    assert_eq!(hex(&downstream.span.parent_span_id), outgoing_span);

    // ---- 5xx and service errors ---------------------------------------------------------
    let failing = serve(
        Router::new()
            .route("/boom", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
            .route(
                "/panic",
                get(|| async {
                    assert!(std::hint::black_box(false), "handler bug");
                    StatusCode::OK
                }),
            )
            .route(
                "/echo-context",
                get(|| async {
                    // What an outgoing call made by this handler would carry.
                    let mut out = Vec::new();
                    obs_runtime::trace::propagation::inject(|k, v| out.push(format!("{k}: {v}")));
                    out.join("\n")
                }),
            )
            .layer(obs_runtime::axum::ObsLayer::new()),
    );
    assert_eq!(
        http_call(
            failing,
            "GET",
            "/boom",
            &[("X-Request-ID", b"boom-1")],
            None
        )
        .status,
        503
    );
    assert_eq!(requests("GET", "/boom", "503"), 1.0);
    // A panicking handler: hyper drops the connection; the request counts as a 500.
    {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(failing).unwrap();
        stream
            .write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\nX-Request-ID: panic-1\r\n\r\n")
            .unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    // The connection may close before the dropped request future is recorded.
    let deadline = Instant::now() + Duration::from_secs(5);
    while requests("GET", "/panic", "500") + requests("GET", "/panic", "499") < 1.0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(requests("GET", "/panic", "500"), 1.0);
    assert_eq!(requests("GET", "/panic", "499"), 0.0);
    assert_eq!(in_progress("GET"), 0.0);
    let echoed = http_call(
        failing,
        "GET",
        "/echo-context",
        &[
            (
                "traceparent",
                format!("00-{trace_id}-{caller}-01").as_bytes(),
            ),
            ("tracestate", b"vendor=v1"),
            ("baggage", b"tenant=acme,plan=gold"),
        ],
        None,
    );
    let lines: Vec<&str> = echoed.body.lines().collect();
    assert_eq!(lines.len(), 3, "{}", echoed.body);
    assert!(
        lines[0].starts_with(&format!("traceparent: 00-{trace_id}-")) && lines[0].ends_with("-01")
    );
    assert!(
        !lines[0].contains(caller),
        "the server span is the new parent"
    );
    assert_eq!(lines[1], "tracestate: vendor=v1");
    assert_eq!(lines[2], "baggage: tenant=acme,plan=gold");
    // Baggage travels without a valid trace context too (a malformed `traceparent`
    // starts a new trace and keeps the baggage).
    let echoed = http_call(
        failing,
        "GET",
        "/echo-context",
        &[
            ("traceparent", "€".repeat(20).as_bytes()),
            ("baggage", b"tenant=solo,bad=%+A"),
        ],
        None,
    );
    let lines: Vec<&str> = echoed.body.lines().collect();
    assert_eq!(lines.len(), 2, "{}", echoed.body);
    assert!(lines[0].starts_with("traceparent: 00-"), "{}", lines[0]);
    assert!(!lines[0].contains(&trace_id.to_string()));
    assert_eq!(lines[1], "baggage: tenant=solo");
    let error_service = tower::ServiceExt::oneshot(
        tower_layer::Layer::layer(
            &obs_runtime::axum::ObsLayer::new(),
            tower::service_fn(|_req: axum::http::Request<axum::body::Body>| async {
                Err::<axum::http::Response<axum::body::Body>, _>(std::io::Error::other(
                    "backend exploded",
                ))
            }),
        ),
        axum::http::Request::builder()
            .method("DELETE")
            .uri("/anything")
            .header("x-request-id", "svc-err-1")
            .body(axum::body::Body::empty())
            .unwrap(),
    );
    let err = rt.block_on(error_service).unwrap_err();
    assert_eq!(err.to_string(), "backend exploded");
    assert_eq!(requests("DELETE", "__unmatched__", "500"), 1.0);
    assert_eq!(in_progress("DELETE"), 0.0);
    assert!(guard.flush(Duration::from_secs(10)));
    let spans = receiver.spans();
    let boom = by_request_id(&spans, "boom-1");
    assert_eq!(boom.span.name, "GET /boom");
    assert_eq!(
        boom.span.status.as_ref().unwrap().code,
        OtlpStatus::Error as i32
    );
    assert_eq!(
        attr(&boom.span.attributes, "error.type").as_deref(),
        Some("503")
    );
    let panicked = by_request_id(&spans, "panic-1");
    assert_eq!(
        panicked.span.status.as_ref().unwrap().code,
        OtlpStatus::Error as i32
    );
    assert_eq!(
        attr(&panicked.span.attributes, "error.type").as_deref(),
        Some("panic")
    );
    assert_eq!(
        attr(&panicked.span.attributes, "http.response.status_code").as_deref(),
        Some("500")
    );
    let failed = by_request_id(&spans, "svc-err-1");
    assert_eq!(
        failed.span.status.as_ref().unwrap().code,
        OtlpStatus::Error as i32
    );
    assert_eq!(
        attr(&failed.span.attributes, "error.type").as_deref(),
        Some("handler_error")
    );
    assert_eq!(failed.span.events.len(), 1);
    assert_eq!(
        attr(&failed.span.events[0].attributes, "exception.message").as_deref(),
        Some("backend exploded")
    );

    // ---- Concurrency with client aborts -------------------------------------------------
    // 30 fast user lookups complete; 10 slow ones (300 ms) are abandoned after 50 ms.
    std::thread::scope(|s| {
        for i in 1..=40u64 {
            s.spawn(move || {
                if i <= 30 {
                    let id = if i.is_multiple_of(7) { i + 1 } else { i };
                    assert_eq!(
                        http_call(addr, "GET", &format!("/api/users/{id}"), &[], None).status,
                        200
                    );
                } else {
                    use std::io::Write as _;
                    let mut stream = std::net::TcpStream::connect(addr).unwrap();
                    let id = 7 * i;
                    stream
                        .write_all(
                            format!("GET /api/users/{id} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
                        )
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                    drop(stream);
                }
            });
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while requests("GET", "/api/users/{id}", "499") < 10.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(requests("GET", "/api/users/{id}", "200"), 30.0);
    assert_eq!(requests("GET", "/api/users/{id}", "499"), 10.0);
    assert_eq!(
        global_sample(
            "http_request_duration_seconds_count",
            &[("method", "GET"), ("endpoint", "/api/users/{id}")]
        ),
        Some(40.0)
    );
    assert_eq!(in_progress("GET"), 0.0);
}

fn lines_for(logs: &MemoryLog, request_id: &str, message: &str) -> Value {
    log_lines(logs)
        .into_iter()
        .find(|l| l["request_id"] == request_id && l["message"] == message)
        .unwrap_or_else(|| panic!("a log line {message:?} for {request_id}"))
}

/// A tower service whose `call` itself panics (before any future exists).
#[derive(Clone, Debug)]
struct PanicsInCall;

impl tower::Service<axum::http::Request<axum::body::Body>> for PanicsInCall {
    type Response = axum::http::Response<axum::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: axum::http::Request<axum::body::Body>) -> Self::Future {
        panic!("call panicked");
    }
}

#[test]
fn in_progress_returns_to_zero_when_call_panics() {
    let before = in_progress("PUT");
    let mut service = tower_layer::Layer::layer(&obs_runtime::axum::ObsLayer::new(), PanicsInCall);
    let request = axum::http::Request::builder()
        .method("PUT")
        .uri("/panics-in-call")
        .body(axum::body::Body::empty())
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tower::Service::call(&mut service, request)
    }));
    assert!(result.is_err());
    assert_eq!(in_progress("PUT"), before);
}
