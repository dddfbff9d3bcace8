//! Queries through an `ObservedPool` on SQLite (sqlx, in process): every operation a
//! CLIENT span under the caller's span with the OpenTelemetry database conventions, exact
//! operation histograms, pool saturation and acquire timeouts counted, transactions that
//! roll back, a slow-query line carrying the trace id, and no bound value anywhere.

use std::time::Duration;

use obs_runtime::db::ObservedPool;
use obs_runtime::log::{LogFormat, LogWriter, MemoryLog};
use obs_runtime::trace::{InMemoryExporter, PipelineConfig, Sampler, SpanKind, SpanRecord, Status};
use obs_tests::global_sample;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

/// Telemetry of its own (not installed), every span kept, lines in memory.
fn telemetry() -> (obs_runtime::init::Telemetry, InMemoryExporter, MemoryLog) {
    let exporter = InMemoryExporter::default();
    let (writer, lines) = LogWriter::memory();
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .sampler(Sampler::AlwaysOn)
        .exporter(exporter.clone())
        .batch(PipelineConfig {
            delay: Duration::from_millis(20),
            ..PipelineConfig::default()
        })
        .metrics_addr(None)
        .log_format(LogFormat::Json)
        .log_writer(writer)
        .build()
        .unwrap();
    (telemetry, exporter, lines)
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file database in a directory of its own, with at most `max` connections.
async fn pool(name: &str, max: u32) -> (sqlx::SqlitePool, TempDir) {
    let dir = std::env::temp_dir().join(format!("obs-db-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.join("test.db"))
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_millis(300))
        .connect_with(options)
        .await
        .unwrap();
    (pool, TempDir(dir))
}

/// The database spans, once `n` of them were exported: a span ends when its last handle
/// goes, and sqlx's SQLite worker thread holds one (the current span of the command it
/// runs) until it is done with the command, after the caller's future completed.
fn db_spans(
    t: &obs_runtime::init::Telemetry,
    exporter: &InMemoryExporter,
    n: usize,
) -> Vec<SpanRecord> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(t.guard.flush(Duration::from_secs(5)));
        let mut spans: Vec<SpanRecord> = exporter
            .spans()
            .into_iter()
            .filter(|s| s.target == "obs::db")
            .collect();
        if spans.len() >= n || std::time::Instant::now() >= deadline {
            spans.sort_by_key(|s| s.start_unix_nanos);
            return spans;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn text(span: &SpanRecord, key: &str) -> Option<String> {
    span.attribute(key).map(ToString::to_string)
}

fn operations(table: &str, operation: &str, status: &str) -> Option<f64> {
    global_sample(
        "db_client_operation_duration_seconds_count",
        &[
            ("db_system", "sqlite"),
            ("operation", operation),
            ("collection", table),
            ("status", status),
        ],
    )
}

#[test]
fn every_operation_is_a_client_span_under_its_caller() {
    let (t, exporter, _lines) = telemetry();
    let rt = runtime();
    let (root_id, failure) = tracing::dispatcher::with_default(&t.dispatch, || {
        rt.block_on(async {
            let (pool, _dir) = pool("spans", 2).await;
            let db = ObservedPool::new(pool).name("spans");
            let root = tracing::info_span!("handler");
            let _entered = root.enter();
            sqlx::query(
                "CREATE TABLE spans_orders (id INTEGER PRIMARY KEY, note TEXT NOT NULL UNIQUE)",
            )
            .execute(&db)
            .await
            .unwrap();
            let mut tx = db.begin().await.unwrap();
            for note in ["secret-value-123", "second"] {
                sqlx::query("INSERT INTO spans_orders (note) VALUES ($1)")
                    .bind(note)
                    .execute(&mut tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
            let rows: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, note FROM spans_orders ORDER BY id")
                    .fetch_all(&db)
                    .await
                    .unwrap();
            assert_eq!(rows.len(), 2);
            let (n,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM spans_orders WHERE note = 'second'")
                    .fetch_one(&db)
                    .await
                    .unwrap();
            assert_eq!(n, 1);
            let failure = sqlx::query("INSERT INTO spans_orders (note) VALUES ($1)")
                .bind("second")
                .execute(&db)
                .await
                .unwrap_err();
            let id = obs_runtime::trace::current().unwrap().span_id;
            (id, failure)
        })
    });
    assert!(failure.to_string().contains("UNIQUE"), "{failure}");
    let spans = db_spans(&t, &exporter, 8);
    let db_spans: Vec<&SpanRecord> = spans.iter().collect();
    let names: Vec<&str> = db_spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "CREATE spans_orders",
            "BEGIN",
            "INSERT spans_orders",
            "INSERT spans_orders",
            "COMMIT",
            "SELECT spans_orders",
            "SELECT spans_orders",
            "INSERT spans_orders",
        ]
    );
    for span in &db_spans {
        assert_eq!(span.kind, SpanKind::Client, "{}", span.name);
        assert_eq!(span.parent_span_id, Some(root_id), "{}", span.name);
        assert_eq!(text(span, "db.system.name").as_deref(), Some("sqlite"));
        assert!(
            span.attribute("db.query.text").is_none(),
            "text only when asked for"
        );
        assert!(
            span.attribute("server.address").is_none(),
            "SQLite has no server"
        );
        for (key, value) in &span.attributes {
            assert!(
                !value.to_string().contains("secret-value-123"),
                "{key} = {value}"
            );
        }
    }
    let insert = db_spans[2];
    assert_eq!(text(insert, "db.operation.name").as_deref(), Some("INSERT"));
    assert_eq!(
        text(insert, "db.collection.name").as_deref(),
        Some("spans_orders")
    );
    assert_eq!(
        text(insert, "db.query.summary").as_deref(),
        Some("INSERT spans_orders")
    );
    assert!(matches!(insert.status, Status::Unset | Status::Ok));
    let failed = db_spans[7];
    assert!(
        matches!(failed.status, Status::Error { .. }),
        "{:?}",
        failed.status
    );
    assert_eq!(text(failed, "error.type").as_deref(), Some("database"));
    // SQLite's extended code of a UNIQUE constraint violation.
    assert_eq!(
        text(failed, "db.response.status_code").as_deref(),
        Some("2067")
    );
    assert!(db_spans[1].attribute("db.collection.name").is_none());

    // The histogram counted each operation once, by outcome.
    assert_eq!(operations("spans_orders", "INSERT", "ok"), Some(2.0));
    assert_eq!(operations("spans_orders", "INSERT", "error"), Some(1.0));
    assert_eq!(operations("spans_orders", "SELECT", "ok"), Some(2.0));
    assert_eq!(operations("spans_orders", "CREATE", "ok"), Some(1.0));
    // BEGIN and COMMIT name no collection (other tests add theirs to the same series).
    assert!(operations("", "BEGIN", "ok").unwrap_or(0.0) >= 1.0);
}

#[test]
fn the_query_text_only_on_request_with_literals_masked() {
    let (t, exporter, _lines) = telemetry();
    let rt = runtime();
    tracing::dispatcher::with_default(&t.dispatch, || {
        rt.block_on(async {
            let (pool, _dir) = pool("text", 1).await;
            let db = ObservedPool::new(pool).query_text(true);
            sqlx::query("SELECT 'hunter2' AS p, 42 AS n, $1 AS bound")
                .bind("bound-secret")
                .fetch_all(&db)
                .await
                .unwrap();
        });
    });
    let spans = db_spans(&t, &exporter, 1);
    let select = &spans[0];
    assert_eq!(
        text(select, "db.query.text").as_deref(),
        Some("SELECT ? AS p, ? AS n, $1 AS bound")
    );
}

#[test]
fn pool_saturation_is_read_at_scrape_time_and_timeouts_counted() {
    let (t, exporter, _lines) = telemetry();
    let rt = runtime();
    let gauge = |name: &str, labels: &[(&str, &str)]| global_sample(name, labels);
    tracing::dispatcher::with_default(&t.dispatch, || {
        rt.block_on(async {
            let (pool, _dir) = pool("saturation", 2).await;
            let db = ObservedPool::new(pool).name("saturation");
            let used = |n: f64| {
                assert_eq!(
                    gauge(
                        "db_client_connection_usage",
                        &[("pool_name", "saturation"), ("state", "used")]
                    ),
                    Some(n)
                );
            };
            assert_eq!(
                gauge("db_client_connection_max", &[("pool_name", "saturation")]),
                Some(2.0)
            );
            let a = db.acquire().await.unwrap();
            let b = db.acquire().await.unwrap();
            used(2.0);
            // A third caller waits for the acquire timeout, and fails cleanly.
            let error = sqlx::query("SELECT 1").fetch_all(&db).await.unwrap_err();
            assert!(matches!(error, sqlx::Error::PoolTimedOut), "{error}");
            assert_eq!(
                gauge(
                    "db_client_connection_timeouts_total",
                    &[("pool_name", "saturation")]
                ),
                Some(1.0)
            );
            assert_eq!(
                gauge(
                    "db_client_connection_pending_requests",
                    &[("pool_name", "saturation")]
                ),
                Some(0.0)
            );
            drop((a, b));
            // Back to idle once returned (sqlx returns connections on a task of its own).
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while gauge(
                "db_client_connection_usage",
                &[("pool_name", "saturation"), ("state", "used")],
            ) != Some(0.0)
            {
                assert!(std::time::Instant::now() < deadline, "never idle again");
                tokio::task::yield_now().await;
            }
            used(0.0);
            assert_eq!(
                gauge(
                    "db_client_connection_wait_time_seconds_count",
                    &[("pool_name", "saturation")]
                ),
                Some(3.0)
            );
            // The database families pass the real parsers of both formats.
            let registry = obs_runtime::Registry::global();
            let text_format = registry.encode(obs_runtime::metrics::Format::Prometheus);
            assert!(
                text_format.contains(
                    "db_client_connection_wait_time_seconds_bucket{pool_name=\"saturation\""
                ),
                "{text_format}"
            );
            obs_tests::promtool_check(&text_format);
            let families = obs_tests::python_parse(
                "openmetrics",
                &registry.encode(obs_runtime::metrics::Format::OpenMetrics),
            );
            assert!(
                families
                    .iter()
                    .any(|f| f.name == "db_client_connection_wait_time_seconds")
            );
        });
    });
    let timed_out = db_spans(&t, &exporter, 1).remove(0);
    assert_eq!(
        text(&timed_out, "error.type").as_deref(),
        Some("pool_timeout")
    );
}

#[test]
fn two_live_pools_never_share_a_name() {
    let rt = runtime();
    rt.block_on(async {
        let (a, _dir_a) = pool("twins-a", 1).await;
        let (b, _dir_b) = pool("twins-b", 1).await;
        let first = ObservedPool::new(a).name("twins");
        let second = ObservedPool::new(b).name("twins");
        let max = |name: &str| global_sample("db_client_connection_max", &[("pool_name", name)]);
        assert_eq!(max("twins"), Some(1.0));
        assert_eq!(max("twins-2"), Some(1.0));
        drop(first);
        assert_eq!(max("twins"), None, "a dropped pool leaves the scrape");
        let third = ObservedPool::new(second.pool().clone()).name("twins");
        assert_eq!(max("twins"), Some(1.0), "a free name is taken again");
        drop((second, third));
    });
}

#[test]
fn a_transaction_rolled_back_leaves_nothing() {
    let (t, exporter, _lines) = telemetry();
    let rt = runtime();
    tracing::dispatcher::with_default(&t.dispatch, || {
        rt.block_on(async {
            let (pool, _dir) = pool("rollback", 1).await;
            let db = ObservedPool::new(pool);
            sqlx::query("CREATE TABLE rollback_items (sku TEXT)")
                .execute(&db)
                .await
                .unwrap();
            let mut tx = db.begin().await.unwrap();
            sqlx::query("INSERT INTO rollback_items VALUES ('A1')")
                .execute(&mut tx)
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM rollback_items")
                .fetch_one(&db)
                .await
                .unwrap();
            assert_eq!(n, 0);
        });
    });
    let names: Vec<String> = db_spans(&t, &exporter, 5)
        .into_iter()
        .map(|s| s.name.into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "CREATE rollback_items",
            "BEGIN",
            "INSERT rollback_items",
            "ROLLBACK",
            "SELECT rollback_items"
        ]
    );
}

#[test]
fn a_slow_query_is_said_with_its_trace() {
    let (t, exporter, lines) = telemetry();
    let rt = runtime();
    tracing::dispatcher::with_default(&t.dispatch, || {
        rt.block_on(async {
            let (pool, _dir) = pool("slow", 1).await;
            // Every operation is slow at a threshold of zero.
            let db = ObservedPool::new(pool).slow_query(Some(Duration::ZERO));
            sqlx::query("SELECT 1").fetch_all(&db).await.unwrap();
            assert!(db.ping(Duration::from_secs(5)).await.is_ok());
            db.pool().close().await;
            let down = db.ping(Duration::from_secs(5)).await.unwrap_err();
            assert!(down.contains("closed"), "{down}");
        });
    });
    let span = db_spans(&t, &exporter, 1).remove(0);
    let slow: Vec<serde_json::Value> = lines
        .lines()
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["target"] == "obs::db")
        .collect();
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0]["level"], "WARN");
    assert!(
        slow[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("slow query: SELECT took "),
        "{}",
        slow[0]
    );
    assert_eq!(slow[0]["trace_id"], span.trace_id.to_string());
    assert_eq!(slow[0]["span_id"], span.span_id.to_string());
}
