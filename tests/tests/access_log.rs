//! The access log of the axum layer: one JSON line per request when it completes, field by
//! field, at the level its outcome calls for, switchable off; and stdout that stays one
//! JSON object per line. One test: it installs the process-global subscriber.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use obs_runtime::axum::{AccessLog, MAX_ACCESS_FIELD_LEN, ObsLayer, PanicLayer};
use obs_runtime::tracing::Level;
use obs_tests::http_call;
use serde_json::Value;

/// A handler with a bug, whose message names a secret.
async fn panics() -> &'static str {
    panic!("bug at db=postgres://app:hunter2@db/prod")
}

fn router(layer: ObsLayer) -> Router {
    Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .route(
            "/broken",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/panic", get(panics))
        .layer(PanicLayer::new())
        .layer(layer)
}

/// The access log lines so far, by request id.
fn access_lines(installed: &obs_tests::Installed) -> Vec<Value> {
    installed
        .logs
        .lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["target"] == "obs::access")
        .collect()
}

fn line_for<'a>(lines: &'a [Value], request_id: &str) -> Option<&'a Value> {
    lines.iter().find(|l| l["request_id"] == request_id)
}

fn wait_for_line(installed: &obs_tests::Installed, request_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = line_for(&access_lines(installed), request_id) {
            return line.clone();
        }
        assert!(Instant::now() < deadline, "no access line for {request_id}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get_with_id(addr: SocketAddr, path: &str, id: &str, agent: &str) -> u16 {
    http_call(
        addr,
        "GET",
        path,
        &[
            ("x-request-id", id.as_bytes()),
            ("user-agent", agent.as_bytes()),
        ],
        None,
    )
    .status
}

#[test]
fn one_line_per_request_field_by_field() {
    let installed = obs_tests::Installed::new("access-log");
    let addr = installed.serve(router(ObsLayer::new()));
    let off = installed.serve(router(ObsLayer::new().access_log(AccessLog::OFF)));
    let quiet = installed.serve(router(ObsLayer::new().access_log(AccessLog::levels(
        Level::DEBUG,
        Level::INFO,
        Level::WARN,
    ))));

    // Served with connect info, the client's address is in the line.
    let listener = installed
        .rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let connected = listener.local_addr().unwrap();
    installed.rt.spawn(async move {
        axum::serve(
            listener,
            router(ObsLayer::new()).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    assert_eq!(get_with_id(connected, "/items/7", "req-client-1", "x"), 200);
    let client = wait_for_line(&installed, "req-client-1");
    // The connection's IP and port, apart, as the semantic conventions name them.
    assert_eq!(client["fields"]["client.address"], "127.0.0.1", "{client}");
    let port = client["fields"]["client.port"].as_u64().unwrap();
    assert!(port > 0 && port != u64::from(connected.port()), "{client}");

    // A success: info, every field, the path without its query.
    assert_eq!(
        get_with_id(addr, "/items/42?token=secret&x=1", "req-ok-1", "curl/8.5"),
        200
    );
    let ok = wait_for_line(&installed, "req-ok-1");
    assert_eq!(ok["level"], "INFO", "{ok}");
    assert_eq!(ok["message"], "request completed");
    assert_eq!(ok["fields"]["http.request.method"], "GET", "{ok}");
    assert_eq!(ok["fields"]["http.route"], "/items/{id}");
    assert_eq!(ok["fields"]["url.path"], "/items/42");
    assert_eq!(ok["fields"]["http.response.status_code"], 200);
    assert_eq!(ok["fields"]["user_agent.original"], "curl/8.5");
    assert_eq!(ok["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(ok["span_id"].as_str().unwrap().len(), 16);
    let ms = ok["fields"]["duration_ms"].as_f64().unwrap();
    assert!(ms > 0.0 && ms < 5_000.0, "{ms}");
    assert!(!ok.to_string().contains("secret"), "{ok}");
    // Served by `axum::serve` without connect info: no client address to report.
    assert!(ok["fields"].get("client.address").is_none(), "{ok}");

    // Not found: warn, no route; a long user agent is capped.
    let agent = "a".repeat(1_000);
    assert_eq!(get_with_id(addr, "/nowhere", "req-404-1", &agent), 404);
    let missing = wait_for_line(&installed, "req-404-1");
    assert_eq!(missing["level"], "WARN", "{missing}");
    assert_eq!(missing["fields"]["http.response.status_code"], 404);
    assert!(missing["fields"].get("http.route").is_none(), "{missing}");
    assert_eq!(missing["fields"]["url.path"], "/nowhere");
    let capped = missing["fields"]["user_agent.original"].as_str().unwrap();
    assert!(
        capped.len() <= MAX_ACCESS_FIELD_LEN && capped.ends_with('…'),
        "{capped}"
    );

    // A server error: error.
    assert_eq!(get_with_id(addr, "/broken", "req-503-1", "curl/8.5"), 503);
    let broken = wait_for_line(&installed, "req-503-1");
    assert_eq!(broken["level"], "ERROR", "{broken}");
    assert_eq!(broken["fields"]["http.response.status_code"], 503);

    // A client that goes away first: 499, warn.
    {
        use std::io::Write as _;
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\nX-Request-ID: req-gone-1\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let gone = wait_for_line(&installed, "req-gone-1");
    assert_eq!(gone["level"], "WARN", "{gone}");
    assert_eq!(gone["fields"]["http.response.status_code"], 499);
    assert_eq!(gone["fields"]["http.route"], "/slow");

    // Custom levels, and off.
    assert_eq!(get_with_id(quiet, "/broken", "req-quiet-1", "x"), 503);
    assert_eq!(wait_for_line(&installed, "req-quiet-1")["level"], "WARN");
    assert_eq!(get_with_id(off, "/items/1", "req-off-1", "x"), 200);
    assert_eq!(get_with_id(addr, "/items/2", "req-after-off", "x"), 200);
    wait_for_line(&installed, "req-after-off");
    assert!(line_for(&access_lines(&installed), "req-off-1").is_none());

    // Scrapes and probes answered by obs's own handlers: their successes at debug (not in
    // this info log), their failures at the levels of any request.
    let health = obs_runtime::axum::Health::new();
    health.register("db", Duration::from_secs(1), || async {
        Err("connection refused".to_owned())
    });
    let probed = installed.serve(
        Router::new()
            .route(
                "/metrics",
                get(obs_runtime::axum::metrics_handler(Some("t0k".to_owned()))),
            )
            .merge(health.router())
            .layer(ObsLayer::new()),
    );
    let scrape = |id: &str, token: &[u8]| {
        http_call(
            probed,
            "GET",
            "/metrics",
            &[("x-request-id", id.as_bytes()), ("authorization", token)],
            None,
        )
        .status
    };
    assert_eq!(scrape("req-scrape-ok", b"Bearer t0k"), 200);
    assert_eq!(scrape("req-scrape-401", b"Bearer nope"), 401);
    assert_eq!(
        get_with_id(probed, "/health/live", "req-live", "kube-probe/1.30"),
        200
    );
    assert_eq!(
        get_with_id(probed, "/health/ready", "req-ready", "kube-probe/1.30"),
        503
    );
    assert_eq!(wait_for_line(&installed, "req-scrape-401")["level"], "WARN");
    assert_eq!(wait_for_line(&installed, "req-ready")["level"], "ERROR");
    let lines = access_lines(&installed);
    assert!(line_for(&lines, "req-scrape-ok").is_none(), "{lines:#?}");
    assert!(line_for(&lines, "req-live").is_none(), "{lines:#?}");

    // A handler panic is answered with a JSON 500 carrying the request id, counted as a
    // 500 of error type `panic`, and the server keeps serving.
    let before = obs_tests::global_sample(
        "http_requests_total",
        &[
            ("method", "GET"),
            ("endpoint", "/panic"),
            ("status_code", "500"),
        ],
    )
    .unwrap_or(0.0);
    let r = http_call(
        addr,
        "GET",
        "/panic",
        &[("x-request-id", b"req-panic-1")],
        None,
    );
    assert_eq!(r.status, 500);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "internal server error", "request_id": "req-panic-1"})
    );
    assert!(!r.body.contains("hunter2"));
    assert_eq!(wait_for_line(&installed, "req-panic-1")["level"], "ERROR");
    assert_eq!(
        obs_tests::global_sample(
            "http_requests_total",
            &[
                ("method", "GET"),
                ("endpoint", "/panic"),
                ("status_code", "500")
            ],
        ),
        Some(before + 1.0)
    );
    assert_eq!(get_with_id(addr, "/items/3", "req-after-panic", "x"), 200);

    // Exactly one line per request id.
    let lines = access_lines(&installed);
    for id in [
        "req-ok-1",
        "req-404-1",
        "req-503-1",
        "req-gone-1",
        "req-quiet-1",
    ] {
        assert_eq!(
            lines.iter().filter(|l| l["request_id"] == id).count(),
            1,
            "{id}"
        );
    }
    // The server spans carry no access log event: their attributes are already there. The
    // panicking request's span has error type `panic` and the scrubbed message.
    installed.guard.flush(Duration::from_secs(5));
    let spans = installed.receiver.wait_for(1, Duration::from_secs(5));
    let panicked = obs_tests::otlp::by_request_id(&spans, "req-panic-1");
    assert_eq!(
        obs_tests::otlp::attr(&panicked.span.attributes, "error.type").as_deref(),
        Some("panic")
    );
    let event = panicked
        .span
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("exception event");
    let message = event
        .attributes
        .iter()
        .find(|a| a.key == "exception.message")
        .map(|a| format!("{:?}", a.value))
        .unwrap();
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        spans
            .iter()
            .flat_map(|s| &s.span.events)
            .all(|e| e.name != "request completed")
    );
}
