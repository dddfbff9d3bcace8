//! One query through a bare sqlx pool against the same query through an `ObservedPool`
//! (its CLIENT span, the operation histogram and the statement summary), on SQLite in
//! memory, in one run: the per-query overhead of the instrumentation.
//!
//! - `bare_sqlx`: `fetch_one(&pool)`;
//! - `observed_no_subscriber`: `fetch_one(&observed)` with no subscriber (the wrapper,
//!   the summary and the histogram; the span is disabled);
//! - `observed_exported`: the same inside obs's subscriber exporting spans over OTLP to a
//!   sink on 127.0.0.1 (the full cost a service pays).
//!
//! `cargo bench -p obs-benches --bench db`; results in the crate's README.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use obs_runtime::db::ObservedPool;
use sqlx::sqlite::SqlitePoolOptions;

const QUERY: &str = "SELECT id, total FROM orders WHERE id = $1";

fn db(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pool = rt.block_on(async {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("sqlite in memory");
        sqlx::query("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL NOT NULL)")
            .execute(&pool)
            .await
            .expect("create");
        for n in 1..=100 {
            sqlx::query("INSERT INTO orders (id, total) VALUES ($1, $2)")
                .bind(n)
                .bind(f64::from(n) * 1.5)
                .execute(&pool)
                .await
                .expect("insert");
        }
        pool
    });
    let observed = ObservedPool::new(pool.clone()).slow_query(None);
    let telemetry = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .service_name("bench")
        .otlp_endpoint(format!("http://{}", obs_benches::otlp_sink()))
        .metrics_addr(None)
        .logs(false)
        .build()
        .expect("obs");

    let mut g = c.benchmark_group("db_query");
    g.bench_function("bare_sqlx", |b| {
        b.iter(|| {
            rt.block_on(async {
                let row: (i64, f64) = sqlx::query_as(QUERY)
                    .bind(black_box(42_i64))
                    .fetch_one(&pool)
                    .await
                    .expect("row");
                row
            })
        });
    });
    g.bench_function("observed_no_subscriber", |b| {
        b.iter(|| {
            rt.block_on(async {
                let row: (i64, f64) = sqlx::query_as(QUERY)
                    .bind(black_box(42_i64))
                    .fetch_one(&observed)
                    .await
                    .expect("row");
                row
            })
        });
    });
    tracing::dispatcher::with_default(&telemetry.dispatch, || {
        g.bench_function("observed_exported", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let row: (i64, f64) = sqlx::query_as(QUERY)
                        .bind(black_box(42_i64))
                        .fetch_one(&observed)
                        .await
                        .expect("row");
                    row
                })
            });
        });
    });
    g.finish();
}

criterion_group!(benches, db);
criterion_main!(benches);
