//! The layer that turns events into log records for the log pipeline (OTLP logs).

use std::borrow::Cow;
use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::export::{LogPipeline, LogRecord};
use super::line::Redaction;
use super::record::collect;
use crate::redact::REDACTED;
use crate::time::unix_nanos;
use crate::trace::{AttrValue, EXCEPTION_TARGET, EXPORT_TARGET, on_export_thread};

/// Hands every event to a [`LogPipeline`] as a log record: severity, message, fields,
/// the fields bound to its span, and its span's trace context. Events of an exporter's
/// own thread, and the lines about export trouble, are never exported (no feedback loop).
pub(crate) struct LogExportLayer {
    pipeline: LogPipeline,
    allowed: Vec<Cow<'static, str>>,
}

impl fmt::Debug for LogExportLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogExportLayer")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl LogExportLayer {
    /// Records go to `pipeline`; keys in `allowed` are exported even if they look secret.
    pub(crate) fn new(pipeline: LogPipeline, allowed: Vec<Cow<'static, str>>) -> Self {
        Self { pipeline, allowed }
    }
}

impl<S> Layer<S> for LogExportLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if on_export_thread() {
            return;
        }
        #[cfg(feature = "log-bridge")]
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        #[cfg(feature = "log-bridge")]
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        #[cfg(not(feature = "log-bridge"))]
        let meta = event.metadata();
        if meta.target() == EXCEPTION_TARGET || meta.target().starts_with(EXPORT_TARGET) {
            return;
        }
        let collected = collect(event, meta, &ctx);
        let redaction = Redaction {
            allowed: &self.allowed,
        };
        let redacted = |key: &'static str, value: AttrValue| {
            if redaction.redacted(key) {
                AttrValue::Str(Cow::Borrowed(REDACTED))
            } else {
                value
            }
        };
        let mut attributes: Vec<(&'static str, AttrValue)> = collected
            .fields
            .attributes
            .into_iter()
            .map(|(k, v)| (k, redacted(k, v)))
            .collect();
        for (key, value) in collected.bound {
            if !attributes.iter().any(|(k, _)| *k == key) {
                attributes.push((key, redacted(key, AttrValue::Str(Cow::Owned(value)))));
            }
        }
        self.pipeline.push(LogRecord {
            time_unix_nanos: unix_nanos(),
            level: collected.level,
            target: collected.target.to_owned(),
            body: collected.fields.message.unwrap_or_default(),
            attributes,
            context: collected.context,
        });
    }
}
