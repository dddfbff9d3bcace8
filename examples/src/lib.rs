//! The example programs' shared code: the orders service (see `examples/orders.rs`) and
//! the health check of the example binaries.

pub mod orders;
pub mod probe;
