//! Spans, resources and attributes as the OTLP protobuf messages (the official
//! definitions, through `opentelemetry-proto`), built straight from obs's records.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind as ProtoKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status as ProtoStatus,
};

use crate::trace::{AttrValue, Resource, SpanKind, SpanRecord, Status};

/// The W3C `sampled` flag, and the OTLP flags saying whether the parent is remote.
const FLAG_SAMPLED: u32 = 0x01;
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

/// An attribute value as OTLP's `AnyValue`.
pub(crate) fn any_value(value: &AttrValue) -> AnyValue {
    AnyValue {
        value: Some(match value {
            AttrValue::Str(s) => Value::StringValue(s.to_string()),
            AttrValue::Int(n) => Value::IntValue(*n),
            AttrValue::Float(x) => Value::DoubleValue(*x),
            AttrValue::Bool(b) => Value::BoolValue(*b),
        }),
    }
}

/// An attribute value as OTLP's `AnyValue`, its string moved rather than copied.
pub(crate) fn into_any_value(value: AttrValue) -> AnyValue {
    match value {
        AttrValue::Str(s) => AnyValue {
            value: Some(Value::StringValue(s.into_owned())),
        },
        other => any_value(&other),
    }
}

/// One attribute of a record being consumed.
pub(crate) fn into_key_value(key: &str, value: AttrValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(into_any_value(value)),
        ..KeyValue::default()
    }
}

/// One attribute.
pub(crate) fn key_value(key: &str, value: &AttrValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(any_value(value)),
        ..KeyValue::default()
    }
}

/// A resource as OTLP's `Resource`.
pub(crate) fn resource(resource: &Resource) -> ProtoResource {
    ProtoResource {
        attributes: resource
            .attributes
            .iter()
            .map(|(k, v)| key_value(k, v))
            .collect(),
        ..ProtoResource::default()
    }
}

/// The instrumentation scope named `name` (a `tracing` target: a module path).
pub(crate) fn scope(name: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.to_owned(),
        ..InstrumentationScope::default()
    }
}

fn kind(kind: SpanKind) -> i32 {
    (match kind {
        SpanKind::Internal => ProtoKind::Internal,
        SpanKind::Server => ProtoKind::Server,
        SpanKind::Client => ProtoKind::Client,
        SpanKind::Producer => ProtoKind::Producer,
        SpanKind::Consumer => ProtoKind::Consumer,
    }) as i32
}

fn span(record: SpanRecord) -> Span {
    let mut flags = FLAG_HAS_IS_REMOTE;
    if record.sampled {
        flags |= FLAG_SAMPLED;
    }
    if record.parent_remote {
        flags |= FLAG_IS_REMOTE;
    }
    let status = match record.status {
        Status::Unset => None,
        Status::Ok => Some(ProtoStatus {
            code: StatusCode::Ok as i32,
            message: String::new(),
        }),
        Status::Error { description } => Some(ProtoStatus {
            code: StatusCode::Error as i32,
            message: description.into_owned(),
        }),
    };
    Span {
        trace_id: record.trace_id.to_bytes().to_vec(),
        span_id: record.span_id.to_bytes().to_vec(),
        trace_state: record.trace_state.as_deref().unwrap_or_default().to_owned(),
        parent_span_id: record
            .parent_span_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        flags,
        name: record.name.into_owned(),
        kind: kind(record.kind),
        start_time_unix_nano: record.start_unix_nanos,
        end_time_unix_nano: record.end_unix_nanos,
        attributes: record
            .attributes
            .into_iter()
            .map(|(k, v)| into_key_value(k, v))
            .collect(),
        dropped_attributes_count: record.dropped_attributes,
        events: record
            .events
            .into_iter()
            .map(|e| Event {
                time_unix_nano: e.time_unix_nanos,
                name: e.name.into_owned(),
                attributes: e
                    .attributes
                    .into_iter()
                    .map(|(k, v)| into_key_value(k, v))
                    .collect(),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: record.dropped_events,
        status,
        ..Span::default()
    }
}

/// One export request for `batch`: the resource once, a scope per `tracing` target (in
/// the order targets first appear), the spans in batch order within their scope.
pub(crate) fn traces_request(
    batch: Vec<SpanRecord>,
    resource: &ProtoResource,
) -> ExportTraceServiceRequest {
    let mut scopes: Vec<ScopeSpans> = Vec::new();
    for record in batch {
        let target = record.target;
        let at = scopes
            .iter()
            .position(|s| s.scope.as_ref().is_some_and(|scope| scope.name == target))
            .unwrap_or_else(|| {
                scopes.push(ScopeSpans {
                    scope: Some(scope(target)),
                    ..ScopeSpans::default()
                });
                scopes.len() - 1
            });
        scopes[at].spans.push(span(record));
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: scopes,
            ..ResourceSpans::default()
        }],
    }
}
