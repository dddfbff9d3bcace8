//! sqlx's compile-time checked macros (`query!`, `query_as!`, `query_scalar!`) run on an
//! `ObservedPool` and on its transactions as on a bare pool, and are observed like any
//! other query. The macros check the statements against the schema below when this file
//! compiles: from the query data in `tests/.sqlx/` (made by building once with
//! `DATABASE_URL` naming a SQLite database with this schema and `SQLX_OFFLINE_DIR` set to
//! `tests/.sqlx`); `tests/.env` keeps the build offline even when `DATABASE_URL` is set.

use std::time::Duration;

use obs_runtime::db::ObservedPool;
use obs_runtime::trace::{InMemoryExporter, PipelineConfig, Sampler, SpanKind, SpanRecord};
use obs_tests::global_sample;
use sqlx::sqlite::SqlitePoolOptions;

/// The schema the checked statements were checked against.
const SCHEMA: &str = "CREATE TABLE checked_items (id INTEGER PRIMARY KEY NOT NULL, \
                      sku TEXT NOT NULL, quantity INTEGER NOT NULL)";

#[derive(Debug, PartialEq)]
struct Item {
    id: i64,
    sku: String,
    quantity: i64,
}

fn operations(operation: &str) -> f64 {
    global_sample(
        "db_client_operation_duration_seconds_count",
        &[
            ("db_system", "sqlite"),
            ("operation", operation),
            ("collection", "checked_items"),
            ("status", "ok"),
        ],
    )
    .unwrap_or(0.0)
}

#[test]
fn checked_macros_run_on_an_observed_pool_and_its_transactions() {
    let exporter = InMemoryExporter::default();
    let t = obs_runtime::init()
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (item, left) = tracing::dispatcher::with_default(&t.dispatch, || {
        rt.block_on(async {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect("sqlite::memory:")
                .await
                .unwrap();
            let db = ObservedPool::new(pool).name("checked");
            sqlx::query(SCHEMA).execute(&db).await.unwrap();
            let id = sqlx::query!(
                "INSERT INTO checked_items (sku, quantity) VALUES ($1, $2) RETURNING id",
                "A1",
                3_i64
            )
            .fetch_one(&db)
            .await
            .unwrap()
            .id;
            let mut tx = db.begin().await.unwrap();
            sqlx::query!(
                "UPDATE checked_items SET quantity = quantity - 1 WHERE id = $1",
                id
            )
            .execute(&mut tx)
            .await
            .unwrap();
            let left: i64 =
                sqlx::query_scalar!("SELECT quantity FROM checked_items WHERE id = $1", id)
                    .fetch_one(&mut tx)
                    .await
                    .unwrap();
            tx.commit().await.unwrap();
            let item = sqlx::query_as!(
                Item,
                "SELECT id, sku, quantity FROM checked_items WHERE id = $1",
                id
            )
            .fetch_one(&db)
            .await
            .unwrap();
            (item, left)
        })
    });
    assert_eq!(left, 2);
    assert_eq!(
        item,
        Item {
            id: 1,
            sku: "A1".into(),
            quantity: 2
        }
    );

    // Observed like any query: a CLIENT span each, with the conventions' names, and the
    // histogram counts them.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let spans: Vec<SpanRecord> = loop {
        assert!(t.guard.flush(Duration::from_secs(5)));
        let mut spans: Vec<SpanRecord> = exporter
            .spans()
            .into_iter()
            .filter(|s| s.target == "obs::db")
            .collect();
        if spans.len() >= 7 || std::time::Instant::now() >= deadline {
            spans.sort_by_key(|s| s.start_unix_nanos);
            break spans;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "CREATE checked_items",
            "INSERT checked_items",
            "BEGIN",
            "UPDATE checked_items",
            "SELECT checked_items",
            "COMMIT",
            "SELECT checked_items"
        ]
    );
    assert!(spans.iter().all(|s| s.kind == SpanKind::Client));
    assert_eq!(operations("INSERT"), 1.0);
    assert_eq!(operations("UPDATE"), 1.0);
    assert_eq!(operations("SELECT"), 2.0);
}
