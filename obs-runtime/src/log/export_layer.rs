//! The layer that turns events into log records for the log pipeline (OTLP logs).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::export::{LogPipeline, LogRecord, LogRecordLimits};
use super::line::Redaction;
use super::record::collect;
use crate::metrics::self_metrics::{LOG_RECORD_LIMITS, RecordLimit};
use crate::redact::REDACTED;
use crate::time::unix_nanos;
use crate::trace::record::truncated;
use crate::trace::{AttrValue, EXCEPTION_TARGET, EXPORT_TARGET, on_export_thread};

/// Hands every event to a [`LogPipeline`] as a log record: severity, message, fields,
/// the fields bound to its span, and its span's trace context. Events of an exporter's
/// own thread, and the lines about export trouble, are never exported (no feedback loop).
pub(crate) struct LogExportLayer {
    pipeline: LogPipeline,
    allowed: Vec<Cow<'static, str>>,
    limits: LogRecordLimits,
}

impl fmt::Debug for LogExportLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogExportLayer")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl LogExportLayer {
    /// Records go to `pipeline`, within `limits`; keys in `allowed` are exported even if
    /// they look secret.
    pub(crate) fn new(
        pipeline: LogPipeline,
        allowed: Vec<Cow<'static, str>>,
        limits: LogRecordLimits,
    ) -> Self {
        Self {
            pipeline,
            allowed,
            limits,
        }
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
        let limits = self.limits;
        let mut attributes: Vec<(&'static str, AttrValue)> = collected
            .fields
            .attributes
            .into_iter()
            .map(|(k, v)| (k, redacted(k, v)))
            .collect();
        // The span's bound values are shared, not copied: the export thread encodes them.
        let mut bound = collected.bound;
        bound.retain(|(key, _)| !attributes.iter().any(|(k, _)| k == key));
        for (key, value) in &mut bound {
            if redaction.redacted(key) {
                *value = Arc::from(REDACTED);
            }
        }
        // The limits: the event's own fields first, then the bound ones.
        let total = attributes.len() + bound.len();
        let dropped = total.saturating_sub(limits.attribute_count);
        if dropped > 0 {
            let keep = limits.attribute_count;
            attributes.truncate(keep);
            bound.truncate(keep - attributes.len());
            LOG_RECORD_LIMITS
                .with(RecordLimit::AttributeCount)
                .inc_by(dropped as u64);
        }
        for (_, value) in &mut attributes {
            if let AttrValue::Str(s) = value
                && let Some(cut) = truncated(s, limits.attribute_value_length)
            {
                *value = AttrValue::Str(Cow::Owned(cut.to_owned()));
                LOG_RECORD_LIMITS
                    .with(RecordLimit::AttributeValueLength)
                    .inc();
            }
        }
        for (_, value) in &mut bound {
            if let Some(cut) = truncated(value, limits.attribute_value_length) {
                *value = Arc::from(cut);
                LOG_RECORD_LIMITS
                    .with(RecordLimit::AttributeValueLength)
                    .inc();
            }
        }
        self.pipeline.push(LogRecord {
            time_unix_nanos: unix_nanos(),
            level: collected.level,
            // The callsite's static target, copied only for a `log` record's.
            target: if std::ptr::eq(meta, event.metadata()) {
                Cow::Borrowed(event.metadata().target())
            } else {
                Cow::Owned(collected.target.to_owned())
            },
            body: collected.fields.message.unwrap_or_default(),
            attributes,
            bound,
            dropped_attributes: u32::try_from(dropped).unwrap_or(u32::MAX),
            context: collected.context,
        });
    }
}
