//! HTTP: the embedded metrics server (std only), and behind features the axum layer and
//! trace-context propagation for `reqwest`. The crate root re-exports each module.

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "reqwest")]
pub mod reqwest;
pub mod server;
