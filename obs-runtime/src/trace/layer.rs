//! The `tracing-subscriber` layer that gives spans W3C identity and records them.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Span, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::record::{EventFields, SpanLimits, truncated};
use super::{
    AttrValue, EventRecord, Pipeline, Sampler, SpanContext, SpanId, SpanKind, SpanRecord, Status,
    TraceId,
};
use crate::metrics::exemplar;
use crate::metrics::self_metrics::{SPAN_LIMITS, SpanLimit};
use crate::time::unix_nanos;
use crate::trace::propagation::Baggage;

use super::fields::SpanFields;
use super::state::{Entered, ExemplarMode, STACK, SpanState, publish_top, take_pending};
/// Assigns trace and span ids, samples, records and exports spans. See the
/// [module documentation](super).
pub struct TraceLayer {
    sampler: Sampler,
    pipeline: Option<Pipeline>,
    limits: SpanLimits,
}

impl fmt::Debug for TraceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceLayer")
            .field("sampler", &self.sampler)
            .field("exporting", &self.pipeline.is_some())
            .field("limits", &self.limits)
            .finish()
    }
}

impl TraceLayer {
    /// A layer that samples with `sampler` and exports nothing until
    /// [`with_pipeline`](Self::with_pipeline): spans still get ids, so logs carry
    /// `trace_id` and outgoing requests propagate the context.
    pub fn new(sampler: Sampler) -> Self {
        Self {
            sampler,
            pipeline: None,
            limits: SpanLimits::default(),
        }
    }

    /// Applies `limits` to recorded spans (default [`SpanLimits::default`]).
    #[must_use]
    pub fn with_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sends finished spans to `pipeline`.
    #[must_use]
    pub fn with_pipeline(mut self, pipeline: &Pipeline) -> Self {
        exemplar::context::enable();
        self.pipeline = Some(pipeline.clone());
        self
    }

    /// How the metric updates inside a span with this sampling decision keep exemplars:
    /// confirmed when it is exported, pending when the tail sampler decides later.
    fn exemplar_mode(&self, sampled: bool) -> ExemplarMode {
        match &self.pipeline {
            Some(_) if sampled => ExemplarMode::Kept,
            Some(p) if p.tail_sampling() => ExemplarMode::Pending,
            _ => ExemplarMode::Off,
        }
    }

    /// Whether a span with this sampling decision is recorded.
    fn recording(&self, sampled: bool) -> bool {
        self.pipeline
            .as_ref()
            .is_some_and(|p| sampled || p.tail_sampling())
    }

    fn new_record(meta: &'static tracing::Metadata<'static>, state: &SpanState) -> Box<SpanRecord> {
        Box::new(SpanRecord {
            trace_id: state.context.trace_id,
            span_id: state.context.span_id,
            parent_span_id: state.parent,
            parent_remote: state.parent_remote,
            trace_state: state.trace_state.clone(),
            sampled: state.context.sampled,
            name: Cow::Borrowed(meta.name()),
            kind: SpanKind::Internal,
            start_unix_nanos: state.start,
            end_unix_nanos: 0,
            attributes: Vec::with_capacity(meta.fields().len()),
            events: Vec::new(),
            dropped_events: 0,
            dropped_attributes: 0,
            status: Status::Unset,
            target: meta.target(),
            local_root: state.parent.is_none() || state.parent_remote,
            local_root_id: state.local_root,
        })
    }
}

impl<S> Layer<S> for TraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let parent = if let Some(parent) = attrs.parent() {
            ctx.span(parent)
        } else if attrs.is_contextual() {
            ctx.lookup_current()
        } else {
            None
        };
        let mut local_root = None;
        let parent = parent.and_then(|p| {
            p.extensions().get::<SpanState>().map(|s| {
                local_root = Some(s.local_root);
                (s.context, s.trace_state.clone(), s.baggage.clone())
            })
        });
        // No local parent: the remote caller's span, if `with_remote_parent` set one.
        let (parent, parent_remote) = match parent {
            Some(local) => (Some(local), false),
            None => match take_pending() {
                Some(p) => (Some((p.context, p.trace_state, p.baggage)), true),
                None => (None, false),
            },
        };
        let baggage = parent.as_ref().and_then(|(_, _, b)| b.clone());
        let (trace_id, parent_id, sampled, trace_state) =
            if let Some((parent, trace_state, _)) = parent {
                (
                    parent.trace_id,
                    Some(parent.span_id),
                    self.sampler.should_sample(Some(&parent), parent.trace_id),
                    trace_state,
                )
            } else {
                let trace_id = TraceId::random();
                let sampled = self.sampler.should_sample(None, trace_id);
                (trace_id, None, sampled, None)
            };
        let span_id = SpanId::random();
        let mut state = SpanState {
            context: SpanContext {
                trace_id,
                span_id,
                sampled,
                remote: false,
            },
            parent: parent_id,
            parent_remote,
            local_root: local_root.unwrap_or(span_id),
            trace_state,
            baggage,
            start: 0,
            record: None,
            exemplars: self.exemplar_mode(sampled),
        };
        if self.recording(sampled) {
            state.start = unix_nanos();
            let mut record = Self::new_record(span.metadata(), &state);
            attrs.record(&mut SpanFields(
                &mut record,
                span.metadata(),
                true,
                &self.limits,
            ));
            state.record = Some(record);
        }
        span.extensions_mut().insert(state);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let meta = span.metadata();
        let mut extensions = span.extensions_mut();
        if let Some(record) = extensions
            .get_mut::<SpanState>()
            .and_then(|s| s.record.as_mut())
        {
            values.record(&mut SpanFields(record, meta, false, &self.limits));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let Some(record) = extensions
            .get_mut::<SpanState>()
            .and_then(|s| s.record.as_mut())
        else {
            return;
        };
        if record.events.len() >= self.limits.event_count {
            record.dropped_events = record.dropped_events.saturating_add(1);
            SPAN_LIMITS.with(SpanLimit::EventCount).inc();
            return;
        }
        let meta = event.metadata();
        if meta.target() == crate::trace::ERROR_LOG_TARGET
            || meta.target() == crate::trace::ACCESS_TARGET
        {
            // The log echo of an `#[observe(err(..))]` failure: the span already has the
            // `exception` event with the same facts.
            return;
        }
        let mut fields = EventFields::named(meta.name());
        event.record(&mut fields);
        let max = self.limits.attribute_value_length;
        for (key, value) in &mut fields.attributes {
            if crate::redact::sensitive_key(key) {
                *value = AttrValue::Str(Cow::Borrowed(crate::redact::REDACTED));
                continue;
            }
            if let AttrValue::Str(s) = value {
                if let Cow::Owned(masked) = crate::redact::scrub(s) {
                    *s = Cow::Owned(masked);
                }
                if let Some(cut) = truncated(s, max) {
                    *value = AttrValue::Str(Cow::Owned(cut.to_owned()));
                    SPAN_LIMITS.with(SpanLimit::AttributeValueLength).inc();
                }
            }
        }
        if let Some(message) = &mut fields.message {
            if let Cow::Owned(masked) = crate::redact::scrub(message) {
                *message = masked;
            }
            if let Some(cut) = truncated(message, max) {
                *message = cut.to_owned();
                SPAN_LIMITS.with(SpanLimit::AttributeValueLength).inc();
            }
        }
        record.events.push(EventRecord {
            name: fields
                .message
                .map_or(Cow::Borrowed(meta.name()), Cow::Owned),
            time_unix_nanos: unix_nanos(),
            attributes: fields.attributes,
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let Some(entered) = span.extensions().get::<SpanState>().map(|s| Entered {
            id: id.into_u64(),
            context: s.context,
            exemplars: s.exemplars,
        }) else {
            return;
        };
        let _ = STACK.try_with(|stack| {
            if let Ok(mut stack) = stack.try_borrow_mut() {
                stack.push(entered);
                publish_top(&stack);
            }
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let id = id.into_u64();
        let _ = STACK.try_with(|stack| {
            if let Ok(mut stack) = stack.try_borrow_mut() {
                if stack.last().is_some_and(|e| e.id == id) {
                    stack.pop();
                } else if let Some(i) = stack.iter().rposition(|e| e.id == id) {
                    stack.remove(i);
                }
                publish_top(&stack);
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(pipeline) = &self.pipeline else {
            return;
        };
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let record = span
            .extensions_mut()
            .get_mut::<SpanState>()
            .and_then(|s| s.record.take());
        if let Some(mut record) = record {
            if !(record.sampled || pipeline.tail_sampling()) {
                return;
            }
            record.end_unix_nanos = unix_nanos().max(record.start_unix_nanos);
            pipeline.push(record);
        }
    }
}

/// Runs `f` on the obs state of `span`, when the obs layer is installed in its subscriber.
fn with_state<R>(
    span: &Span,
    f: impl FnOnce(&mut SpanState, Option<&TraceLayer>, &'static tracing::Metadata<'static>) -> R,
) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let layer = dispatch.downcast_ref::<TraceLayer>();
        let data = registry.span(id)?;
        let meta = data.metadata();
        let mut extensions = data.extensions_mut();
        let state = extensions.get_mut::<SpanState>()?;
        Some(f(state, layer, meta))
    })
    .flatten()
}

/// The current span's context, if the obs layer is installed and a span is entered.
///
/// ```
/// assert!(obs_runtime::trace::current().is_none());
/// ```
pub fn current() -> Option<SpanContext> {
    current_with_state().map(|(context, _)| context)
}

/// The current span's context and the W3C `tracestate` of its trace.
pub fn current_with_state() -> Option<(SpanContext, Option<Arc<str>>)> {
    let span = Span::current();
    with_state(&span, |state, _, _| {
        (state.context, state.trace_state.clone())
    })
}

/// The W3C baggage of the current span's trace (received by its local root, see
/// [`set_baggage`]).
pub fn current_baggage() -> Option<Arc<Baggage>> {
    let span = Span::current();
    with_state(&span, |state, _, _| state.baggage.clone()).flatten()
}

/// Attaches W3C `baggage` to `span` and the spans created under it, so that outgoing
/// requests made inside them carry it on ([`crate::trace::propagation::inject`]). Returns `false`
/// when the span is disabled or the obs layer is not installed.
///
/// ```
/// use obs_runtime::trace::propagation::Baggage;
/// use obs_runtime::trace::{self, Sampler, TraceLayer};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(TraceLayer::new(Sampler::default()));
/// tracing::subscriber::with_default(subscriber, || {
///     let request = tracing::info_span!("request");
///     assert!(trace::set_baggage(&request, Baggage::parse("tenant=acme")));
///     tracing::info_span!(parent: &request, "child").in_scope(|| {
///         assert_eq!(trace::current_baggage().unwrap().get("tenant"), Some("acme"));
///     });
/// });
/// ```
pub fn set_baggage(span: &Span, baggage: Baggage) -> bool {
    with_state(span, |state, _, _| {
        state.baggage = (!baggage.is_empty()).then(|| Arc::new(baggage));
    })
    .is_some()
}

/// Makes `span` the local root of a trace started by a remote caller: it joins the
/// caller's trace, with the caller's span as its parent, and follows the caller's
/// sampling decision (under a parent-based sampler). Call it before entering the span or
/// creating children. Returns `false` when the span is disabled, already has a local
/// parent, or the obs layer is not installed.
///
/// A span that was not sampled when it started and becomes sampled here keeps only the
/// fields recorded from now on; prefer [`with_remote_parent`](super::with_remote_parent), which decides before the
/// span starts.
///
/// ```
/// use obs_runtime::trace::propagation;
/// use obs_runtime::trace::{self, Sampler, TraceLayer};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(TraceLayer::new(Sampler::default()));
/// tracing::subscriber::with_default(subscriber, || {
///     let caller = propagation::parse_traceparent(
///         "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
///     )
///     .unwrap();
///     let span = tracing::info_span!("GET /orders/{id}", otel.kind = "server");
///     assert!(trace::set_parent(&span, &caller, None));
///     let _entered = span.enter();
///     let current = trace::current().unwrap();
///     assert_eq!(current.trace_id, caller.trace_id);
///     assert_ne!(current.span_id, caller.span_id);
/// });
/// ```
pub fn set_parent(span: &Span, parent: &SpanContext, trace_state: Option<&str>) -> bool {
    let id = span.id();
    let updated = with_state(span, |state, layer, meta| {
        if state.parent.is_some() && !state.parent_remote {
            return None;
        }
        let sampled = layer.map_or(parent.sampled, |l| {
            l.sampler.should_sample(Some(parent), parent.trace_id)
        });
        state.context.trace_id = parent.trace_id;
        state.context.sampled = sampled;
        state.parent = Some(parent.span_id);
        state.parent_remote = true;
        state.trace_state = trace_state.map(Arc::from);
        state.exemplars = layer.map_or(ExemplarMode::Off, |l| l.exemplar_mode(sampled));
        if let Some(layer) = layer
            && layer.recording(sampled)
            && state.record.is_none()
        {
            state.start = unix_nanos();
            state.record = Some(TraceLayer::new_record(meta, state));
        }
        if let Some(record) = &mut state.record {
            record.trace_id = parent.trace_id;
            record.parent_span_id = Some(parent.span_id);
            record.parent_remote = true;
            record.trace_state.clone_from(&state.trace_state);
            record.sampled = sampled;
            record.local_root = true;
        }
        Some((state.context, state.exemplars))
    })
    .flatten();
    let Some((context, exemplars)) = updated else {
        return false;
    };
    if let Some(id) = id {
        let id = id.into_u64();
        let _ = STACK.try_with(|stack| {
            if let Ok(mut stack) = stack.try_borrow_mut() {
                for e in stack.iter_mut().filter(|e| e.id == id) {
                    e.context = context;
                    e.exemplars = exemplars;
                }
                publish_top(&stack);
            }
        });
    }
    true
}
