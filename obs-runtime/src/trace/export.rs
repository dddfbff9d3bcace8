//! Where finished spans go: the exporter interface, its error, and an in-memory exporter.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::{ExportTarget, Resource, SpanRecord};

/// Why an export failed: what was being done, and the underlying error if any.
///
/// ```
/// use obs_runtime::trace::ExportError;
/// use std::error::Error as _;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
/// let err = ExportError::with_source("cannot reach the collector", io);
/// assert_eq!(err.to_string(), "cannot reach the collector: refused");
/// assert_eq!(err.source().unwrap().to_string(), "refused");
/// assert_eq!(ExportError::new("queue closed").to_string(), "queue closed");
/// ```
#[derive(Clone, Debug)]
pub struct ExportError {
    context: Cow<'static, str>,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ExportError {
    /// An error described by `context` alone.
    pub fn new(context: impl Into<Cow<'static, str>>) -> Self {
        Self {
            context: context.into(),
            source: None,
        }
    }

    /// An error while doing `context`, caused by `source`.
    pub fn with_source(
        context: impl Into<Cow<'static, str>>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            context: context.into(),
            source: Some(Arc::new(source)),
        }
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Sends batches of finished spans somewhere. Called from the pipeline's own thread, one
/// batch at a time; it may block (up to its own timeout), the instrumented code never
/// waits for it.
///
/// ```
/// use obs_runtime::trace::{ExportError, SpanExporter, SpanRecord};
///
/// /// Writes one line per span to standard error.
/// struct Stderr;
///
/// impl SpanExporter for Stderr {
///     fn export(&mut self, batch: Vec<SpanRecord>) -> Result<(), ExportError> {
///         for span in batch {
///             eprintln!("{} {} {} {}ns", span.trace_id, span.span_id, span.name, span.duration_nanos());
///         }
///         Ok(())
///     }
/// }
///
/// let telemetry = obs_runtime::init().exporter(Stderr).metrics_addr(None).build().unwrap();
/// # drop(telemetry);
/// ```
pub trait SpanExporter: Send + 'static {
    /// Exports one batch. An error drops the batch; it is counted, not retried.
    ///
    /// # Errors
    ///
    /// When the batch did not reach its destination.
    fn export(&mut self, batch: Vec<SpanRecord>) -> Result<(), ExportError>;

    /// The resource (service name, version, SDK) of every span that follows; called
    /// before the first batch. Exporters that send it along keep it.
    fn set_resource(&mut self, resource: &Resource) {
        let _ = resource;
    }

    /// Where it sends, if it sends somewhere: the pipeline names it in the `warn` line it
    /// writes when exports start failing, and reads it for a hint (gRPC's port with
    /// HTTP, say).
    fn target(&self) -> Option<ExportTarget> {
        None
    }

    /// Called once when the pipeline shuts down, after the last batch.
    fn shutdown(&mut self) {}
}

/// An exporter that keeps every span in memory, for tests and debugging.
///
/// Clones share the same storage.
#[derive(Clone, Debug, Default)]
pub struct InMemoryExporter {
    spans: Arc<Mutex<Vec<SpanRecord>>>,
    resource: Arc<Mutex<Resource>>,
}

impl InMemoryExporter {
    /// The spans exported so far, in export order.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The resource it was given.
    pub fn resource(&self) -> Resource {
        self.resource
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the spans exported so far.
    pub fn clear(&self) {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl SpanExporter for InMemoryExporter {
    fn set_resource(&mut self, resource: &Resource) {
        resource.clone_into(&mut self.resource.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn export(&mut self, batch: Vec<SpanRecord>) -> Result<(), ExportError> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(batch);
        Ok(())
    }
}

/// Stands in for an exporter that could not be built: every batch fails with why.
pub(super) struct Unavailable(pub(super) ExportError);

impl SpanExporter for Unavailable {
    fn export(&mut self, _batch: Vec<SpanRecord>) -> Result<(), ExportError> {
        Err(self.0.clone())
    }
}
