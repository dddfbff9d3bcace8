//! The example programs' shared code: the orders service (see `examples/orders.rs`) and
//! the health check of the example binaries.

pub mod orders;
pub mod probe;

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, the signal `docker stop` and orchestrators
/// send: a process that is PID 1 in its container ignores a signal it has no handler
/// for, so both are handled, and the servers shut down gracefully (flushing spans and
/// logs) on either.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
