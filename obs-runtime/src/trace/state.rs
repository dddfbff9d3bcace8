//! What the trace layer keeps: each span's state in its extensions, and per thread the
//! entered spans and a pending remote parent.

use std::cell::RefCell;
use std::sync::Arc;

use super::{SpanContext, SpanId, SpanRecord};
use crate::metrics::exemplar;
use crate::trace::propagation::Baggage;

/// What the layer keeps in each span's extensions.
pub(crate) struct SpanState {
    pub(crate) context: SpanContext,
    pub(super) parent: Option<SpanId>,
    pub(super) parent_remote: bool,
    /// The span id of the local root (its own for a root).
    pub(super) local_root: SpanId,
    pub(crate) trace_state: Option<Arc<str>>,
    /// W3C baggage received with the trace (inherited by children).
    pub(super) baggage: Option<Arc<Baggage>>,
    pub(super) start: u64,
    /// Present while the span may be exported. Roots always have one when a pipeline is
    /// set, because [`set_parent`] may still make them sampled.
    pub(super) record: Option<Box<SpanRecord>>,
    /// Whether the span's updates keep exemplars, and how.
    pub(super) exemplars: ExemplarMode,
}

/// How the metric updates inside a span keep exemplars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ExemplarMode {
    /// Not at all: the trace is not exported.
    Off,
    /// The trace is sampled and exported.
    Kept,
    /// The trace waits for the tail sampler: shown only once it is kept and exported.
    Pending,
}

/// The context the trace layer gave the span owning `extensions`.
pub(crate) fn layer_state_context(
    extensions: &tracing_subscriber::registry::Extensions<'_>,
) -> Option<SpanContext> {
    extensions.get::<SpanState>().map(|s| s.context)
}

/// A remote parent for the next span created on this thread without a local parent.
pub(super) struct Pending {
    pub(super) context: SpanContext,
    pub(super) trace_state: Option<Arc<str>>,
    pub(super) baggage: Option<Arc<Baggage>>,
}

thread_local! {
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

pub(super) fn take_pending() -> Option<Pending> {
    PENDING
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.take()))
        .ok()
        .flatten()
}

/// Runs `make`, in which the first span created without a local parent becomes the local
/// root of the remote caller's trace: its parent is the caller's span, it follows the
/// caller's sampling decision (under a parent-based sampler), and it carries the caller's
/// `tracestate` and baggage. This is how the axum layer (`ObsLayer`) starts server
/// spans; unlike [`set_parent`](super::set_parent), the decision is known when the span starts, so its
/// creation-time fields are recorded whenever it is sampled.
///
/// ```
/// use obs_runtime::trace::propagation;
/// use obs_runtime::trace::{self, Sampler, TraceLayer};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(TraceLayer::new(Sampler::default()));
/// tracing::subscriber::with_default(subscriber, || {
///     let headers = [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")];
///     let incoming = propagation::extract(|n| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)).unwrap();
///     let span = trace::with_remote_parent(&incoming, || tracing::info_span!("GET /orders", otel.kind = "server"));
///     let _entered = span.enter();
///     assert_eq!(trace::current().unwrap().trace_id, incoming.context.trace_id);
/// });
/// ```
pub fn with_remote_parent<R>(
    incoming: &crate::trace::propagation::Extracted,
    make: impl FnOnce() -> R,
) -> R {
    struct Restore(Option<Pending>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            let _ = PENDING.try_with(|p| {
                if let Ok(mut p) = p.try_borrow_mut() {
                    *p = previous;
                }
            });
        }
    }
    let pending = Pending {
        context: incoming.context,
        trace_state: incoming.trace_state.as_deref().map(Arc::from),
        baggage: (!incoming.baggage.is_empty()).then(|| Arc::new(incoming.baggage.clone())),
    };
    let previous = PENDING
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.replace(pending)))
        .ok()
        .flatten();
    let _restore = Restore(previous);
    make()
}

/// One entered span on this thread.
#[derive(Clone, Copy)]
pub(super) struct Entered {
    pub(super) id: u64,
    pub(super) context: SpanContext,
    pub(super) exemplars: ExemplarMode,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    pub(super) static STACK: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// Writes the top of `stack` down into the exemplar context of metric updates.
pub(super) fn publish_top(stack: &[Entered]) {
    let (trace, span, pending) = match stack.last() {
        Some(top) if top.exemplars != ExemplarMode::Off => (
            top.context.trace_id.to_u128(),
            top.context.span_id.to_u64(),
            top.exemplars == ExemplarMode::Pending,
        ),
        _ => (0, 0, false),
    };
    exemplar::context::set(trace, span, pending);
}
