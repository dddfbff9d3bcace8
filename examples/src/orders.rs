//! An orders service observed with obs: the Rust counterpart of the FastAPI service in the
//! observability guides.
//!
//! - `POST /api/orders` creates an order: validates it, reserves stock, charges the
//!   payment (declined above $5 000: a typed error, `402`), stores it (`201`).
//! - `GET /api/orders/{id}` returns one (`404` when unknown).
//! - `GET /api/users/{id}` returns a user; every user id divisible by 7 takes the slow
//!   path (300 ms), id 0 does not exist.
//! - `/health/live`, `/health/ready` and `/metrics`.
//!
//! Every request goes through [`ObsLayer`]; the service functions carry `#[observe]`; the
//! business metrics are declared with `metric!`.
//!
//! With the feature `baseline`, the same service is built without `ObsLayer` and
//! `#[observe]` (still logging and counting its business metrics): what the load tests
//! measure the cost of obs against. That is the only reason for the `cfg_attr`s below; a
//! service writes `#[observe]` directly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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
use obs_runtime::{ErrorLabel, Label, metric, tracing};
use serde::{Deserialize, Serialize};

/// How an order ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Label)]
pub enum OrderStatus {
    /// Charged and stored.
    Success,
    /// Rejected (payment declined, out of stock).
    Failure,
}

/// How a customer pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Label, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Credit or debit card.
    Card,
    /// PayPal.
    Paypal,
    /// Bank transfer.
    BankTransfer,
}

/// Where stock is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Label, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Warehouse {
    /// The east coast warehouse.
    East,
    /// The west coast warehouse.
    West,
}

metric! {
    /// Orders processed, by outcome and payment method.
    pub counter ORDERS_PROCESSED("orders_processed_total", status: OrderStatus, payment_method: PaymentMethod);
    /// Value of orders placed, in dollars.
    pub histogram ORDER_VALUE("order_value_dollars", buckets = [10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0], unit = "dollars");
    /// Units in stock, by warehouse.
    pub gauge INVENTORY("inventory_level", warehouse: Warehouse);
}

/// Units each warehouse starts with.
pub const INITIAL_STOCK: i64 = 1_000_000;

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

/// Why an order failed.
#[derive(Debug, ErrorLabel)]
pub enum OrderError {
    /// The request was not a valid order.
    Invalid(String),
    /// Not enough stock.
    OutOfStock {
        /// The warehouse that ran out.
        warehouse: Warehouse,
    },
    /// The payment was declined.
    PaymentDeclined {
        /// The amount refused.
        amount: f64,
    },
    /// No such order.
    NotFound(u64),
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(why) => write!(f, "invalid order: {why}"),
            Self::OutOfStock { warehouse } => write!(f, "out of stock in {}", warehouse.as_str()),
            Self::PaymentDeclined { amount } => write!(f, "payment of ${amount:.2} declined"),
            Self::NotFound(id) => write!(f, "order {id} not found"),
        }
    }
}

impl std::error::Error for OrderError {}

impl IntoResponse for OrderError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::OutOfStock { .. } => StatusCode::CONFLICT,
            Self::PaymentDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// The service's state: an in-memory store.
#[derive(Debug, Default)]
pub struct Store {
    orders: Mutex<HashMap<u64, Order>>,
    next_id: AtomicU64,
    stock: [AtomicU64; Warehouse::CARDINALITY],
}

impl Store {
    /// A store with [`INITIAL_STOCK`] units in each warehouse.
    pub fn new() -> Arc<Self> {
        let store = Self::default();
        for w in [Warehouse::East, Warehouse::West] {
            store.stock[w.index()].store(INITIAL_STOCK.unsigned_abs(), Ordering::Relaxed);
            INVENTORY.with(w).set(INITIAL_STOCK);
        }
        Arc::new(store)
    }
}

#[cfg_attr(not(feature = "baseline"), observe(fields(items = order.items.len())))]
fn validate(order: &NewOrder) -> Result<f64, OrderError> {
    if order.items.is_empty() {
        return Err(OrderError::Invalid("no items".into()));
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
fn reserve_stock(store: &Store, warehouse: Warehouse, units: u64) -> Result<(), OrderError> {
    store.stock[warehouse.index()]
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
            left.checked_sub(units)
        })
        .map_err(|_| OrderError::OutOfStock { warehouse })?;
    INVENTORY
        .with(warehouse)
        .add(-i64::try_from(units).unwrap_or(i64::MAX));
    Ok(())
}

/// Puts back stock reserved for an order that failed.
fn release_stock(store: &Store, warehouse: Warehouse, units: u64) {
    store.stock[warehouse.index()].fetch_add(units, Ordering::AcqRel);
    INVENTORY
        .with(warehouse)
        .add(i64::try_from(units).unwrap_or(i64::MAX));
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
async fn charge_payment(method: PaymentMethod, total: f64) -> Result<(), OrderError> {
    // The payment gateway's latency.
    tokio::time::sleep(Duration::from_millis(5)).await;
    if total > PAYMENT_LIMIT {
        return Err(OrderError::PaymentDeclined { amount: total });
    }
    tracing::info!(payment_method = method.as_str(), "payment captured");
    Ok(())
}

/// Creates an order: validation, stock, payment, storage.
///
/// # Errors
///
/// An invalid order, missing stock, or a declined payment.
#[cfg_attr(not(feature = "baseline"), observe(fields(user_id = new.user_id), slo = CHECKOUT))]
pub async fn create_order(store: &Store, new: NewOrder) -> Result<Order, OrderError> {
    let total = validate(&new)?;
    ORDER_VALUE.observe(total);
    let units: u64 = new.items.iter().map(|i| u64::from(i.quantity)).sum();
    reserve_stock(store, new.warehouse, units)?;
    if let Err(e) = charge_payment(new.payment_method, total).await {
        release_stock(store, new.warehouse, units);
        ORDERS_PROCESSED
            .with(OrderStatus::Failure, new.payment_method)
            .inc();
        return Err(e);
    }
    let order = Order {
        id: store.next_id.fetch_add(1, Ordering::Relaxed) + 1,
        user_id: new.user_id,
        status: "created".into(),
        total,
        payment_method: new.payment_method,
    };
    store
        .orders
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(order.id, order.clone());
    ORDERS_PROCESSED
        .with(OrderStatus::Success, new.payment_method)
        .inc();
    tracing::info!(order_id = order.id, total, "order created");
    Ok(order)
}

/// Looks an order up.
///
/// # Errors
///
/// [`OrderError::NotFound`] for an unknown id.
#[cfg_attr(not(feature = "baseline"), observe(fields(order_id = id)))]
pub fn load_order(store: &Store, id: u64) -> Result<Order, OrderError> {
    store
        .orders
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
        .cloned()
        .ok_or(OrderError::NotFound(id))
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

/// No such user.
#[derive(Debug, ErrorLabel)]
pub enum UserError {
    /// Unknown id.
    NotFound,
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("user not found")
    }
}

/// Fetches a user from the (simulated) user directory; ids divisible by 7 are slow.
///
/// # Errors
///
/// [`UserError::NotFound`] for id 0.
#[cfg_attr(not(feature = "baseline"), observe(fields(user_id = id)))]
pub async fn fetch_user(id: u64) -> Result<User, UserError> {
    if id == 0 {
        return Err(UserError::NotFound);
    }
    let latency = if id.is_multiple_of(7) { 300 } else { 2 };
    tokio::time::sleep(Duration::from_millis(latency)).await;
    Ok(User {
        id,
        name: format!("user-{id}"),
        tier: if id.is_multiple_of(2) {
            "gold"
        } else {
            "standard"
        }
        .into(),
    })
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
    load_order(&store, id).map(Json)
}

async fn get_user(Path(id): Path<u64>) -> Response {
    match fetch_user(id).await {
        Ok(user) => Json(user).into_response(),
        Err(e) => (
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
    health.register("database", Duration::from_millis(200), move || {
        let db = Arc::clone(&db);
        async move {
            match db.orders.try_lock() {
                Ok(_) | Err(std::sync::TryLockError::WouldBlock) => Ok(()),
                Err(std::sync::TryLockError::Poisoned(_)) => Err("store poisoned".to_owned()),
            }
        }
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
#[cfg(feature = "baseline")]
pub fn app(store: Arc<Store>, metrics_token: Option<String>) -> Router {
    routes(store, metrics_token)
}
