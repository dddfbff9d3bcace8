//! What `init()` hands back: the dispatcher to install and the guard that flushes spans
//! and stops the metrics server on drop.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::http::server::MetricsServer;
use crate::log::{LogPipeline, LogWriter};
use crate::trace::Pipeline;

/// A built runtime: the dispatcher and the guard that owns the pipeline and server.
#[derive(Debug)]
pub struct Telemetry {
    /// The subscriber, ready to install.
    pub dispatch: tracing::Dispatch,
    /// Flushes and stops on drop.
    pub guard: Guard,
}

/// Keeps the runtime's background work alive; on drop, exports the spans still queued
/// (waiting up to 5 s) and stops the metrics server.
///
/// ```
/// let telemetry = obs_runtime::init()
///     .env([("OBS_METRICS_ADDR", "127.0.0.1:0")])
///     .build()
///     .unwrap();
/// let guard = telemetry.guard;
/// let addr = guard.metrics_addr().unwrap();
/// assert!(guard.summary().contains(&format!("metrics on http://{addr}/metrics")));
/// assert!(guard.flush(std::time::Duration::from_secs(1)));
/// drop(guard); // the metrics server stops
/// ```
#[must_use = "dropping the guard stops export and the metrics server"]
pub struct Guard {
    pub(super) pipeline: Option<Pipeline>,
    pub(super) log_pipeline: Option<LogPipeline>,
    pub(super) server: Option<MetricsServer>,
    pub(super) summary: String,
    pub(super) log_writer: Option<LogWriter>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// The span pipeline, when spans are exported.
    pub fn pipeline(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }

    /// The log record pipeline, when log records are exported over OTLP.
    pub fn log_pipeline(&self) -> Option<&LogPipeline> {
        self.log_pipeline.as_ref()
    }

    /// Where the metrics server listens, when on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(MetricsServer::local_addr)
    }

    /// One line saying what was installed, for a startup log.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// Exports what is queued, waiting at most `timeout`; `false` on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let spans = self
            .pipeline
            .as_ref()
            .is_none_or(|p| p.force_flush(timeout));
        let records = self
            .log_pipeline
            .as_ref()
            .is_none_or(|p| p.force_flush(timeout));
        let logs = self.log_writer.as_ref().is_none_or(|w| w.flush(timeout));
        spans && records && logs
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.shutdown(Duration::from_secs(5));
        }
        if let Some(pipeline) = self.log_pipeline.take() {
            pipeline.shutdown(Duration::from_secs(5));
        }
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        // The log lines still queued reach their output before the program goes on.
        if let Some(writer) = self.log_writer.take() {
            writer.flush(Duration::from_secs(2));
        }
    }
}
