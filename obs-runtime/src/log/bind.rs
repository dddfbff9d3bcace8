//! Fields bound to a span, carried by every log line inside it.

use std::fmt::{self};

use tracing::Span;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

/// Fields bound to a span with [`bind`].
#[derive(Default)]
pub(super) struct Bound(pub(super) Vec<(&'static str, String)>);

/// Binds `key = value` to `span`: every log line emitted inside it (or inside its
/// descendants, across `.await`s when the span instruments the future) carries the field.
/// A later binding of the same key replaces the earlier one. Returns `false` when the
/// span is disabled or the subscriber is not built on `tracing_subscriber::Registry`.
pub fn bind(span: &Span, key: &'static str, value: impl fmt::Display) -> bool {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let data = registry.span(id)?;
        let mut extensions = data.extensions_mut();
        let value = value.to_string();
        if let Some(bound) = extensions.get_mut::<Bound>() {
            bound.0.retain(|(k, _)| *k != key);
            bound.0.push((key, value));
        } else {
            extensions.insert(Bound(vec![(key, value)]));
        }
        Some(())
    })
    .flatten()
    .is_some()
}
