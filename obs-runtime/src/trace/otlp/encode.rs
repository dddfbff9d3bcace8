//! Spans as an OTLP `ExportTraceServiceRequest` (the official `trace.v1` messages), written
//! straight from obs's records into the request body: the resource encoded once per
//! exporter, a scope per `tracing` target.

use super::wire::{bytes, fixed32, fixed64, key_value, nested, scopes, uint};
use crate::trace::{SpanKind, SpanRecord, Status};

/// The W3C `sampled` flag, and the OTLP flags saying whether the parent is remote.
const FLAG_SAMPLED: u32 = 0x01;
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

/// `Span.SpanKind` numbers.
fn kind(kind: SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// The body of one `Span`.
fn span(buf: &mut Vec<u8>, record: &SpanRecord) {
    bytes(buf, 1, &record.trace_id.to_bytes());
    bytes(buf, 2, &record.span_id.to_bytes());
    bytes(
        buf,
        3,
        record.trace_state.as_deref().unwrap_or_default().as_bytes(),
    );
    if let Some(parent) = record.parent_span_id {
        bytes(buf, 4, &parent.to_bytes());
    }
    bytes(buf, 5, record.name.as_bytes());
    uint(buf, 6, kind(record.kind));
    fixed64(buf, 7, record.start_unix_nanos);
    fixed64(buf, 8, record.end_unix_nanos);
    for (k, v) in &record.attributes {
        key_value(buf, 9, k, v);
    }
    uint(buf, 10, u64::from(record.dropped_attributes));
    for event in &record.events {
        nested(buf, 11, |buf| {
            fixed64(buf, 1, event.time_unix_nanos);
            bytes(buf, 2, event.name.as_bytes());
            for (k, v) in &event.attributes {
                key_value(buf, 3, k, v);
            }
        });
    }
    uint(buf, 12, u64::from(record.dropped_events));
    match &record.status {
        Status::Unset => {}
        // `Status`: message = 2, code = 3 (OK = 1, ERROR = 2).
        Status::Ok => nested(buf, 15, |buf| uint(buf, 3, 1)),
        Status::Error { description } => nested(buf, 15, |buf| {
            bytes(buf, 2, description.as_bytes());
            uint(buf, 3, 2);
        }),
    }
    let mut flags = FLAG_HAS_IS_REMOTE;
    if record.sampled {
        flags |= FLAG_SAMPLED;
    }
    if record.parent_remote {
        flags |= FLAG_IS_REMOTE;
    }
    fixed32(buf, 16, flags);
}

/// The body of one export request for `batch`: `resource` (a `Resource` body) once, a
/// scope per `tracing` target (in the order targets first appear), the spans in batch
/// order within their scope.
pub(crate) fn traces_request(batch: &[SpanRecord], resource: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64 + resource.len() + batch.len() * 256);
    // ExportTraceServiceRequest.resource_spans = 1
    nested(&mut buf, 1, |buf| {
        // ResourceSpans.resource = 1 (present even without attributes)
        nested(buf, 1, |buf| buf.extend_from_slice(resource));
        for target in scopes(batch, |s| s.target) {
            // ResourceSpans.scope_spans = 2
            nested(buf, 2, |buf| {
                // ScopeSpans.scope = 1: InstrumentationScope.name = 1
                nested(buf, 1, |buf| bytes(buf, 1, target.as_bytes()));
                for record in batch.iter().filter(|s| s.target == target) {
                    // ScopeSpans.spans = 2
                    nested(buf, 2, |buf| span(buf, record));
                }
            });
        }
    });
    buf
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, InstrumentationScope, KeyValue, any_value::Value,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
    use proptest::prelude::*;
    use prost::Message as _;

    use super::traces_request;
    use crate::trace::otlp::wire;
    use crate::trace::{
        AttrValue, EventRecord, SpanId, SpanKind, SpanRecord, Status as ObsStatus, TraceId,
    };

    fn string(s: &str) -> AnyValue {
        AnyValue {
            value: Some(Value::StringValue(s.to_owned())),
        }
    }

    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(value),
            ..KeyValue::default()
        }
    }

    fn record(target: &'static str, n: u8) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::from_bytes([n; 16]).unwrap(),
            span_id: SpanId::from_bytes([n; 8]).unwrap(),
            parent_span_id: None,
            parent_remote: false,
            trace_state: None,
            sampled: true,
            name: Cow::Borrowed("work"),
            kind: SpanKind::Internal,
            start_unix_nanos: 1_000,
            end_unix_nanos: 2_000,
            attributes: Vec::new(),
            events: Vec::new(),
            dropped_events: 0,
            dropped_attributes: 0,
            status: ObsStatus::Unset,
            target,
            local_root: true,
            local_root_id: SpanId::from_bytes([n; 8]).unwrap(),
        }
    }

    /// The request as the official messages decode it.
    fn decode(batch: &[SpanRecord], resource: &[(String, AttrValue)]) -> ExportTraceServiceRequest {
        let body = traces_request(batch, &wire::resource(resource));
        ExportTraceServiceRequest::decode(body.as_slice()).expect("a valid request")
    }

    #[test]
    fn a_failed_server_span_decodes_field_for_field() {
        let mut failed = record("orders", 7);
        failed.parent_span_id = Some(SpanId::from_bytes([9; 8]).unwrap());
        failed.parent_remote = true;
        failed.trace_state = Some(Arc::from("vendor=1"));
        failed.sampled = false;
        failed.name = Cow::Owned("GET /orders/{id}".into());
        failed.kind = SpanKind::Server;
        failed.attributes = vec![
            ("http.route", AttrValue::Str(Cow::Borrowed("/orders/{id}"))),
            ("http.response.status_code", AttrValue::Int(500)),
        ];
        failed.events = vec![EventRecord {
            name: Cow::Borrowed("exception"),
            time_unix_nanos: 1_500,
            attributes: vec![("exception.message", AttrValue::Str(Cow::Borrowed("boom")))],
        }];
        failed.dropped_events = 2;
        failed.dropped_attributes = 3;
        failed.status = ObsStatus::Error {
            description: Cow::Borrowed("boom"),
        };
        let resource = vec![(
            "service.name".to_owned(),
            AttrValue::Str(Cow::Borrowed("orders")),
        )];
        let expected = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(ProtoResource {
                    attributes: vec![kv("service.name", string("orders"))],
                    ..ProtoResource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "orders".into(),
                        ..InstrumentationScope::default()
                    }),
                    spans: vec![Span {
                        trace_id: vec![7; 16],
                        span_id: vec![7; 8],
                        trace_state: "vendor=1".into(),
                        parent_span_id: vec![9; 8],
                        flags: 0x300,
                        name: "GET /orders/{id}".into(),
                        kind: 2,
                        start_time_unix_nano: 1_000,
                        end_time_unix_nano: 2_000,
                        attributes: vec![
                            kv("http.route", string("/orders/{id}")),
                            kv(
                                "http.response.status_code",
                                AnyValue {
                                    value: Some(Value::IntValue(500)),
                                },
                            ),
                        ],
                        dropped_attributes_count: 3,
                        events: vec![Event {
                            time_unix_nano: 1_500,
                            name: "exception".into(),
                            attributes: vec![kv("exception.message", string("boom"))],
                            dropped_attributes_count: 0,
                        }],
                        dropped_events_count: 2,
                        status: Some(Status {
                            message: "boom".into(),
                            code: 2,
                        }),
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        assert_eq!(decode(&[failed], &resource), expected);
    }

    #[test]
    fn spans_group_by_target_in_order_of_appearance() {
        let batch = [record("b", 1), record("a", 2), record("b", 3)];
        let request = decode(&batch, &[]);
        let scopes = &request.resource_spans[0].scope_spans;
        let names: Vec<&str> = scopes
            .iter()
            .map(|s| s.scope.as_ref().unwrap().name.as_str())
            .collect();
        assert_eq!(names, ["b", "a"]);
        let first: Vec<u8> = scopes[0].spans.iter().map(|s| s.span_id[0]).collect();
        assert_eq!(first, [1, 3]);
        assert_eq!(scopes[1].spans[0].span_id, vec![2; 8]);
        assert_eq!(scopes[0].spans[0].flags, 0x101);
        assert_eq!(scopes[0].spans[0].kind, 1);
        assert_eq!(
            request.resource_spans[0].resource,
            Some(ProtoResource::default())
        );
    }

    #[test]
    fn an_ok_status_has_code_one_and_no_message() {
        let mut ok = record("t", 1);
        ok.status = ObsStatus::Ok;
        let span = &decode(&[ok], &[]).resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            span.status,
            Some(Status {
                message: String::new(),
                code: 1
            })
        );
    }

    fn attr_value() -> impl Strategy<Value = AttrValue> {
        prop_oneof![
            ".{0,300}".prop_map(|s| AttrValue::Str(Cow::Owned(s))),
            any::<i64>().prop_map(AttrValue::Int),
            any::<bool>().prop_map(AttrValue::Bool),
            (-1e12f64..1e12).prop_map(AttrValue::Float),
        ]
    }

    proptest! {
        /// Whatever a span holds, the official messages decode exactly it back.
        #[test]
        fn any_span_round_trips(
            values in proptest::collection::vec(attr_value(), 0..40),
            events in proptest::collection::vec((".{0,40}", any::<u64>(), attr_value()), 0..5),
            name in ".{0,200}",
            start in any::<u64>(),
            end in any::<u64>(),
        ) {
            const KEYS: [&str; 4] = ["a", "b.c", "", "long.key.name"];
            let mut span = record("t", 3);
            span.name = Cow::Owned(name.clone());
            span.start_unix_nanos = start;
            span.end_unix_nanos = end;
            span.attributes = values.iter().enumerate().map(|(i, v)| (KEYS[i % 4], v.clone())).collect();
            span.events = events.iter().map(|(n, t, v)| EventRecord {
                name: Cow::Owned(n.clone()),
                time_unix_nanos: *t,
                attributes: vec![("x", v.clone())],
            }).collect();
            let request = decode(std::slice::from_ref(&span), &[]);
            let got = &request.resource_spans[0].scope_spans[0].spans[0];
            prop_assert_eq!(&got.name, &name);
            prop_assert_eq!(got.start_time_unix_nano, start);
            prop_assert_eq!(got.end_time_unix_nano, end);
            prop_assert_eq!(got.attributes.len(), values.len());
            for (got, (key, want)) in got.attributes.iter().zip(&span.attributes) {
                prop_assert_eq!(&got.key, key);
                prop_assert_eq!(got.value.as_ref(), Some(&expected_value(want)));
            }
            prop_assert_eq!(got.events.len(), events.len());
            for (got, want) in got.events.iter().zip(&span.events) {
                prop_assert_eq!(&got.name, &want.name);
                prop_assert_eq!(got.time_unix_nano, want.time_unix_nanos);
                prop_assert_eq!(got.attributes[0].value.as_ref(), Some(&expected_value(&want.attributes[0].1)));
            }
        }
    }

    fn expected_value(value: &AttrValue) -> AnyValue {
        AnyValue {
            value: Some(match value {
                AttrValue::Str(s) => Value::StringValue(s.to_string()),
                AttrValue::Int(n) => Value::IntValue(*n),
                AttrValue::Float(x) => Value::DoubleValue(*x),
                AttrValue::Bool(b) => Value::BoolValue(*b),
            }),
        }
    }
}
