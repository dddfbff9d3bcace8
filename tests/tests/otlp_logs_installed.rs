//! No feedback loop: installed as the global subscriber with every target at `trace` (h2
//! and tonic log their own work at debug and trace, on the exporter's thread, where only
//! the global subscriber sees it), exporting over gRPC and HTTP to collectors that fail,
//! then recover. The only records exported are the application's own, and the lines
//! about the failures reach the log output. One test: it installs the global subscriber.

use std::time::{Duration, Instant};

use obs_runtime::log::{LogFormat, LogWriter};
use obs_runtime::trace::Protocol;
use obs_tests::otlp::Receiver;

#[test]
fn the_exporters_own_events_never_become_records() {
    let grpc = Receiver::grpc();
    grpc.fail_with(503);
    let (writer, lines) = LogWriter::memory();
    let guard = obs_runtime::init()
        .env([
            ("OTEL_BLRP_SCHEDULE_DELAY", "20"),
            ("OTEL_BSP_SCHEDULE_DELAY", "20"),
        ])
        .service_name("feedback")
        .otlp_endpoint(grpc.endpoint())
        .otlp_protocol(Protocol::Grpc)
        .otlp_timeout(Duration::from_secs(2))
        .metrics_addr(None)
        .log_filter("trace")
        .log_format(LogFormat::Json)
        .log_writer(writer)
        .install()
        .expect("install");
    let emit = || {
        for i in 0..5 {
            tracing::info!(i, "application event");
        }
    };
    emit();
    let pipeline = guard.log_pipeline().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pipeline.stats().export_errors == 0 {
        assert!(Instant::now() < deadline, "{:?}", pipeline.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    grpc.fail_with(0);
    emit();
    assert!(guard.flush(Duration::from_secs(5)));
    // A few more rounds: had the exporter's events been records, each export would make
    // more of them.
    for _ in 0..3 {
        assert!(guard.flush(Duration::from_secs(5)));
    }
    let stats = pipeline.stats();
    let logs = grpc.logs();
    let scopes: Vec<(&str, String)> = logs.iter().map(|r| (r.scope.as_str(), r.body())).collect();
    assert!(
        logs.iter()
            .all(|r| r.scope == "otlp_logs_installed" && r.body() == "application event"),
        "{scopes:#?}"
    );
    assert_eq!(logs.len() as u64, stats.exported);
    assert_eq!(
        stats.exported + stats.export_failed + stats.queue_full,
        10,
        "{stats:?}"
    );
    assert!(stats.exported >= 5, "{stats:?}");
    // The exporter's own events did reach the log output (the filter lets them through),
    // and the failure was said there.
    let all = lines.lines();
    assert!(
        all.iter().any(|l| l.contains(r#""target":"h2"#)),
        "h2 logged nothing, so this test proves nothing: {all:?}"
    );
    assert!(
        all.iter()
            .any(|l| l.contains(r#""target":"obs::export""#)
                && l.contains("OTLP logs export failed")),
        "{all:?}"
    );
    drop(guard);
}
