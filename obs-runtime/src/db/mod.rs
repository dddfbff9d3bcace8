//! Databases observed (feature `sqlx`): a sqlx pool wrapped in an [`ObservedPool`] runs
//! every query it is given as before, and also
//!
//! - opens a CLIENT span per operation, a child of the current span, named and attributed
//!   by the OpenTelemetry database conventions: `db.system.name`, `db.operation.name`,
//!   `db.collection.name`, `db.query.summary` (`SELECT orders`), `server.address` and
//!   `server.port` of a network database, `error.type` and `db.response.status_code` on
//!   failure; `db.query.text` only when asked for ([`ObservedPool::query_text`] or
//!   `OBS_DB_QUERY_TEXT=true`), with every literal masked. Bound values are never read;
//! - records `db_client_operation_duration_seconds{db_system, operation, collection,
//!   status}`: the operation is one of a fixed set ([`Operation`]) and the collection an
//!   identifier read from the statement (at most [`MAX_COLLECTIONS`] per system, then
//!   `__overflow__`), never SQL text;
//! - writes a `warn` line for an operation slower than `OBS_DB_SLOW_QUERY_MS` (500 ms by
//!   default), inside its span, so the line carries the trace id;
//! - exposes the pool's saturation, read at scrape time: `db_client_connection_usage{
//!   pool_name, state}` (the conventions' `db.client.connection.count`, renamed since a
//!   gauge ending in `_count` fails `promtool check metrics`), `db_client_connection_max`,
//!   `db_client_connection_pending_requests`, `db_client_connection_wait_time_seconds`
//!   and `db_client_connection_timeouts_total`.
//!
//! `&ObservedPool` is a sqlx `Executor`, so queries, `query_as!` and the other checked
//! macros run on it as on `&Pool`; [`ObservedPool::begin`] gives an
//! [`ObservedTransaction`], whose `&mut` is one too.
//!
//! ```no_run
//! # async fn run() -> Result<(), sqlx::Error> {
//! use obs_runtime::db::ObservedPool;
//!
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! let db = ObservedPool::new(pool).name("orders");
//! sqlx::query("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
//!     .execute(&db)
//!     .await?;
//! let mut tx = db.begin().await?;
//! sqlx::query("INSERT INTO orders (total) VALUES ($1)")
//!     .bind(42.5)
//!     .execute(&mut tx)
//!     .await?;
//! tx.commit().await?;
//! // A readiness check of the pool, for `obs_runtime::axum::Health::register`:
//! db.ping(std::time::Duration::from_secs(1)).await.map_err(sqlx::Error::Protocol)?;
//! # Ok(()) }
//! ```

mod executor;
mod metrics;
mod query;
mod sql;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};

pub use executor::ObservedTransaction;
pub use metrics::{DbSystem, MAX_COLLECTIONS, OPERATION_BUCKETS, WAIT_BUCKETS};
use metrics::{PoolGauges, register_pool};
use query::Settings;
pub use sql::Operation;

use crate::metrics::{Counter, Histogram};

/// The slow-query threshold without `OBS_DB_SLOW_QUERY_MS`.
pub const DEFAULT_SLOW_QUERY: Duration = Duration::from_millis(500);

/// A sqlx pool whose operations are observed (see the [module](self)). Clones share the
/// pool and its metrics.
pub struct ObservedPool<DB: Database> {
    pool: Pool<DB>,
    settings: Arc<Settings>,
    gauges: Arc<PoolGauges>,
}

impl<DB: Database> Clone for ObservedPool<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            settings: Arc::clone(&self.settings),
            gauges: Arc::clone(&self.gauges),
        }
    }
}

impl<DB: Database> fmt::Debug for ObservedPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedPool")
            .field("name", &self.gauges.name)
            .field("system", &self.settings.system)
            .field("pool", &self.pool)
            .finish()
    }
}

/// The settings the environment gives: the slow-query threshold and whether spans carry
/// the query text. A value that does not parse is said once and the default used.
fn env_settings(system: DbSystem) -> Settings {
    let slow = match std::env::var("OBS_DB_SLOW_QUERY_MS") {
        Err(_) => Some(DEFAULT_SLOW_QUERY),
        Ok(raw) => match raw.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => {
                tracing::warn!(
                    target: "obs::db",
                    "invalid OBS_DB_SLOW_QUERY_MS={raw:?}: expected milliseconds (0: off); using 500"
                );
                Some(DEFAULT_SLOW_QUERY)
            }
        },
    };
    let query_text =
        std::env::var("OBS_DB_QUERY_TEXT").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    Settings {
        system,
        server: None,
        query_text,
        slow,
    }
}

impl<DB: Database> ObservedPool<DB> {
    /// Observes `pool`, named `default` in the pool metrics; the system is the driver's
    /// (`sqlx::Any` counts as `other_sql` unless [`system`](Self::system) says which).
    pub fn new(pool: Pool<DB>) -> Self {
        let system = DbSystem::from_driver(DB::NAME).unwrap_or(DbSystem::OtherSql);
        let settings = Arc::new(env_settings(system));
        let gauges = gauges_of(&pool, "default");
        Self {
            pool,
            settings,
            gauges,
        }
    }

    fn with_settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = (*self.settings).clone();
        change(&mut settings);
        self.settings = Arc::new(settings);
        self
    }

    /// The pool's name in the pool metrics (`pool_name`; `name-2` while another live pool
    /// has it).
    #[must_use]
    pub fn name(self, name: &str) -> Self {
        let Self {
            pool,
            settings,
            gauges,
        } = self;
        // The old registration goes first, so that the name can be this pool's own.
        drop(gauges);
        let gauges = gauges_of(&pool, name);
        Self {
            pool,
            settings,
            gauges,
        }
    }

    /// The pool's name in the pool metrics: the one given to [`name`](Self::name), or
    /// `name-2` (and on) while another live pool has it.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sqlx::Error> {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    /// let db = obs_runtime::db::ObservedPool::new(pool).name("orders");
    /// assert_eq!(db.pool_name(), "orders");
    /// # Ok(()) }
    /// ```
    pub fn pool_name(&self) -> &str {
        &self.gauges.name
    }

    /// The database system, for a pool whose driver does not say (`sqlx::Any`).
    #[must_use]
    pub fn system(self, system: DbSystem) -> Self {
        self.with_settings(|s| s.system = system)
    }

    /// `server.address` and `server.port` of every span (a network database).
    #[must_use]
    pub fn server(self, host: &str, port: u16) -> Self {
        let host = host.to_owned();
        self.with_settings(|s| s.server = Some((host, port)))
    }

    /// The system and, for a network database, the server of a connection URL
    /// (`postgres://user:password@db.internal:5432/orders`); the credentials are not kept.
    #[must_use]
    pub fn url(self, url: &str) -> Self {
        let system = DbSystem::from_url(url);
        let server = server_of(url, system);
        self.with_settings(|s| {
            s.system = system;
            s.server = server;
        })
    }

    /// Whether spans carry `db.query.text` (literals masked; `OBS_DB_QUERY_TEXT`).
    #[must_use]
    pub fn query_text(self, on: bool) -> Self {
        self.with_settings(|s| s.query_text = on)
    }

    /// Operations at least this slow write a `warn` line (`None`: no line;
    /// `OBS_DB_SLOW_QUERY_MS`, 500 ms by default).
    #[must_use]
    pub fn slow_query(self, threshold: Option<Duration>) -> Self {
        self.with_settings(|s| s.slow = threshold)
    }

    /// The sqlx pool, for what obs does not wrap (its options, closing it).
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// A connection of the pool, its wait measured and a timeout counted.
    ///
    /// # Errors
    ///
    /// sqlx's, e.g. `PoolTimedOut` when none came within the pool's acquire timeout.
    pub async fn acquire(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        acquire(&self.pool, &self.gauges).await
    }

    /// Whether the database answers within `timeout` (a Tokio timer: call it on a Tokio
    /// runtime, as sqlx's `runtime-tokio` runs): a connection of the pool and a ping on it. For readiness checks (`Health::register`) and a startup check that fails
    /// fast; the error says what failed, without credentials.
    ///
    /// # Errors
    ///
    /// What failed, as text: no connection in time, or the ping's error.
    pub async fn ping(&self, timeout: Duration) -> Result<(), String>
    where
        DB::Connection: sqlx::Connection,
    {
        use sqlx::Connection as _;
        let attempt = async {
            let mut conn = self.acquire().await?;
            conn.ping().await
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(crate::redact::scrub(&e.to_string()).into_owned()),
            Err(_) => Err(format!("the database did not answer within {timeout:?}")),
        }
    }
}

/// The pool metrics of `pool` under `name` (made unique among the live pools), registered
/// for every scrape while it lives.
fn gauges_of<DB: Database>(pool: &Pool<DB>, name: &str) -> Arc<PoolGauges> {
    let read = pool.clone();
    register_pool(name, move |name| PoolGauges {
        name,
        read: Box::new(move || {
            let idle = u32::try_from(read.num_idle()).unwrap_or(u32::MAX);
            (read.size(), idle, read.options().get_max_connections())
        }),
        pending: AtomicI64::new(0),
        timeouts: Counter::new(),
        wait: Histogram::with_buckets(&metrics::WAIT_BUCKETS),
    })
}

/// A connection of `pool`: the wait counted in `pending` while it lasts, then measured.
async fn acquire<DB: Database>(
    pool: &Pool<DB>,
    gauges: &PoolGauges,
) -> Result<PoolConnection<DB>, sqlx::Error> {
    /// Takes the caller back out of `pending` however the wait ends (a dropped future too).
    struct Waiting<'a>(&'a AtomicI64);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    gauges.pending.fetch_add(1, Ordering::Relaxed);
    let waiting = Waiting(&gauges.pending);
    let start = Instant::now();
    let result = pool.acquire().await;
    drop(waiting);
    gauges.wait.observe(start.elapsed().as_secs_f64());
    if matches!(result, Err(sqlx::Error::PoolTimedOut)) {
        gauges.timeouts.inc();
    }
    result
}

/// `server.address` and `server.port` of a network database's URL; the credentials are
/// skipped, the port is the scheme's default when not written.
fn server_of(url: &str, system: DbSystem) -> Option<(String, u16)> {
    let default_port = match system {
        DbSystem::Postgresql => 5432,
        DbSystem::Mysql => 3306,
        DbSystem::Sqlite | DbSystem::OtherSql => return None,
    };
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return None;
    }
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(default_port);
    Some((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_of_a_url_without_its_credentials() {
        assert_eq!(
            server_of(
                "postgres://app:hunter2@db.internal:6432/orders",
                DbSystem::Postgresql
            ),
            Some(("db.internal".to_owned(), 6432))
        );
        assert_eq!(
            server_of(
                "postgresql://db/orders?sslmode=require",
                DbSystem::Postgresql
            ),
            Some(("db".to_owned(), 5432))
        );
        assert_eq!(
            server_of("mysql://u@[::1]:3307/x", DbSystem::Mysql),
            Some(("::1".to_owned(), 3307))
        );
        assert_eq!(server_of("sqlite://orders.db", DbSystem::Sqlite), None);
        assert_eq!(DbSystem::from_url("postgres://x"), DbSystem::Postgresql);
        assert_eq!(DbSystem::from_url("sqlite::memory:"), DbSystem::Sqlite);
    }
}
