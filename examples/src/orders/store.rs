//! The orders service's storage: users, stock, orders and their items in SQL through sqlx
//! (its `Any` driver): SQLite by default, in memory and private to the process, or the
//! database `DATABASE_URL` names (`sqlite://orders.db`, `postgres://…`). The schema comes
//! from the migrations in `examples/migrations/`, run at startup.
//!
//! The pool is an [`ObservedPool`]: every query is a span and a histogram sample, the pool's
//! saturation is in `/metrics`. With the feature `baseline` it is the bare sqlx pool.

use std::str::FromStr as _;
use std::time::Duration;

use obs_runtime::db::DbSystem;
#[cfg(not(feature = "baseline"))]
use obs_runtime::db::{ObservedPool, ObservedTransaction};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions as _, Connection as _, Row as _};

/// The database without `DATABASE_URL`: SQLite in memory, gone when the process ends.
mod options;

use options::connect_url;
pub use options::{StoreError, StoreOptions, redacted};

pub const DEFAULT_DATABASE_URL: &str = "sqlite::memory:";

/// The pool the service queries: observed, or bare with the feature `baseline`.
#[cfg(not(feature = "baseline"))]
pub type Db = ObservedPool<Any>;
/// The pool the service queries: observed, or bare with the feature `baseline`.
#[cfg(feature = "baseline")]
pub type Db = AnyPool;

/// A transaction of [`Db`].
#[cfg(not(feature = "baseline"))]
pub type Tx = ObservedTransaction<'static, Any>;
/// A transaction of [`Db`].
#[cfg(feature = "baseline")]
pub type Tx = sqlx::Transaction<'static, Any>;

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The pool, observed unless built as the baseline.
#[cfg(not(feature = "baseline"))]
fn wrap(pool: AnyPool, url: &str) -> Db {
    ObservedPool::new(pool).name("orders").url(url)
}

#[cfg(feature = "baseline")]
fn wrap(pool: AnyPool, _url: &str) -> Db {
    pool
}

/// The sqlx pool under [`Db`].
#[cfg(not(feature = "baseline"))]
pub fn raw(db: &Db) -> &AnyPool {
    db.pool()
}

/// The sqlx pool under [`Db`].
#[cfg(feature = "baseline")]
pub fn raw(db: &Db) -> &AnyPool {
    db
}

/// A connected, migrated database.
#[derive(Debug)]
pub struct Connected {
    /// The pool.
    pub db: Db,
    /// Its system.
    pub system: DbSystem,
    /// For a database in memory, a connection outside the pool kept open while the
    /// store lives: the database is gone when its last connection closes, which the
    /// pool may do (a connection that failed its check, an idle one reaped).
    pub keeper: Option<std::sync::Mutex<AnyConnection>>,
}

/// Connects, checks the database answers within the acquire timeout, and migrates it.
///
/// # Errors
///
/// The URL is not one sqlx reads, the database did not answer, or a migration failed:
/// each said with the database's URL (password masked) and what to change.
pub async fn connect(options: &StoreOptions) -> Result<Connected, StoreError> {
    sqlx::any::install_default_drivers();
    let system = DbSystem::from_url(&options.url);
    let shown = redacted(&options.url);
    let migrator = match system {
        DbSystem::Sqlite => &SQLITE,
        DbSystem::Postgresql => &POSTGRES,
        DbSystem::Mysql | DbSystem::OtherSql => {
            return Err(StoreError::new(format!(
                "DATABASE_URL={shown}: the orders service runs on SQLite (sqlite://…) or \
                 PostgreSQL (postgres://…)"
            )));
        }
    };
    let (url, memory) = connect_url(&options.url);
    let mut pool = AnyPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout);
    if memory {
        // The database lives while one connection does.
        pool = pool
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    }
    // obs observes every query: sqlx's own line per statement (at debug, with its text)
    // would say it again.
    let connect = AnyConnectOptions::from_str(&url)
        .map_err(|e| StoreError::new(format!("DATABASE_URL={shown}: {e}")))?
        .disable_statement_logging();
    let pool = pool.connect_lazy_with(connect.clone());
    // One connection of its own first: its error says why (refused, unknown host, bad
    // password), where the pool's would only say that it timed out.
    let mut keeper = None;
    let unreachable = |why: String| {
        StoreError::new(format!(
            "cannot reach the database at {shown}: {why} (is it running? set DATABASE_URL)"
        ))
    };
    match tokio::time::timeout(
        options.acquire_timeout,
        AnyConnection::connect_with(&connect),
    )
    .await
    {
        Err(_) => {
            return Err(unreachable(format!(
                "no answer within {:?}",
                options.acquire_timeout
            )));
        }
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Ok(Ok(conn)) if memory => keeper = Some(std::sync::Mutex::new(conn)),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
    }
    let db = wrap(pool, &options.url);
    ping(&db, options.acquire_timeout)
        .await
        .map_err(unreachable)?;
    migrator
        .run(raw(&db))
        .await
        .map_err(|e| StoreError::new(format!("migrating the database at {shown}: {e}")))?;
    Ok(Connected { db, system, keeper })
}

/// Whether the database answers within `timeout`: a connection and a ping on it.
///
/// # Errors
///
/// What failed.
#[cfg(not(feature = "baseline"))]
pub async fn ping(db: &Db, timeout: Duration) -> Result<(), String> {
    db.ping(timeout).await
}

/// Whether the database answers within `timeout`: a connection and a ping on it.
///
/// # Errors
///
/// What failed.
#[cfg(feature = "baseline")]
pub async fn ping(db: &Db, timeout: Duration) -> Result<(), String> {
    let attempt = async { db.acquire().await?.ping().await };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("the database did not answer within {timeout:?}")),
    }
}

/// The executor of a transaction's queries.
#[cfg(not(feature = "baseline"))]
fn on(tx: &mut Tx) -> &mut Tx {
    tx
}

#[cfg(feature = "baseline")]
fn on(tx: &mut Tx) -> &mut sqlx::AnyConnection {
    tx
}

/// Units left in each warehouse, by name.
///
/// # Errors
///
/// sqlx's.
pub async fn stock_levels(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query("SELECT warehouse, units FROM stock ORDER BY warehouse")
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("warehouse")?, r.try_get("units")?)))
        .collect()
}

/// Takes `units` from `warehouse` if it has them; `false` (nothing taken) when it has not.
///
/// # Errors
///
/// sqlx's.
pub async fn take_stock(tx: &mut Tx, warehouse: &str, units: i64) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE stock SET units = units - $1 WHERE warehouse = $2 AND units >= $1")
            .bind(units)
            .bind(warehouse)
            .execute(on(tx))
            .await?;
    Ok(done.rows_affected() == 1)
}

/// An order's row, before it has an id.
#[derive(Debug)]
pub struct NewRow<'a> {
    /// The customer.
    pub user_id: i64,
    /// The total in dollars.
    pub total: f64,
    /// How it is paid (the label value).
    pub payment_method: &'a str,
    /// Where it ships from (the label value).
    pub warehouse: &'a str,
    /// Its lines: SKU, quantity, unit price.
    pub items: Vec<(&'a str, i64, f64)>,
}

/// Stores an order and its items; its id.
///
/// # Errors
///
/// sqlx's.
pub async fn insert_order(tx: &mut Tx, row: &NewRow<'_>) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query(
        "INSERT INTO orders (user_id, status, total, payment_method, warehouse) \
         VALUES ($1, 'created', $2, $3, $4) RETURNING id",
    )
    .bind(row.user_id)
    .bind(row.total)
    .bind(row.payment_method)
    .bind(row.warehouse)
    .fetch_one(on(tx))
    .await?
    .try_get("id")?;
    for (line, (sku, quantity, price)) in (1_i64..).zip(&row.items) {
        sqlx::query(
            "INSERT INTO order_items (order_id, line, sku, quantity, price) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(line)
        .bind(*sku)
        .bind(*quantity)
        .bind(*price)
        .execute(on(tx))
        .await?;
    }
    Ok(id)
}

/// A stored order: id, user, status, total, payment method.
pub type OrderRow = (i64, i64, String, f64, String);

/// The order `id`, if there is one.
///
/// # Errors
///
/// sqlx's.
pub async fn order(db: &Db, id: i64) -> Result<Option<OrderRow>, sqlx::Error> {
    let row: Option<AnyRow> =
        sqlx::query("SELECT id, user_id, status, total, payment_method FROM orders WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    row.map(|r| {
        Ok((
            r.try_get("id")?,
            r.try_get("user_id")?,
            r.try_get("status")?,
            r.try_get("total")?,
            r.try_get("payment_method")?,
        ))
    })
    .transpose()
}

/// The user `id`: name and tier, if there is one.
///
/// # Errors
///
/// sqlx's.
pub async fn user(db: &Db, id: i64) -> Result<Option<(String, String)>, sqlx::Error> {
    let row: Option<AnyRow> = sqlx::query("SELECT name, tier FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(|r| Ok((r.try_get("name")?, r.try_get("tier")?)))
        .transpose()
}
