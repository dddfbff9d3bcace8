//! The orders service's storage: users, stock, orders and their items in SQL through sqlx
//! (its `Any` driver): SQLite by default, in memory and private to the process, or the
//! database `DATABASE_URL` names (`sqlite://orders.db`, `postgres://…`). The schema comes
//! from the migrations in `examples/migrations/`, run at startup.
//!
//! The pool is an [`ObservedPool`]: every query is a span and a histogram sample, the pool's
//! saturation is in `/metrics`. With the feature `baseline` it is the bare sqlx pool.

use std::fmt::Write as _;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use obs_runtime::db::DbSystem;
#[cfg(not(feature = "baseline"))]
use obs_runtime::db::{ObservedPool, ObservedTransaction};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions as _, Connection as _, Row as _};

/// The database without `DATABASE_URL`: SQLite in memory, gone when the process ends.
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

/// How to reach the database. Its `Debug` masks the URL's password.
#[derive(Clone)]
pub struct StoreOptions {
    /// The connection URL: `sqlite::memory:`, `sqlite://path` (created when missing),
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long a query waits for a connection before it fails (`503`), and how long
    /// each of startup's checks (a connection of its own, then one of the pool) waits for
    /// the database.
    pub acquire_timeout: Duration,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("url", &redacted(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

impl StoreOptions {
    /// `url`, 10 connections, 5 s to get one.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// `DATABASE_URL`, else [`DEFAULT_DATABASE_URL`]. With `DATABASE_PASSWORD_FILE`, the
    /// password is the file's first line, put into the URL here, so that it is in no
    /// environment variable (a container reads it from a mounted secret).
    ///
    /// # Errors
    ///
    /// The password file cannot be read, or the URL has a password of its own or no user.
    pub fn from_env() -> Result<Self, StoreError> {
        let url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        let url = url.as_deref().unwrap_or(DEFAULT_DATABASE_URL);
        match std::env::var_os("DATABASE_PASSWORD_FILE") {
            None => Ok(Self::new(url)),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    StoreError::new(format!(
                        "DATABASE_PASSWORD_FILE={}: {e}",
                        path.to_string_lossy()
                    ))
                })?;
                let password = text.lines().next().unwrap_or_default();
                Ok(Self::new(&with_password(url, password)?))
            }
        }
    }
}

/// `url` with `password` after its user, percent-encoded.
fn with_password(url: &str, password: &str) -> Result<String, StoreError> {
    let shown = redacted(url);
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        StoreError::new(format!(
            "DATABASE_PASSWORD_FILE is set, but DATABASE_URL={shown} names no server"
        ))
    })?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some((user, host)) = rest[..authority_end].rsplit_once('@') else {
        return Err(StoreError::new(format!(
            "DATABASE_PASSWORD_FILE is set, but DATABASE_URL={shown} names no user \
             (postgres://user@host/database)"
        )));
    };
    if user.contains(':') {
        return Err(StoreError::new(format!(
            "DATABASE_URL={shown} has a password and DATABASE_PASSWORD_FILE gives another: \
             keep one"
        )));
    }
    let mut encoded = String::with_capacity(password.len());
    for b in password.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    Ok(format!(
        "{scheme}://{user}:{encoded}@{host}{}",
        &rest[authority_end..]
    ))
}

/// Why the store could not start: the message names the database (without its password)
/// and what to change.
#[derive(Debug)]
pub struct StoreError(String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StoreError {
    /// An error saying `message`.
    pub fn new(message: String) -> Self {
        Self(message)
    }
}

impl std::error::Error for StoreError {}

/// `url` with its password replaced by `***`, for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user info ends at the last `@`: a password may hold `/`, `?` or `#` unencoded.
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let mut out = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => {
                let _ = write!(out, "{user}:***@");
            }
            None => {
                let _ = write!(out, "{userinfo}@");
            }
        }
    }
    // A password may also come as a query parameter (`?password=…`, `sslpassword`).
    match after.split_once('?') {
        None => out.push_str(after),
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
    }
    out
}

/// The URL the pool connects with: `sqlite::memory:` becomes one named shared in-memory
/// database (every connection of the `Any` driver parses the URL anew, and would
/// otherwise open a database of its own), and a SQLite file is created when missing;
/// and whether the database lives in memory.
fn connect_url(url: &str) -> (String, bool) {
    static MEMORY: AtomicU64 = AtomicU64::new(0);
    if DbSystem::from_url(url) != DbSystem::Sqlite {
        return (url.to_owned(), false);
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        let n = MEMORY.fetch_add(1, Ordering::Relaxed);
        let name = format!("obs-orders-{}-{n}", std::process::id());
        return (format!("sqlite:file:{name}?mode=memory&cache=shared"), true);
    }
    if query.split('&').any(|p| p.starts_with("mode=")) {
        (url.to_owned(), false)
    } else if query.is_empty() {
        (format!("{url}?mode=rwc"), false)
    } else {
        (format!("{url}&mode=rwc"), false)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/orders?sslmode=require"),
            "postgres://app:***@db:5432/orders?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://app@db/orders"),
            "postgres://app@db/orders"
        );
        assert_eq!(redacted("sqlite://orders.db"), "sqlite://orders.db");
        // Unencoded `/`, `?`, `#` in the password; a password as a parameter.
        assert_eq!(
            redacted("postgres://app:a/b?c#d@db:5432/orders"),
            "postgres://app:***@db:5432/orders"
        );
        assert_eq!(
            redacted("postgres://db/orders?user=app&password=s3cret&sslmode=require"),
            "postgres://db/orders?user=app&password=***&sslmode=require"
        );
        let options = StoreOptions::new("postgres://app:s3cret@db/orders");
        assert!(!format!("{options:?}").contains("s3cret"));
    }

    #[test]
    fn a_password_file_goes_into_the_url_encoded() {
        assert_eq!(
            with_password("postgres://orders@postgres:5432/orders", "a b/c@d:e%").unwrap(),
            "postgres://orders:a%20b%2Fc%40d%3Ae%25@postgres:5432/orders"
        );
        assert_eq!(
            with_password("postgres://orders@postgres", "s3cret").unwrap(),
            "postgres://orders:s3cret@postgres"
        );
        let twice = with_password("postgres://orders:old@postgres/orders", "new").unwrap_err();
        assert_eq!(
            twice.to_string(),
            "DATABASE_URL=postgres://orders:***@postgres/orders has a password and \
             DATABASE_PASSWORD_FILE gives another: keep one"
        );
        assert!(with_password("postgres://postgres/orders", "x").is_err());
        assert!(with_password("sqlite::memory:", "x").is_err());
    }

    #[test]
    fn sqlite_urls_are_shared_in_memory_or_created() {
        let (memory, is_memory) = connect_url("sqlite::memory:");
        assert!(is_memory);
        assert!(memory.starts_with("sqlite:file:obs-orders-"), "{memory}");
        assert!(memory.ends_with("?mode=memory&cache=shared"), "{memory}");
        assert_ne!(connect_url("sqlite::memory:").0, memory);
        assert_eq!(
            connect_url("sqlite://orders.db"),
            ("sqlite://orders.db?mode=rwc".to_owned(), false)
        );
        assert_eq!(
            connect_url("sqlite://orders.db?mode=ro"),
            ("sqlite://orders.db?mode=ro".to_owned(), false)
        );
        assert_eq!(
            connect_url("postgres://db/orders"),
            ("postgres://db/orders".to_owned(), false)
        );
    }
}
