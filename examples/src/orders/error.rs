//! Why the orders service's calls fail, and the HTTP answer each failure gets.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obs_runtime::{ErrorLabel, Label as _};

use super::Warehouse;

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
        /// Why the payment gateway refused it.
        cause: GatewayRefusal,
    },
    /// No such order.
    NotFound(u64),
    /// The database failed or had no connection to give.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for OrderError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(why) => write!(f, "invalid order: {why}"),
            Self::OutOfStock { warehouse } => write!(f, "out of stock in {}", warehouse.as_str()),
            Self::PaymentDeclined { amount, .. } => write!(f, "payment of ${amount:.2} declined"),
            Self::NotFound(id) => write!(f, "order {id} not found"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for OrderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::PaymentDeclined { cause, .. } => Some(cause),
            Self::Database(e) => Some(e),
            _ => None,
        }
    }
}

/// The payment gateway's answer to a charge it refused: the cause of
/// [`OrderError::PaymentDeclined`], carried to the error's `exception` event and log line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GatewayRefusal {
    /// The most the gateway accepts in one charge.
    pub limit: f64,
}

impl std::fmt::Display for GatewayRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gateway refused the charge: over the limit of ${:.2}",
            self.limit
        )
    }
}

impl std::error::Error for GatewayRefusal {}

impl IntoResponse for OrderError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::OutOfStock { .. } => StatusCode::CONFLICT,
            Self::PaymentDeclined { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Database(ref e) => return database_error(e),
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// Why a user could not be fetched.
#[derive(Debug, ErrorLabel)]
pub enum UserError {
    /// Unknown id.
    NotFound,
    /// The database failed or had no connection to give.
    Database(sqlx::Error),
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("user not found"),
            Self::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for UserError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NotFound => None,
            Self::Database(e) => Some(e),
        }
    }
}

/// The answer to a failed database call: `503` when the pool had no connection in time (the
/// caller may retry), `500` otherwise; the details are in the span and the log line.
pub(super) fn database_error(e: &sqlx::Error) -> Response {
    let (status, message) = match e {
        sqlx::Error::PoolTimedOut => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is busy: try again",
        ),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "database error"),
    };
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
