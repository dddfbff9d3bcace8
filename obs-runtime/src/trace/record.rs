//! What a recorded span holds.

use std::borrow::Cow;
use std::fmt;

use std::sync::Arc;
use tracing::field::{Field, Visit};

use super::{SpanId, TraceId};

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(Cow<'static, str>),
    /// A signed integer (unsigned values above `i64::MAX` become strings).
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => f.write_str(s),
            Self::Int(n) => write!(f, "{n}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// The role of a span (`otel.kind`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpanKind {
    /// Work inside the process (the default).
    #[default]
    Internal,
    /// Handling an incoming request.
    Server,
    /// Making an outgoing request.
    Client,
    /// Sending a message.
    Producer,
    /// Receiving a message.
    Consumer,
}

impl SpanKind {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        // The spelling every instrumentation uses first, then any case.
        Some(match s {
            "internal" => Self::Internal,
            "server" => Self::Server,
            "client" => Self::Client,
            "producer" => Self::Producer,
            "consumer" => Self::Consumer,
            _ => {
                return [
                    ("internal", Self::Internal),
                    ("server", Self::Server),
                    ("client", Self::Client),
                    ("producer", Self::Producer),
                    ("consumer", Self::Consumer),
                ]
                .into_iter()
                .find(|(name, _)| s.eq_ignore_ascii_case(name))
                .map(|(_, kind)| kind);
            }
        })
    }
}

/// An unsigned field value: an integer when it fits in `i64`, else its decimal text.
pub(crate) fn unsigned(value: u64) -> AttrValue {
    i64::try_from(value).map_or_else(
        |_| AttrValue::Str(Cow::Owned(value.to_string())),
        AttrValue::Int,
    )
}

/// The fields of an event: its `message`, and the others as attributes (shared by span
/// events and log lines). The `log.*` metadata of a `log` crate record is left out: its
/// target is the line's target, the rest is noise.
#[derive(Default)]
pub(crate) struct EventFields {
    pub(crate) message: Option<String>,
    pub(crate) attributes: Vec<(&'static str, AttrValue)>,
    /// A message equal to this is not copied (a span event is named after its callsite
    /// when it has no message of its own).
    pub(crate) name: Option<&'static str>,
}

impl EventFields {
    /// The fields of an event that becomes a span event named `name` without a message.
    pub(crate) fn named(name: &'static str) -> Self {
        Self {
            name: Some(name),
            ..Self::default()
        }
    }

    fn push(&mut self, field: &Field, value: AttrValue) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        // A key written twice (`info!(a = 1, a = 2)`) is one attribute: the last value.
        match self.attributes.iter_mut().find(|(k, _)| *k == name) {
            Some((_, held)) => *held = value,
            None => self.attributes.push((name, value)),
        }
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if self.name != Some(value) {
                self.message = Some(value.to_owned());
            }
        } else {
            self.push(field, AttrValue::Str(Cow::Owned(value.to_owned())));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Formatted once, into the string kept (not formatted, then copied).
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.push(field, AttrValue::Str(Cow::Owned(text)));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, AttrValue::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, unsigned(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, AttrValue::Float(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, AttrValue::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let text = value.to_string();
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.push(field, AttrValue::Str(Cow::Owned(text)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SpanKind;

    #[test]
    fn kinds_parse_in_any_case() {
        assert_eq!(SpanKind::parse("server"), Some(SpanKind::Server));
        assert_eq!(SpanKind::parse("CONSUMER"), Some(SpanKind::Consumer));
        assert_eq!(SpanKind::parse("Internal"), Some(SpanKind::Internal));
        assert_eq!(SpanKind::parse("sideways"), None);
    }
}

/// The span's status (`otel.status_code`, `otel.status_message`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// Not set (the default).
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed.
    Error {
        /// Why (may be empty).
        description: Cow<'static, str>,
    },
}

/// An event inside a span (a `tracing` event, or the `exception` event of `#[observe]`).
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    /// The event's name: its message, or its callsite name.
    pub name: Cow<'static, str>,
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nanos: u64,
    /// Its fields.
    pub attributes: Vec<(&'static str, AttrValue)>,
}

/// A finished span, as exporters receive it.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    /// The trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// The parent span, local or remote.
    pub parent_span_id: Option<SpanId>,
    /// The parent came from another process.
    pub parent_remote: bool,
    /// The W3C `tracestate` inherited from the remote caller.
    pub trace_state: Option<Arc<str>>,
    /// The span was sampled by the head sampler (the W3C flag it propagated).
    pub sampled: bool,
    /// The span's name (`otel.name` overrides the callsite name).
    pub name: Cow<'static, str>,
    /// Its kind.
    pub kind: SpanKind,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// The span's fields, except the `otel.*` ones that set name, kind and status.
    pub attributes: Vec<(&'static str, AttrValue)>,
    /// Events, oldest first, at most [`SpanLimits::event_count`].
    pub events: Vec<EventRecord>,
    /// Events beyond the limit, not kept.
    pub dropped_events: u32,
    /// Attributes beyond the limit, not kept.
    pub dropped_attributes: u32,
    /// Status.
    pub status: Status,
    /// The `tracing` target of the span (its instrumentation scope).
    pub target: &'static str,
    /// The span has no local parent: it ends its trace's part in this process.
    pub local_root: bool,
    /// The span id of this span's local root (its own when `local_root`): the spans one
    /// local root stands for are sampled together, apart from other local roots of the
    /// same trace (a retried request reusing its `traceparent`, say).
    pub local_root_id: SpanId,
}

/// The OpenTelemetry span limits, from `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`,
/// `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` and `OTEL_SPAN_EVENT_COUNT_LIMIT`. They bound a
/// span's memory whatever its inputs: a 300 KB `User-Agent` is kept as its first 4 KiB.
/// What they cut is counted in `obs_span_limits_total{limit}` and, per span, in the
/// exported `dropped_attributes_count` and `dropped_events_count`.
///
/// ```
/// use obs_runtime::trace::SpanLimits;
/// let limits = SpanLimits::default();
/// assert_eq!((limits.attribute_value_length, limits.attribute_count, limits.event_count), (4096, 128, 128));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// Longest string attribute value kept, in bytes (cut at a character boundary). The
    /// OpenTelemetry default is no limit; obs keeps 4 096 bytes, since request-derived
    /// values (`user_agent.original`, `url.path`) come from clients.
    pub attribute_value_length: usize,
    /// Most attributes kept per span (OpenTelemetry default 128).
    pub attribute_count: usize,
    /// Most events kept per span (OpenTelemetry default 128).
    pub event_count: usize,
}

impl Default for SpanLimits {
    fn default() -> Self {
        Self {
            attribute_value_length: 4096,
            attribute_count: 128,
            event_count: SpanRecord::MAX_EVENTS,
        }
    }
}

/// `value` cut to at most `max` bytes at a character boundary; `None` when it fits.
pub(crate) fn truncated(value: &str, max: usize) -> Option<&str> {
    if value.len() <= max {
        return None;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Some(&value[..end])
}

impl SpanRecord {
    /// Most events kept per span by default (the OpenTelemetry default).
    pub const MAX_EVENTS: usize = 128;

    /// The memory this record holds, estimated: its own size, its strings, attributes
    /// and events. What bounds the export queue in bytes.
    pub fn approx_bytes(&self) -> usize {
        fn attrs(list: &[(&'static str, AttrValue)]) -> usize {
            list.iter()
                .map(|(_, v)| {
                    core::mem::size_of::<(&str, AttrValue)>()
                        + match v {
                            AttrValue::Str(Cow::Owned(s)) => s.len(),
                            _ => 0,
                        }
                })
                .sum()
        }
        let name = match &self.name {
            Cow::Owned(s) => s.len(),
            Cow::Borrowed(_) => 0,
        };
        core::mem::size_of::<Self>()
            + name
            + attrs(&self.attributes)
            + self
                .events
                .iter()
                .map(|e| {
                    core::mem::size_of::<EventRecord>()
                        + match &e.name {
                            Cow::Owned(s) => s.len(),
                            Cow::Borrowed(_) => 0,
                        }
                        + attrs(&e.attributes)
                })
                .sum::<usize>()
    }

    /// The attribute named `key`.
    pub fn attribute(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// How long the span lasted, in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }
}

/// The entity producing telemetry: `service.name` and friends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resource {
    /// The attributes, unique by key.
    pub attributes: Vec<(String, AttrValue)>,
}

impl Resource {
    /// The attribute named `key`.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Sets `key`, replacing an earlier value.
    pub fn set(&mut self, key: impl Into<String>, value: AttrValue) {
        let key = key.into();
        if let Some(slot) = self.attributes.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.attributes.push((key, value));
        }
    }
}
