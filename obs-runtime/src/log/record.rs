//! What one `tracing` event says as a log record: shared by the line written to the log
//! output and the record exported over OTLP, so that both carry the same fields.

use std::borrow::Cow;
use std::sync::Arc;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::trace::record::EventFields;
use crate::trace::{AttrValue, SpanContext, layer_state_context};

use super::bind::Bound;

/// One event, its secrets scrubbed from values (keys are redacted when written).
pub(crate) struct Collected<'a> {
    pub(crate) level: Level,
    pub(crate) target: &'a str,
    /// The innermost span's name.
    pub(crate) span: Option<&'static str>,
    pub(crate) fields: EventFields,
    /// The span the event happened in.
    pub(crate) context: Option<SpanContext>,
    /// Fields bound to its span and ancestors, the innermost binding of a key winning.
    pub(crate) bound: Vec<(&'static str, Arc<str>)>,
}

/// Reads `event` in `ctx`: its fields (values scrubbed of URL credentials and `key: value`
/// secrets), the trace context and the bound fields of its span.
pub(crate) fn collect<'a, S>(
    event: &Event<'_>,
    meta: &'a tracing::Metadata<'a>,
    ctx: &Context<'_, S>,
) -> Collected<'a>
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    let mut fields = EventFields::default();
    event.record(&mut fields);
    for (_, value) in &mut fields.attributes {
        if let AttrValue::Str(s) = value
            && let Cow::Owned(masked) = crate::redact::scrub(s)
        {
            *value = AttrValue::Str(Cow::Owned(masked));
        }
    }
    if let Some(message) = &mut fields.message
        && let Cow::Owned(masked) = crate::redact::scrub(message)
    {
        *message = masked;
    }
    let span = ctx.event_span(event);
    let context = span
        .as_ref()
        .and_then(|s| layer_state_context(&s.extensions()));
    let mut bound: Vec<(&'static str, Arc<str>)> = Vec::new();
    if let Some(span) = &span {
        for s in span.scope().from_root() {
            if let Some(b) = s.extensions().get::<Bound>() {
                for (k, v) in &b.0 {
                    bound.retain(|(key, _)| key != k);
                    bound.push((k, Arc::clone(v)));
                }
            }
        }
    }
    Collected {
        level: *meta.level(),
        target: meta.target(),
        span: span
            .as_ref()
            .map(tracing_subscriber::registry::SpanRef::name),
        fields,
        context,
        bound,
    }
}
