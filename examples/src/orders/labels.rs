//! The orders service's bounded label values: how an order ended, how it was paid,
//! where its stock came from.

use obs_runtime::Label;
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
