//! An orders service observed with obs: the Rust counterpart of the FastAPI service in the
//! observability guides.
//!
//! - `POST /api/orders` creates an order in one transaction: validates it, reserves
//!   stock, charges the payment (declined above $5 000: a typed error, `402`, and the
//!   transaction rolled back), stores it and its items (`201`).
//! - `GET /api/orders/{id}` returns one (`404` when unknown).
//! - `GET /api/users/{id}` returns a user of the directory (ids 1 to 1000); every user id
//!   divisible by 7 takes the slow path (300 ms).
//! - `/health/live`, `/health/ready` (the database answers a ping) and `/metrics`.
//!
//! The data lives in SQL ([`store`]): SQLite in memory by default, or the database
//! `DATABASE_URL` names (a SQLite file, PostgreSQL). A database that is not there fails
//! the service at startup, a pool that has no connection to give fails the request with
//! `503`.
//!
//! Every request goes through [`ObsLayer`]; the service functions carry `#[observe]`; every
//! query is observed by the pool ([`obs_runtime::db::ObservedPool`]); the business metrics
//! are declared with `metric!`.
//!
//! With the feature `baseline`, the same service is built without `ObsLayer`, `#[observe]`
//! and the observed pool (still logging and counting its business metrics): what the load
//! tests measure the cost of obs against. With the feature `peer` (which implies
//! `baseline`) it is instrumented the usual way instead ([`peer`]). That is the only
//! reason for the `cfg_attr`s below; a service writes `#[observe]` directly.

mod error;
mod labels;
#[cfg(feature = "peer")]
pub mod peer;
pub mod store;

use error::database_error;
pub use error::{GatewayRefusal, OrderError, UserError};
pub use labels::{OrderStatus, PaymentMethod, Warehouse};

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
#[cfg(not(feature = "baseline"))]
use obs_runtime::axum::ObsLayer;
use obs_runtime::axum::{Health, RequestId, dashboards_handler, metrics_handler};
use obs_runtime::dashboards::{DashboardOptions, RuleOptions};
use obs_runtime::metrics::Slo;
#[cfg(not(feature = "baseline"))]
use obs_runtime::observe;
use obs_runtime::{Label, metric, tracing};
use serde::{Deserialize, Serialize};

metric! {
    /// Orders processed, by outcome and payment method.
    pub counter ORDERS_PROCESSED("orders_processed_total", status: OrderStatus, payment_method: PaymentMethod);
    /// Value of orders placed, in dollars.
    pub histogram ORDER_VALUE("order_value_dollars", buckets = [10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0], unit = "dollars");
    /// Units in stock, by warehouse.
    pub gauge INVENTORY("inventory_level", warehouse: Warehouse);
}

/// The most lines one order may have.
pub const MAX_ITEMS: usize = 100;

/// Orders above this total are declined.
pub const PAYMENT_LIMIT: f64 = 5000.0;

/// One line of an order.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Item {
    /// Stock keeping unit.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// Unit price in dollars.
    pub price: f64,
}

/// The body of `POST /api/orders`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct NewOrder {
    /// The customer.
    pub user_id: u64,
    /// What they buy.
    pub items: Vec<Item>,
    /// How they pay.
    pub payment_method: PaymentMethod,
    /// Where it ships from.
    #[serde(default = "default_warehouse")]
    pub warehouse: Warehouse,
}

fn default_warehouse() -> Warehouse {
    Warehouse::East
}

/// A stored order.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Order {
    /// Its id.
    pub id: u64,
    /// The customer.
    pub user_id: u64,
    /// `created`.
    pub status: String,
    /// The total in dollars.
    pub total: f64,
    /// How it was paid.
    pub payment_method: PaymentMethod,
}

/// The service's state: its database.
#[derive(Debug)]
pub struct Store {
    db: store::Db,
    system: obs_runtime::db::DbSystem,
    /// Keeps an in-memory database alive (see [`store::Connected::keeper`]).
    _keeper: Option<std::sync::Mutex<sqlx::AnyConnection>>,
}

impl Store {
    /// Connects to the database of `options`, migrates it, and sets `inventory_level`
    /// from its stock.
    ///
    /// # Errors
    ///
    /// The database is unreachable or its migration failed (see [`store::connect`]).
    pub async fn connect(options: &store::StoreOptions) -> Result<Arc<Self>, store::StoreError> {
        let store::Connected { db, system, keeper } = store::connect(options).await?;
        let levels = store::stock_levels(&db)
            .await
            .map_err(|e| store::StoreError::new(format!("reading the stock: {e}")))?;
        for (name, units) in levels {
            if let Some(w) = label_of::<Warehouse>(&name) {
                INVENTORY.with(w).set(units);
            }
        }
        Ok(Arc::new(Self {
            db,
            system,
            _keeper: keeper,
        }))
    }

    /// A fresh in-memory SQLite store, for tests and tools.
    ///
    /// # Panics
    ///
    /// When SQLite cannot open a database in memory.
    pub async fn in_memory() -> Arc<Self> {
        Self::connect(&store::StoreOptions::new(store::DEFAULT_DATABASE_URL))
            .await
            .expect("an in-memory SQLite database")
    }

    /// The pool, for what the service does not wrap.
    pub fn db(&self) -> &store::Db {
        &self.db
    }

    /// The pool's name in the pool metrics (`orders`, or `orders-2` beside another live
    /// store); `None` in the baseline, whose pool is not observed.
    pub fn pool_name(&self) -> Option<&str> {
        #[cfg(not(feature = "baseline"))]
        return Some(self.db.pool_name());
        #[cfg(feature = "baseline")]
        return None;
    }

    /// The database system (`sqlite`, `postgresql`).
    pub fn system(&self) -> obs_runtime::db::DbSystem {
        self.system
    }
}

/// The variant of `L` whose label value is `value`.
fn label_of<L: Label>(value: &str) -> Option<L> {
    L::VALUES
        .iter()
        .position(|v| *v == value)
        .and_then(L::from_index)
}

#[cfg_attr(not(feature = "baseline"), observe(fields(items = order.items.len())))]
#[cfg_attr(feature = "peer", tracing::instrument(skip_all, fields(items = order.items.len()), err))]
fn validate(order: &NewOrder) -> Result<f64, OrderError> {
    if order.items.is_empty() {
        return Err(OrderError::Invalid("no items".into()));
    }
    // Every line is a statement in the order's transaction, which holds the stock's lock:
    // a bounded order keeps everyone else's waits bounded.
    if order.items.len() > MAX_ITEMS {
        return Err(OrderError::Invalid(format!(
            "{} items: at most {MAX_ITEMS} per order",
            order.items.len()
        )));
    }
    let mut total = 0.0;
    for item in &order.items {
        if item.quantity == 0 || !(item.price.is_finite() && item.price > 0.0) {
            return Err(OrderError::Invalid(format!("bad line for {}", item.sku)));
        }
        total += f64::from(item.quantity) * item.price;
    }
    Ok(total)
}

#[cfg_attr(not(feature = "baseline"), observe)]
#[cfg_attr(feature = "peer", tracing::instrument(skip_all, err))]
async fn reserve_stock(
    tx: &mut store::Tx,
    warehouse: Warehouse,
    units: i64,
) -> Result<(), OrderError> {
    if store::take_stock(tx, warehouse.as_str(), units).await? {
        Ok(())
    } else {
        Err(OrderError::OutOfStock { warehouse })
    }
}

/// 99 % of accepted orders: the share of `create_order` calls that succeed.
pub const CHECKOUT: Slo = Slo::availability("checkout", 99.0).describe("Orders are accepted");
/// 99 % of payments are captured within 50 ms.
pub const PAYMENTS: Slo = Slo::latency("payments", 99.0, 0.05).describe("Payments are fast");
/// 99.5 % of order lookups are answered within 100 ms (measured on the HTTP route).
pub const ORDER_LOOKUP: Slo = Slo::latency("order-lookup", 99.5, 0.1)
    .describe("Order lookups are fast")
    .for_http();

#[cfg_attr(not(feature = "baseline"), observe(fields(amount = total), err(level = "warn"), slo = PAYMENTS))]
#[cfg_attr(feature = "peer", tracing::instrument(skip_all, fields(amount = total), err(level = "warn")))]
async fn charge_payment(method: PaymentMethod, total: f64) -> Result<(), OrderError> {
    // The payment gateway's latency.
    tokio::time::sleep(Duration::from_millis(5)).await;
    if total > PAYMENT_LIMIT {
        return Err(OrderError::PaymentDeclined {
            amount: total,
            cause: GatewayRefusal {
                limit: PAYMENT_LIMIT,
            },
        });
    }
    tracing::info!(payment_method = method.as_str(), "payment captured");
    Ok(())
}

/// Creates an order in one transaction: validation, stock, payment, storage. A declined
/// payment or missing stock rolls the transaction back: no stock taken, no order stored.
///
/// # Errors
///
/// An invalid order, missing stock, a declined payment, or the database.
#[cfg_attr(not(feature = "baseline"), observe(fields(user_id = new.user_id), slo = CHECKOUT))]
#[cfg_attr(feature = "peer", tracing::instrument(skip_all, fields(user_id = new.user_id), err))]
pub async fn create_order(store: &Store, new: NewOrder) -> Result<Order, OrderError> {
    let total = validate(&new)?;
    ORDER_VALUE.observe(total);
    let units: i64 = new.items.iter().map(|i| i64::from(i.quantity)).sum();
    let user_id = i64::try_from(new.user_id)
        .map_err(|_| OrderError::Invalid(format!("user_id {} out of range", new.user_id)))?;
    let mut tx = store.db.begin().await?;
    let placed = async {
        reserve_stock(&mut tx, new.warehouse, units).await?;
        charge_payment(new.payment_method, total).await?;
        let row = store::NewRow {
            user_id,
            total,
            payment_method: new.payment_method.as_str(),
            warehouse: new.warehouse.as_str(),
            items: new
                .items
                .iter()
                .map(|i| (i.sku.as_str(), i64::from(i.quantity), i.price))
                .collect(),
        };
        Ok::<_, OrderError>(store::insert_order(&mut tx, &row).await?)
    }
    .await;
    let id = match placed {
        Ok(id) => {
            tx.commit().await?;
            id
        }
        Err(e) => {
            // What the caller hears is why the order failed; a rollback that fails too is
            // said here (sqlx rolls the connection back before it is used again).
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rolling back the order failed");
            }
            if !matches!(e, OrderError::Database(_)) {
                ORDERS_PROCESSED
                    .with(OrderStatus::Failure, new.payment_method)
                    .inc();
            }
            return Err(e);
        }
    };
    INVENTORY.with(new.warehouse).add(-units);
    ORDERS_PROCESSED
        .with(OrderStatus::Success, new.payment_method)
        .inc();
    let order = Order {
        id: id.unsigned_abs(),
        user_id: new.user_id,
        status: "created".into(),
        total,
        payment_method: new.payment_method,
    };
    tracing::info!(order_id = order.id, total, "order created");
    Ok(order)
}

/// Looks an order up.
///
/// # Errors
///
/// [`OrderError::NotFound`] for an unknown id.
#[cfg_attr(not(feature = "baseline"), observe(fields(order_id = id)))]
#[cfg_attr(feature = "peer", tracing::instrument(skip_all, fields(order_id = id), err))]
pub async fn load_order(store: &Store, id: u64) -> Result<Order, OrderError> {
    let Ok(key) = i64::try_from(id) else {
        return Err(OrderError::NotFound(id));
    };
    let (_, user_id, status, total, method) = store::order(&store.db, key)
        .await?
        .ok_or(OrderError::NotFound(id))?;
    // A stored value the service cannot read is the database's fault, not the caller's.
    let payment_method = label_of::<PaymentMethod>(&method).ok_or_else(|| {
        OrderError::Database(sqlx::Error::Decode(
            format!("order {id} has an unknown payment method").into(),
        ))
    })?;
    Ok(Order {
        id,
        user_id: user_id.unsigned_abs(),
        status,
        total,
        payment_method,
    })
}

/// Who a user is.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct User {
    /// Their id.
    pub id: u64,
    /// Their display name.
    pub name: String,
    /// Their tier.
    pub tier: String,
}

/// Fetches a user from the user directory; ids divisible by 7 take its slow path (300 ms
/// before the query).
///
/// # Errors
///
/// [`UserError::NotFound`] for an id not in the directory (0, above 1000).
#[cfg_attr(not(feature = "baseline"), observe(fields(user_id = id)))]
#[cfg_attr(feature = "peer", tracing::instrument(skip_all, fields(user_id = id), err))]
pub async fn fetch_user(store: &Store, id: u64) -> Result<User, UserError> {
    if id != 0 && id.is_multiple_of(7) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let key = i64::try_from(id).map_err(|_| UserError::NotFound)?;
    let (name, tier) = store::user(&store.db, key)
        .await
        .map_err(UserError::Database)?
        .ok_or(UserError::NotFound)?;
    Ok(User { id, name, tier })
}

async fn post_order(
    State(store): State<Arc<Store>>,
    request_id: Option<axum::Extension<RequestId>>,
    body: Result<Json<NewOrder>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), OrderError> {
    let Json(new) = body.map_err(|e| OrderError::Invalid(e.body_text()))?;
    let order = create_order(&store, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": order.id,
            "status": order.status,
            "total": order.total,
            "request_id": request_id.map(|id| id.0.to_string()),
        })),
    ))
}

async fn get_order(
    State(store): State<Arc<Store>>,
    Path(id): Path<u64>,
) -> Result<Json<Order>, OrderError> {
    load_order(&store, id).await.map(Json)
}

async fn get_user(State(store): State<Arc<Store>>, Path(id): Path<u64>) -> Response {
    match fetch_user(&store, id).await {
        Ok(user) => Json(user).into_response(),
        Err(UserError::Database(e)) => database_error(&e),
        Err(e @ UserError::NotFound) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

/// The Prometheus job that scrapes the service (`deploy/prometheus/prometheus.yml`): the
/// generated rules select it and the dashboard opens on it.
pub const JOB: &str = "orders";

/// The uid of the Prometheus datasource in `deploy/grafana/provisioning/`.
pub const PROMETHEUS_DATASOURCE_UID: &str = "prometheus";

/// The uid of the trace datasource (Tempo) in `deploy/grafana/provisioning/`.
pub const TRACES_DATASOURCE_UID: &str = "tempo";

/// The dashboard of the service, referencing the datasources `deploy/` provisions.
pub fn dashboard_options() -> DashboardOptions {
    DashboardOptions {
        datasource_uid: Some(PROMETHEUS_DATASOURCE_UID.to_owned()),
        traces_datasource_uid: Some(TRACES_DATASOURCE_UID.to_owned()),
        job: Some(JOB.to_owned()),
        ..DashboardOptions::new("orders")
    }
}

/// The rules of the service. `window_scale` below 1 shortens the SLO windows and the
/// alerts' `for` by the same factor (at least 1 s), to see an alert fire within a minute
/// (`scripts/stack --slo-window-scale`); 1 is what `deploy/` holds.
pub fn rule_options(window_scale: f64) -> RuleOptions {
    let defaults = RuleOptions::new(JOB);
    RuleOptions {
        window_scale,
        alert_for: defaults
            .alert_for
            .mul_f64(window_scale)
            .max(Duration::from_secs(1)),
        ..defaults
    }
}

/// The service's routes: the API, health, `/metrics` (with `OBS_METRICS_TOKEN` as bearer
/// token when set), the generated dashboard and rules under `/dashboards/`. [`app`] puts
/// them behind [`ObsLayer`] (which measures the `order-lookup` SLO on `/api/orders/{id}`).
fn routes(store: Arc<Store>, metrics_token: Option<String>) -> Router {
    let health = Health::new();
    let db = Arc::clone(&store);
    health.register("database", Duration::from_secs(1), move || {
        let db = Arc::clone(&db);
        async move { store::ping(&db.db, Duration::from_secs(1)).await }
    });
    health.register("payment_gateway", Duration::from_millis(200), || async {
        Ok(())
    });
    Router::new()
        .route("/api/orders", post(post_order))
        .route("/api/orders/{id}", get(get_order))
        .route("/api/users/{id}", get(get_user))
        .route("/metrics", get(metrics_handler(metrics_token)))
        .route(
            "/dashboards/{file}",
            get(dashboards_handler(dashboard_options(), rule_options(1.0))),
        )
        .with_state(store)
        .merge(health.router())
}

/// The router behind the layer that observes every request.
#[cfg(not(feature = "baseline"))]
pub fn app(store: Arc<Store>, metrics_token: Option<String>) -> Router {
    routes(store, metrics_token).layer(ObsLayer::new().slo("/api/orders/{id}", &ORDER_LOOKUP))
}

/// The router without the layer (feature `baseline`).
#[cfg(all(feature = "baseline", not(feature = "peer")))]
pub fn app(store: Arc<Store>, metrics_token: Option<String>) -> Router {
    routes(store, metrics_token)
}

/// The router behind the usual stack's layers (feature `peer`).
#[cfg(feature = "peer")]
pub fn app(store: Arc<Store>, metrics_token: Option<String>) -> Router {
    peer::layers(routes(store, metrics_token))
}
