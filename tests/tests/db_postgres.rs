//! Queries through an `ObservedPool` on a real PostgreSQL (Debian package `postgresql`,
//! started by the test on 127.0.0.1 in a temporary directory): spans with the server's
//! address and port and PostgreSQL's SQLSTATE on failure, exact histogram counts, pool
//! gauges that move under concurrent load and return to idle, and a readiness ping that
//! goes unready when the server stops and ready again when it is back.

use std::time::Duration;

use obs_runtime::db::ObservedPool;
use obs_runtime::trace::{InMemoryExporter, PipelineConfig, Sampler, SpanRecord};
use obs_tests::global_sample;
use obs_tests::postgres::Postgres;
use sqlx::postgres::PgPoolOptions;

fn telemetry() -> (obs_runtime::init::Telemetry, InMemoryExporter) {
    let exporter = InMemoryExporter::default();
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .sampler(Sampler::AlwaysOn)
        .exporter(exporter.clone())
        .batch(PipelineConfig {
            delay: Duration::from_millis(20),
            ..PipelineConfig::default()
        })
        .metrics_addr(None)
        .logs(false)
        .build()
        .unwrap();
    (telemetry, exporter)
}

fn text(span: &SpanRecord, key: &str) -> Option<String> {
    span.attribute(key).map(ToString::to_string)
}

#[test]
fn queries_on_postgresql_are_observed_and_readiness_follows_the_server() {
    let mut server = Postgres::start();
    let url = server.url();
    let (t, exporter) = telemetry();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let pool = rt
        .block_on(
            PgPoolOptions::new()
                .max_connections(3)
                .acquire_timeout(Duration::from_secs(2))
                .connect(&url),
        )
        .unwrap();
    let db = ObservedPool::new(pool).name("pg").url(&url);
    let failure = tracing::dispatcher::with_default(&t.dispatch, || {
        rt.block_on(async {
            sqlx::query("CREATE TABLE pg_orders (id BIGSERIAL PRIMARY KEY, total DOUBLE PRECISION NOT NULL CHECK (total > 0))")
                .execute(&db)
                .await
                .unwrap();
            // Six inserts from six tasks over three connections: the pool saturates.
            let mut tasks = Vec::new();
            for n in 1..=6 {
                let db = db.clone();
                // The task runs on the runtime's workers: it carries this subscriber along.
                tasks.push(tokio::spawn(tracing::instrument::WithSubscriber::with_current_subscriber(async move {
                    sqlx::query("INSERT INTO pg_orders (total) VALUES ($1)")
                        .bind(f64::from(n))
                        .execute(&db)
                        .await
                        .unwrap();
                    // Hold the connection a while: others wait for it.
                    sqlx::query("SELECT pg_sleep(0.05)").execute(&db).await.unwrap();
                })));
            }
            // Watched from a scrape's point of view while they run: all three connections
            // in use, callers waiting for one.
            let (mut most_used, mut most_pending) = (0.0_f64, 0.0_f64);
            while tasks.iter().any(|t| !t.is_finished()) {
                let sample = |name: &str, labels: &[(&str, &str)]| {
                    global_sample(name, labels).unwrap_or(0.0)
                };
                most_used = most_used.max(sample(
                    "db_client_connection_usage",
                    &[("pool_name", "pg"), ("state", "used")],
                ));
                most_pending = most_pending.max(sample(
                    "db_client_connection_pending_requests",
                    &[("pool_name", "pg")],
                ));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            assert_eq!(most_used, 3.0);
            assert!(most_pending >= 1.0, "{most_pending}");
            for task in tasks {
                task.await.unwrap();
            }
            sqlx::query("INSERT INTO pg_orders (total) VALUES ($1)")
                .bind(-1.0)
                .execute(&db)
                .await
                .unwrap_err()
        })
    });
    assert!(
        failure.to_string().contains("check constraint"),
        "{failure}"
    );
    let insert = |status: &str| {
        global_sample(
            "db_client_operation_duration_seconds_count",
            &[
                ("db_system", "postgresql"),
                ("operation", "INSERT"),
                ("collection", "pg_orders"),
                ("status", status),
            ],
        )
    };
    assert_eq!(insert("ok"), Some(6.0));
    assert_eq!(insert("error"), Some(1.0));
    // Every acquire was measured: the create, 12 from the tasks, the failed insert.
    assert_eq!(
        global_sample(
            "db_client_connection_wait_time_seconds_count",
            &[("pool_name", "pg")]
        ),
        Some(14.0)
    );
    // Back to idle, nobody waiting.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while global_sample(
        "db_client_connection_usage",
        &[("pool_name", "pg"), ("state", "used")],
    ) != Some(0.0)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "connections never idle"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        global_sample(
            "db_client_connection_pending_requests",
            &[("pool_name", "pg")]
        ),
        Some(0.0)
    );
    assert_eq!(
        global_sample("db_client_connection_max", &[("pool_name", "pg")]),
        Some(3.0)
    );

    assert!(t.guard.flush(Duration::from_secs(5)));
    let spans: Vec<SpanRecord> = exporter
        .spans()
        .into_iter()
        .filter(|s| s.target == "obs::db")
        .collect();
    assert_eq!(
        spans.len(),
        1 + 12 + 1,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for span in &spans {
        assert_eq!(text(span, "db.system.name").as_deref(), Some("postgresql"));
        assert_eq!(text(span, "server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(text(span, "server.port"), Some(server.port().to_string()));
    }
    let failed = spans
        .iter()
        .find(|s| text(s, "error.type").is_some())
        .unwrap();
    assert_eq!(failed.name, "INSERT pg_orders");
    // PostgreSQL's SQLSTATE of a check constraint violation.
    assert_eq!(
        text(failed, "db.response.status_code").as_deref(),
        Some("23514")
    );

    // Readiness follows the server.
    rt.block_on(async {
        assert_eq!(db.ping(Duration::from_secs(5)).await, Ok(()));
    });
    server.stop();
    let down = rt.block_on(db.ping(Duration::from_secs(5)));
    assert!(down.is_err(), "ready with the server stopped");
    assert!(
        !down.unwrap_err().contains("obs@"),
        "no credentials in the reason"
    );
    server.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match rt.block_on(db.ping(Duration::from_secs(5))) {
            Ok(()) => break,
            Err(e) => assert!(
                std::time::Instant::now() < deadline,
                "never ready again: {e}"
            ),
        }
    }
}
