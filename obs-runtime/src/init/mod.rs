//! `init()`: one call that installs traces, logs and the metrics endpoint.

mod builder;
mod config;
mod env;
mod error;
mod export;
mod guard;
mod log_export;
mod logs;
mod resolve;
mod settings;
#[cfg(test)]
mod tests;

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
pub use crate::trace::Protocol;
pub use builder::Builder;
pub use error::InitError;
pub use guard::{Guard, Telemetry};

/// Starts configuring the runtime: see [`Builder`].
///
/// ```no_run
/// fn main() -> Result<(), obs_runtime::init::InitError> {
///     let _telemetry = obs_runtime::init()
///         .service_name("orders")
///         .service_version(env!("CARGO_PKG_VERSION"))
///         .install()?;
///     tracing::info!("listening");
///     Ok(()) // dropping the guard flushes the spans still queued
/// }
/// ```
pub fn init() -> Builder {
    Builder::default()
}
