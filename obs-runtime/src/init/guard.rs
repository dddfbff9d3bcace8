//! What `init()` hands back: the dispatcher to install and the guard that flushes spans
//! and stops the metrics server on drop.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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

/// Keeps the runtime's background work alive; on drop, exports the spans and log records
/// still queued and writes the queued log lines (waiting up to 5 s in all), and stops the
/// metrics server. Lines logged after that (by values dropped later) are written in place.
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
        let deadline = Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let spans = self.pipeline.as_ref().is_none_or(|p| p.force_flush(left()));
        let records = self
            .log_pipeline
            .as_ref()
            .is_none_or(|p| p.force_flush(left()));
        let logs = self.log_writer.as_ref().is_none_or(|w| w.flush(left()));
        spans && records && logs
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let left = || deadline.saturating_duration_since(Instant::now());
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.shutdown(left());
        }
        if let Some(pipeline) = self.log_pipeline.take() {
            pipeline.shutdown(left());
        }
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        // The log lines still queued reach their output before the program goes on (at
        // least half a second for them, whatever the exporters took).
        if let Some(writer) = self.log_writer.take() {
            let unwritten = writer.close(left().max(Duration::from_millis(500)));
            if unwritten > 0 {
                // Said where it can still be read: the log output is the one stuck.
                eprintln!(
                    "obs: {unwritten} log lines were still queued and not written at shutdown (the log output did not keep up)"
                );
            }
        }
    }
}
