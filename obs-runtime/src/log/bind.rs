//! Fields bound to a span, carried by every log line inside it.

use std::fmt::{self};
use std::sync::Arc;

use tracing::Span;
use tracing::field::{Field, Visit};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Fields bound to a span with [`bind`]: values scrubbed of secrets once, when bound, and
/// shared (not copied) by every line and record written inside the span.
#[derive(Default)]
pub(super) struct Bound(pub(super) Vec<(&'static str, Arc<str>)>);

/// Binds `key = value` to `span`: every log line emitted inside it (or inside its
/// descendants, across `.await`s when the span instruments the future) carries the field.
/// A later binding of the same key replaces the earlier one. Returns `false` when the
/// span is disabled or the subscriber is not built on `tracing_subscriber::Registry`.
pub fn bind(span: &Span, key: &'static str, value: impl fmt::Display) -> bool {
    bind_all(span, [(key, Arc::from(value.to_string()))])
}

/// Binds several fields at once (one lookup of the span). A value is scrubbed of secrets
/// and kept as it is (shared, not copied) when it holds none.
pub(crate) fn bind_all(
    span: &Span,
    fields: impl IntoIterator<Item = (&'static str, Arc<str>)>,
) -> bool {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let data = registry.span(id)?;
        let mut extensions = data.extensions_mut();
        if extensions.get_mut::<Bound>().is_none() {
            extensions.insert(Bound::default());
        }
        let bound = extensions.get_mut::<Bound>()?;
        for (key, value) in fields {
            bound.set(key, value);
        }
        Some(())
    })
    .flatten()
    .is_some()
}

impl Bound {
    /// Sets `key`, replacing an earlier binding of it.
    pub(super) fn set(&mut self, key: &'static str, value: Arc<str>) {
        let value: Arc<str> = match crate::redact::scrub(&value) {
            std::borrow::Cow::Borrowed(_) => value,
            std::borrow::Cow::Owned(masked) => masked.into(),
        };
        self.0.retain(|(k, _)| *k != key);
        self.0.push((key, value));
    }
}

/// Binds the span fields named in its list, when a span records them: the fields a user
/// marks (`OBS_LOG_SPAN_FIELDS=order_id,user_id`, [`Builder::log_span_fields`]) follow
/// to every log line and record inside the span, as if bound with [`bind`].
///
/// [`Builder::log_span_fields`]: crate::init::Builder::log_span_fields
pub(crate) struct SpanFieldsLayer {
    names: Vec<String>,
}

impl SpanFieldsLayer {
    pub(crate) fn new(names: Vec<String>) -> Self {
        Self { names }
    }

    fn bind<S>(
        &self,
        id: &tracing::span::Id,
        record: impl FnOnce(&mut Picker<'_>),
        ctx: &Context<'_, S>,
    ) where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut picker = Picker {
            names: &self.names,
            picked: Vec::new(),
        };
        record(&mut picker);
        if picker.picked.is_empty() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<Bound>().is_none() {
            extensions.insert(Bound::default());
        }
        if let Some(bound) = extensions.get_mut::<Bound>() {
            for (key, value) in picker.picked {
                bound.set(key, value);
            }
        }
    }
}

impl<S> Layer<S> for SpanFieldsLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        self.bind(id, |picker| attrs.record(picker), &ctx);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        self.bind(id, |picker| values.record(picker), &ctx);
    }
}

/// Picks the listed fields' values, as text.
struct Picker<'a> {
    names: &'a [String],
    picked: Vec<(&'static str, Arc<str>)>,
}

impl Visit for Picker<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.names.iter().any(|n| n == field.name()) {
            self.picked.push((field.name(), Arc::from(value)));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.names.iter().any(|n| n == field.name()) {
            self.picked
                .push((field.name(), Arc::from(format!("{value:?}"))));
        }
    }
}
