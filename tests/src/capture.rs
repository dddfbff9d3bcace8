//! A `tracing` layer that records spans and events for exact assertions.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// A span as the layer saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanRecord {
    /// The span's id (`Id::into_u64`).
    pub id: u64,
    /// The span's name.
    pub name: String,
    /// Its level.
    pub level: Level,
    /// The name of its parent span, if any.
    pub parent: Option<String>,
    /// Every field with a value, rendered with `Debug` (strings without quotes).
    pub fields: BTreeMap<String, String>,
    /// Whether the span was closed.
    pub closed: bool,
}

/// An event as the layer saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// The event's target.
    pub target: String,
    /// Its level.
    pub level: Level,
    /// The name of the span it belongs to, if any.
    pub span: Option<String>,
    /// Its fields, `message` included.
    pub fields: BTreeMap<String, String>,
}

/// What the layer recorded.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    /// Spans in creation order.
    pub spans: Vec<SpanRecord>,
    /// Events in emission order.
    pub events: Vec<EventRecord>,
}

impl Captured {
    /// The spans named `name`.
    pub fn spans_named(&self, name: &str) -> Vec<&SpanRecord> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }

    /// The events with target `target`.
    pub fn events_for(&self, target: &str) -> Vec<&EventRecord> {
        self.events.iter().filter(|e| e.target == target).collect()
    }
}

struct FieldMap<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldMap<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// The recording layer; clone the handle to read what it saw.
#[derive(Clone, Debug, Default)]
pub struct Capture(Arc<Mutex<Captured>>);

impl Captured {
    /// The latest span with this id (ids are reused after close).
    fn span_mut(&mut self, id: &Id) -> Option<&mut SpanRecord> {
        self.spans.iter_mut().rev().find(|s| s.id == id.into_u64())
    }
}

impl Capture {
    /// A snapshot of everything recorded so far.
    pub fn captured(&self) -> Captured {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` with a registry plus this layer as the thread's default subscriber.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut FieldMap(&mut fields));
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.name().to_owned());
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spans
            .push(SpanRecord {
                id: id.into_u64(),
                name: attrs.metadata().name().to_owned(),
                level: *attrs.metadata().level(),
                parent,
                fields,
                closed: false,
            });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(span) = captured.span_mut(id) {
            values.record(&mut FieldMap(&mut span.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut FieldMap(&mut fields));
        let span = ctx.event_span(event).map(|s| s.name().to_owned());
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .events
            .push(EventRecord {
                target: event.metadata().target().to_owned(),
                level: *event.metadata().level(),
                span,
                fields,
            });
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let mut captured = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(span) = captured.span_mut(&id) {
            span.closed = true;
        }
    }
}
