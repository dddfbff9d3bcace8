//! The database families: `db_client_operation_duration_seconds` per operation and
//! collection, and the pools' saturation read at scrape time. Global, like the HTTP
//! families, and joined to the registry through the link-time list of built-ins.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use super::sql::Operation;
use crate::metrics::capped::CappedMap;
use crate::metrics::encoding::{FamilyHeader, MetricEncoder, Number};
use crate::metrics::name::MetricKind;
use crate::metrics::{Collect, Counter, Histogram, Label, OVERFLOW_VALUE};

/// The buckets the OpenTelemetry database conventions advise for operation durations.
pub const OPERATION_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// The buckets of the time spent waiting for a pooled connection (the conventions'
/// `db.client.connection.wait_time`).
pub const WAIT_BUCKETS: [f64; 9] = OPERATION_BUCKETS;

/// Most distinct collections kept per database system; further ones share
/// `collection="__overflow__"`, counted in `obs_cardinality_overflow_total`.
pub const MAX_COLLECTIONS: usize = 256;

/// The database system: `db.system.name` and the `db_system` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, obs_macros::Label)]
#[label(rename_all = "snake_case", do_not_recommend)]
pub enum DbSystem {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgresql,
    /// MySQL.
    Mysql,
    /// Another SQL database.
    OtherSql,
}

impl DbSystem {
    /// The system of a sqlx driver, by its `Database::NAME`; `None` for `Any`, whose
    /// backend is known only from its URL ([`DbSystem::from_url`]).
    pub fn from_driver(name: &str) -> Option<Self> {
        match name {
            "SQLite" => Some(Self::Sqlite),
            "PostgreSQL" => Some(Self::Postgresql),
            "MySQL" => Some(Self::Mysql),
            _ => None,
        }
    }

    /// The system a connection URL names (`sqlite:`, `postgres://`, `postgresql://`,
    /// `mysql://`, `mariadb://`).
    pub fn from_url(url: &str) -> Self {
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Self::Sqlite,
            "postgres" | "postgresql" => Self::Postgresql,
            "mysql" | "mariadb" => Self::Mysql,
            _ => Self::OtherSql,
        }
    }
}

/// One operation's cells: its durations, by outcome.
pub(crate) struct OperationCells {
    pub(crate) ok: Histogram,
    pub(crate) error: Histogram,
}

/// One `(db_system, collection)` pair: a cell per operation, made on first use.
pub(crate) struct Collection {
    system: DbSystem,
    name: Arc<str>,
    operations: [OnceLock<Box<OperationCells>>; Operation::CARDINALITY],
}

impl Collection {
    fn new(system: DbSystem, name: &str) -> Self {
        Self {
            system,
            name: Arc::from(name),
            operations: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    pub(crate) fn operation(&self, operation: Operation) -> &OperationCells {
        self.operations[operation.index()].get_or_init(|| {
            Box::new(OperationCells {
                ok: Histogram::with_buckets(&OPERATION_BUCKETS),
                error: Histogram::with_buckets(&OPERATION_BUCKETS),
            })
        })
    }
}

/// The collections of `system`, capped.
fn collections(system: DbSystem) -> &'static CappedMap<Arc<str>, Collection> {
    static TABLES: [OnceLock<CappedMap<Arc<str>, Collection>>; DbSystem::CARDINALITY] =
        [const { OnceLock::new() }; DbSystem::CARDINALITY];
    TABLES[system.index()]
        .get_or_init(|| CappedMap::new(MAX_COLLECTIONS, Collection::new(system, OVERFLOW_VALUE)))
}

/// The cells of `collection` (`""` when the statement names none) of `system`: a read
/// lock and a hash lookup, no allocation once the collection was seen.
pub(crate) fn collection(system: DbSystem, collection: &str) -> Arc<Collection> {
    collections(system).get_or_insert(collection, || {
        (Arc::from(collection), Collection::new(system, collection))
    })
}

/// `db_client_operation_duration_seconds{db_system, operation, collection, status}`.
struct OperationDuration;

/// One pool, as the scrape reads it.
pub(crate) struct PoolGauges {
    /// `db.client.connection.pool.name`.
    pub(crate) name: String,
    /// Connections open (idle and used), idle ones, and the most the pool opens.
    pub(crate) read: Box<dyn Fn() -> (u32, u32, u32) + Send + Sync>,
    /// Callers waiting for a connection now.
    pub(crate) pending: AtomicI64,
    /// Waits that ended in the pool's acquire timeout.
    pub(crate) timeouts: Counter,
    /// How long callers waited for a connection.
    pub(crate) wait: Histogram,
}

/// The pools alive, in the order they were made.
fn pools() -> &'static Mutex<Vec<Weak<PoolGauges>>> {
    static POOLS: Mutex<Vec<Weak<PoolGauges>>> = Mutex::new(Vec::new());
    &POOLS
}

/// Makes the pool `make` builds read by every scrape while it lives, under `name`, or
/// `name-2`, `name-3`, … when a live pool has it already (two series with one label set
/// would make the exposition invalid).
pub(crate) fn register_pool(
    name: &str,
    make: impl FnOnce(String) -> PoolGauges,
) -> Arc<PoolGauges> {
    let mut pools = pools().lock().unwrap_or_else(PoisonError::into_inner);
    pools.retain(|p| p.strong_count() > 0);
    let taken: Vec<String> = pools
        .iter()
        .filter_map(Weak::upgrade)
        .map(|p| p.name.clone())
        .collect();
    // Among len + 1 candidates one is free.
    let unique = (1..=taken.len() + 1)
        .map(|n| {
            if n == 1 {
                name.to_owned()
            } else {
                format!("{name}-{n}")
            }
        })
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| name.to_owned());
    let pool = Arc::new(make(unique));
    pools.push(Arc::downgrade(&pool));
    pool
}

fn each_pool(mut f: impl FnMut(&PoolGauges)) {
    let live: Vec<Arc<PoolGauges>> = pools()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for pool in &live {
        f(pool);
    }
}

/// A pool family: its header and how one pool's series are written.
struct PoolFamily {
    name: &'static str,
    help: &'static str,
    unit: Option<&'static str>,
    kind: MetricKind,
    write: fn(&PoolGauges, &mut dyn MetricEncoder),
}

#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static OPERATION_DURATION: &'static dyn Collect = &OperationDuration;
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static CONNECTION_COUNT: &'static dyn Collect = &PoolFamily {
    name: "db_client_connection_usage",
    help: "Connections of each database pool, by state (idle, used).",
    unit: None,
    kind: MetricKind::Gauge,
    write: |pool, encoder| {
        let (open, idle, _) = (pool.read)();
        for (state, n) in [("idle", idle), ("used", open.saturating_sub(idle))] {
            encoder.gauge(
                &[("pool_name", &pool.name), ("state", state)],
                Number::Int(u64::from(n)),
            );
        }
    },
};
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static CONNECTION_MAX: &'static dyn Collect = &PoolFamily {
    name: "db_client_connection_max",
    help: "The most connections each database pool opens.",
    unit: None,
    kind: MetricKind::Gauge,
    write: |pool, encoder| {
        let (_, _, max) = (pool.read)();
        encoder.gauge(&[("pool_name", &pool.name)], Number::Int(u64::from(max)));
    },
};
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static PENDING: &'static dyn Collect = &PoolFamily {
    name: "db_client_connection_pending_requests",
    help: "Callers waiting for a connection of each database pool.",
    unit: None,
    kind: MetricKind::Gauge,
    write: |pool, encoder| {
        encoder.gauge(
            &[("pool_name", &pool.name)],
            Number::Signed(pool.pending.load(Ordering::Relaxed)),
        );
    },
};
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static TIMEOUTS: &'static dyn Collect = &PoolFamily {
    name: "db_client_connection_timeouts_total",
    help: "Waits for a connection that ended in the pool's acquire timeout.",
    unit: None,
    kind: MetricKind::Counter,
    write: |pool, encoder| {
        encoder.counter(
            &[("pool_name", &pool.name)],
            Number::Int(pool.timeouts.get()),
            None,
            None,
        );
    },
};
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static WAIT: &'static dyn Collect = &PoolFamily {
    name: "db_client_connection_wait_time_seconds",
    help: "Time spent waiting for a connection of each database pool.",
    unit: Some("seconds"),
    kind: MetricKind::Histogram,
    write: |pool, encoder| {
        encoder.histogram(
            &[("pool_name", &pool.name)],
            &pool.wait.snapshot().sample(None),
        );
    },
};

impl Collect for PoolFamily {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: self.name,
            help: self.help,
            unit: self.unit,
            kind: self.kind,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        each_pool(|pool| (self.write)(pool, encoder));
    }
}

impl Collect for OperationDuration {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "db_client_operation_duration_seconds",
            help: "Database operations: their latency, by system, operation, collection and status.",
            unit: Some("seconds"),
            kind: MetricKind::Histogram,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        let mut all: Vec<Arc<Collection>> = Vec::new();
        for system in (0..DbSystem::CARDINALITY).filter_map(DbSystem::from_index) {
            let table = collections(system);
            all.extend(table.sorted().into_iter().map(|(_, c)| c));
            all.push(Arc::clone(table.overflow_value()));
        }
        for c in all {
            for operation in (0..Operation::CARDINALITY).filter_map(Operation::from_index) {
                let Some(cells) = c.operations[operation.index()].get() else {
                    continue;
                };
                for (status, histogram) in [("ok", &cells.ok), ("error", &cells.error)] {
                    if histogram.count() == 0 {
                        continue;
                    }
                    let snapshot = histogram.snapshot();
                    encoder.histogram(
                        &[
                            ("db_system", c.system.as_str()),
                            ("operation", operation.as_str()),
                            ("collection", &c.name),
                            ("status", status),
                        ],
                        &snapshot.sample(None),
                    );
                }
            }
        }
    }
}
