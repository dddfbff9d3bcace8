//! One secret, sent through every path a secret takes in a service, reaches none of the
//! places obs writes to: the log output, the exported spans (what the OTLP exporter
//! encodes), the exposition, error messages.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use obs_runtime::log::{LogFormat, LogWriter};
use obs_runtime::trace::{InMemoryExporter, PipelineConfig, Sampler};
use obs_runtime::{observe, tracing};
use tower::ServiceExt as _;

const SECRET: &str = "hunter2-S3CR3T";

#[observe(fields(user_password = unredacted(%password), account = %account))]
fn login(account: &str, password: &str) -> bool {
    tracing::info!(accessToken = password, "login attempt");
    !password.is_empty()
}

#[test]
fn a_secret_reaches_no_output() {
    let (writer, log) = LogWriter::memory();
    let exporter = InMemoryExporter::default();
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .exporter(exporter.clone())
        .sampler(Sampler::AlwaysOn)
        .batch(PipelineConfig {
            delay: Duration::from_millis(10),
            ..PipelineConfig::default()
        })
        .metrics_addr(None)
        .log_format(LogFormat::Json)
        .log_filter("info")
        .log_writer(writer)
        .build()
        .unwrap();
    let dsn = format!("postgres://app:{SECRET}@db:5432/orders");
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        // `#[observe]` fields, marked `unredacted` or not, and an event inside.
        assert!(login("ada", SECRET));
        // `tracing` fields on spans and events, in every spelling.
        let span = tracing::info_span!(
            "work",
            password = SECRET,
            clientSecret = SECRET,
            connection = %dsn,
            headers = ?vec![("authorization", format!("Bearer {SECRET}"))],
        );
        let _entered = span.enter();
        // Bound fields.
        obs_runtime::log::bind(&span, "session_id", SECRET);
        obs_runtime::log::bind(&span, "upstream", &dsn);
        tracing::info!(
            tokens = SECRET,
            cookies = SECRET,
            credential = SECRET,
            privatekey = SECRET,
            access_key = SECRET,
            dsn = %dsn,
            "connecting to {dsn}"
        );
        tracing::warn!(request = ?[("Authorization", format!("Bearer {SECRET}"))], "denied");
        // HTTP headers, query string and baggage through the axum layer.
        let app = axum::Router::new()
            .route("/orders", axum::routing::get(|| async { "ok" }))
            .layer(obs_runtime::axum::ObsLayer::new());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let response = runtime.block_on(
            app.oneshot(
                Request::get(format!("/orders?token={SECRET}"))
                    .header("authorization", format!("Bearer {SECRET}"))
                    .header("cookie", format!("session={SECRET}"))
                    .header("baggage", format!("token={SECRET}"))
                    .header("user-agent", format!("curl password={SECRET}"))
                    .body(Body::empty())
                    .unwrap(),
            ),
        );
        assert_eq!(response.unwrap().status(), 200);
    });
    let pipeline = telemetry.guard.pipeline().unwrap().clone();
    drop(telemetry.guard);
    assert!(pipeline.stats().exported >= 3, "{:?}", pipeline.stats());

    let logs = log.lines().join("\n");
    assert!(logs.contains("login attempt") && logs.contains("connecting to"));
    assert!(!logs.contains(SECRET), "{logs}");
    let spans = format!("{:?}", exporter.spans());
    assert!(spans.contains("\"work\"") && spans.contains("GET /orders"));
    assert!(!spans.contains(SECRET), "{spans}");
    let exposition = obs_runtime::Registry::global().render(None).body;
    assert!(!exposition.contains(SECRET));
    // Init variables: errors never echo them.
    let error = obs_runtime::init()
        .env([(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("authorization=Bearer {SECRET},broken"),
        )])
        .metrics_addr(None)
        .build()
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(!error.contains(SECRET), "{error}");
}
