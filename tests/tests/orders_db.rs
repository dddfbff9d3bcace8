//! The orders service on its databases: SQLite in memory, then a real PostgreSQL (Debian
//! package `postgresql`, started by the test on 127.0.0.1 in a temporary directory). The
//! same checks against both: an order's trace is the HTTP span, `create_order` and each of
//! its queries, with exact parentage and the database conventions; the histogram counts
//! every operation exactly; a declined payment rolls back (no order, no stock taken); the
//! pool's gauges move under concurrent orders and return to idle; an exhausted pool fails
//! the request with `503` in its acquire timeout and counts the timeout. On PostgreSQL,
//! the readiness check goes unready when the server stops and ready when it is back. One
//! test: it installs the process-global subscriber.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use obs_examples::orders::store::{self, StoreOptions};
use obs_examples::orders::{Store, app};
use obs_runtime::Label as _;
use obs_tests::otlp::{Received, attr, by_request_id, hex};
use obs_tests::postgres::Postgres;
use obs_tests::{Installed, global_sample, http_call};
use serde_json::Value;

/// Two lines, three units, $42.50.
const ORDER: &str = r#"{"user_id":3,"items":[{"sku":"B2","quantity":1,"price":12.5},{"sku":"C3","quantity":2,"price":15}],"payment_method":"card"}"#;
/// Declined by the payment gateway: $8 000.
const DECLINED: &str =
    r#"{"user_id":3,"items":[{"sku":"B2","quantity":2,"price":4000}],"payment_method":"card"}"#;
/// `SPAN_KIND_SERVER` and `SPAN_KIND_CLIENT` in OTLP.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;

/// The status, the JSON body and the request id (`X-Request-ID`) of a new order.
fn post(addr: std::net::SocketAddr, body: &str) -> (u16, Value, String) {
    let response = http_call(addr, "POST", "/api/orders", &[], Some(body));
    let json = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    let request_id = response
        .headers
        .iter()
        .find(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (response.status, json, request_id)
}

/// The count of `db_client_operation_duration_seconds` for one operation.
fn operations(system: &str, operation: &str, collection: &str, status: &str) -> f64 {
    global_sample(
        "db_client_operation_duration_seconds_count",
        &[
            ("db_system", system),
            ("operation", operation),
            ("collection", collection),
            ("status", status),
        ],
    )
    .unwrap_or(0.0)
}

fn pool_sample(name: &str, pool: &str, labels: &[(&str, &str)]) -> f64 {
    let mut all = vec![("pool_name", pool)];
    all.extend_from_slice(labels);
    global_sample(name, &all).unwrap_or(0.0)
}

/// The spans of the trace whose server span answered `request_id`, by name.
fn trace_of(spans: &[Received], request_id: &str) -> BTreeMap<String, Vec<Received>> {
    let server = by_request_id(spans, request_id);
    assert_eq!(server.span.kind, SERVER);
    let mut by_name: BTreeMap<String, Vec<Received>> = BTreeMap::new();
    for s in spans
        .iter()
        .filter(|s| s.span.trace_id == server.span.trace_id)
    {
        by_name
            .entry(s.span.name.clone())
            .or_default()
            .push(s.clone());
    }
    by_name
}

fn one<'a>(trace: &'a BTreeMap<String, Vec<Received>>, name: &str) -> &'a Received {
    match trace.get(name).map(Vec::as_slice) {
        Some([span]) => span,
        other => panic!(
            "{name}: {other:?} in {:?}",
            trace.keys().collect::<Vec<_>>()
        ),
    }
}

fn assert_child(child: &Received, parent: &Received) {
    assert_eq!(
        hex(&child.span.parent_span_id),
        hex(&parent.span.span_id),
        "{} is not a child of {}",
        child.span.name,
        parent.span.name
    );
}

/// The database conventions on a query span.
fn assert_query(span: &Received, system: &str, operation: &str, collection: Option<&str>) {
    assert_eq!(span.span.kind, CLIENT, "{}", span.span.name);
    let a = |k| attr(&span.span.attributes, k);
    assert_eq!(a("db.system.name").as_deref(), Some(system));
    assert_eq!(a("db.operation.name").as_deref(), Some(operation));
    assert_eq!(a("db.collection.name").as_deref(), collection);
    assert_eq!(a("error.type"), None, "{}", span.span.name);
    // No query text unless asked for, so no bound value either.
    assert_eq!(a("db.query.text"), None);
}

/// What differs between the two databases.
struct Backend {
    system: &'static str,
    url: String,
    /// `server.address` and `server.port` of the spans (a network database).
    server: Option<(String, u16)>,
}

/// The checks both databases pass; the store, served at the returned address.
fn orders_on(installed: &Installed, backend: &Backend) -> (Arc<Store>, std::net::SocketAddr) {
    let system = backend.system;
    let options = StoreOptions {
        max_connections: 3,
        // Long enough that 24 orders queued on 3 connections (5 ms each, one at a time
        // behind the stock's lock) all get one on a busy machine.
        acquire_timeout: Duration::from_secs(3),
        ..StoreOptions::new(&backend.url)
    };
    let store = installed
        .rt
        .block_on(Store::connect(&options))
        .unwrap_or_else(|e| panic!("{system}: {e}"));
    assert_eq!(store.system().as_str(), system);
    let pool = store.pool_name().expect("an observed pool").to_owned();
    let addr = installed.serve(app(Arc::clone(&store), None));
    let stock = |store: &Store| {
        installed
            .rt
            .block_on(store::stock_levels(store.db()))
            .unwrap()
    };
    let east_before = stock(&store)[0].1;
    let count = |op, collection| operations(system, op, collection, "ok");
    let before: Vec<f64> = [
        ("BEGIN", ""),
        ("UPDATE", "stock"),
        ("INSERT", "orders"),
        ("INSERT", "order_items"),
        ("COMMIT", ""),
        ("ROLLBACK", ""),
        ("SELECT", "orders"),
    ]
    .iter()
    .map(|(op, c)| count(op, c))
    .collect();

    // ---- An order: one trace, the HTTP span → create_order → each query ------------------
    let (status, placed, placed_request) = post(addr, ORDER);
    assert_eq!(status, 201, "{system}: {placed}");
    let id = placed["id"].as_u64().unwrap();
    // ---- A declined payment: rolled back -------------------------------------------------
    let (status, declined, declined_request) = post(addr, DECLINED);
    assert_eq!(status, 402, "{system}: {declined}");
    let unknown = http_call(addr, "GET", &format!("/api/orders/{}", id + 1), &[], None);
    assert_eq!(unknown.status, 404);
    let rows = |table: &str| -> i64 {
        let sql = match table {
            "orders" => "SELECT COUNT(*) FROM orders",
            _ => "SELECT COUNT(*) FROM order_items",
        };
        installed
            .rt
            .block_on(sqlx::query_scalar::<_, i64>(sql).fetch_one(store::raw(store.db())))
            .unwrap()
    };
    assert_eq!(
        (rows("orders"), rows("order_items")),
        (1, 2),
        "{system}: the declined order left rows"
    );
    let stored = http_call(addr, "GET", &format!("/api/orders/{id}"), &[], None);
    assert_eq!(stored.status, 200);
    let stored: Value = serde_json::from_str(&stored.body).unwrap();
    assert_eq!(stored["total"], 42.5);
    assert_eq!(stored["payment_method"], "card");
    // Three units taken by the placed order, none by the declined one.
    assert_eq!(stock(&store)[0], ("east".to_owned(), east_before - 3));
    assert_eq!(
        global_sample("inventory_level", &[("warehouse", "east")]),
        Some((east_before - 3) as f64)
    );

    assert!(installed.guard.flush(Duration::from_secs(10)));
    let spans = installed.receiver.spans();
    let trace = trace_of(&spans, &placed_request);
    let names: Vec<(&str, usize)> = trace.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    assert_eq!(
        names,
        [
            ("BEGIN", 1),
            ("COMMIT", 1),
            ("INSERT order_items", 2),
            ("INSERT orders", 1),
            ("POST /api/orders", 1),
            ("UPDATE stock", 1),
            ("charge_payment", 1),
            ("create_order", 1),
            ("reserve_stock", 1),
            ("validate", 1),
        ],
        "{system}"
    );
    let server = one(&trace, "POST /api/orders");
    let create = one(&trace, "create_order");
    assert_child(create, server);
    for name in [
        "validate",
        "BEGIN",
        "reserve_stock",
        "charge_payment",
        "INSERT orders",
        "COMMIT",
    ] {
        assert_child(one(&trace, name), create);
    }
    for item in &trace["INSERT order_items"] {
        assert_child(item, create);
        assert_query(item, system, "INSERT", Some("order_items"));
    }
    assert_child(one(&trace, "UPDATE stock"), one(&trace, "reserve_stock"));
    assert_query(one(&trace, "UPDATE stock"), system, "UPDATE", Some("stock"));
    assert_query(
        one(&trace, "INSERT orders"),
        system,
        "INSERT",
        Some("orders"),
    );
    assert_query(one(&trace, "BEGIN"), system, "BEGIN", None);
    assert_query(one(&trace, "COMMIT"), system, "COMMIT", None);
    let insert = &one(&trace, "INSERT orders").span.attributes;
    assert_eq!(
        attr(insert, "db.query.summary").as_deref(),
        Some("INSERT orders")
    );
    let server_of = |k| attr(insert, k);
    match &backend.server {
        Some((host, port)) => {
            assert_eq!(server_of("server.address").as_deref(), Some(host.as_str()));
            assert_eq!(server_of("server.port"), Some(port.to_string()));
        }
        None => assert_eq!(server_of("server.address"), None),
    }

    let declined_trace = trace_of(&spans, &declined_request);
    let names: Vec<&str> = declined_trace.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "BEGIN",
            "POST /api/orders",
            "ROLLBACK",
            "UPDATE stock",
            "charge_payment",
            "create_order",
            "reserve_stock",
            "validate"
        ],
        "{system}: the declined order's trace"
    );
    assert_child(
        one(&declined_trace, "ROLLBACK"),
        one(&declined_trace, "create_order"),
    );

    // ---- Exact histogram counts per operation ----------------------------------------------
    let after: Vec<f64> = [
        ("BEGIN", ""),
        ("UPDATE", "stock"),
        ("INSERT", "orders"),
        ("INSERT", "order_items"),
        ("COMMIT", ""),
        ("ROLLBACK", ""),
        ("SELECT", "orders"),
    ]
    .iter()
    .map(|(op, c)| count(op, c))
    .collect();
    let delta: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(delta, [2.0, 2.0, 1.0, 2.0, 1.0, 1.0, 2.0], "{system}");

    // ---- An order of more lines than allowed never reaches the database --------------------
    let lines: Vec<String> = (0..=obs_examples::orders::MAX_ITEMS)
        .map(|i| format!(r#"{{"sku":"S{i}","quantity":1,"price":1}}"#))
        .collect();
    let huge = format!(
        r#"{{"user_id":3,"items":[{}],"payment_method":"card"}}"#,
        lines.join(",")
    );
    let (status, refused, _) = post(addr, &huge);
    assert_eq!(status, 400, "{system}: {refused}");
    assert_eq!(
        refused["error"],
        "invalid order: 101 items: at most 100 per order"
    );
    assert_eq!(rows("orders"), 1);

    // ---- Concurrent orders: the pool saturates, then is idle again -------------------------
    let used = || pool_sample("db_client_connection_usage", &pool, &[("state", "used")]);
    let pending = || pool_sample("db_client_connection_pending_requests", &pool, &[]);
    let workers: Vec<_> = (0..24)
        .map(|_| std::thread::spawn(move || post(addr, ORDER).0))
        .collect();
    let (mut most_used, mut most_pending) = (0.0_f64, 0.0_f64);
    while workers.iter().any(|w| !w.is_finished()) {
        most_used = most_used.max(used());
        most_pending = most_pending.max(pending());
        std::thread::sleep(Duration::from_millis(1));
    }
    for w in workers {
        assert_eq!(w.join().unwrap(), 201, "{system}");
    }
    assert_eq!(
        most_used, 3.0,
        "{system}: the pool's 3 connections in use at once"
    );
    assert!(
        most_pending >= 1.0,
        "{system}: nobody waited ({most_pending})"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while used() != 0.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(used(), 0.0, "{system}: connections still in use");
    assert_eq!(pending(), 0.0);
    assert_eq!(
        pool_sample("db_client_connection_max", &pool, &[]),
        3.0,
        "{system}"
    );

    // ---- An exhausted pool: 503 within the acquire timeout, the timeout counted ------------
    let timeouts = || pool_sample("db_client_connection_timeouts_total", &pool, &[]);
    let timeouts_before = timeouts();
    let held: Vec<_> = (0..3)
        .map(|_| installed.rt.block_on(store.db().acquire()).unwrap())
        .collect();
    let start = Instant::now();
    let busy = http_call(addr, "GET", &format!("/api/orders/{id}"), &[], None);
    let waited = start.elapsed();
    assert_eq!(busy.status, 503, "{system}: {}", busy.body);
    assert_eq!(busy.body, r#"{"error":"the database is busy: try again"}"#);
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(10),
        "{system}: answered after {waited:?}"
    );
    assert_eq!(timeouts() - timeouts_before, 1.0, "{system}");
    // A connection goes back to its pool on the runtime.
    let entered = installed.rt.enter();
    drop(held);
    drop(entered);
    let again = http_call(addr, "GET", &format!("/api/orders/{id}"), &[], None);
    assert_eq!(again.status, 200, "{system}: {}", again.body);
    (store, addr)
}

fn ready(addr: std::net::SocketAddr) -> u16 {
    http_call(addr, "GET", "/health/ready", &[], None).status
}

#[test]
fn orders_on_sqlite_and_postgresql() {
    let installed = Installed::new("orders-db");

    let sqlite = Backend {
        system: "sqlite",
        url: store::DEFAULT_DATABASE_URL.to_owned(),
        server: None,
    };
    let (_sqlite_store, sqlite_addr) = orders_on(&installed, &sqlite);
    assert_eq!(ready(sqlite_addr), 200);

    let mut server = Postgres::start();
    let postgres = Backend {
        system: "postgresql",
        url: server.url(),
        server: Some(("127.0.0.1".to_owned(), server.port())),
    };
    let (_pg_store, addr) = orders_on(&installed, &postgres);

    // ---- Readiness follows the server ------------------------------------------------------
    assert_eq!(ready(addr), 200);
    server.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready(addr) != 503 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ready(addr), 503, "ready with the server stopped");
    // Liveness does not depend on the database.
    assert_eq!(
        http_call(addr, "GET", "/health/live", &[], None).status,
        200
    );
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready(addr) != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ready(addr), 200, "unready with the server back");
    // And orders go through again.
    assert_eq!(post(addr, ORDER).0, 201);
}
