//! The example programs' shared code: the orders service (see `examples/orders.rs`).

pub mod orders;
