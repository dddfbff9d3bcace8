//! Log records over OTLP (feature `otlp`): the same transports as spans, the official
//! `logs.v1` messages, one scope per `tracing` target, the resource of the spans.

use std::time::Duration;

use tracing::Level;

use super::export::{LogExporter, LogRecord};
use crate::time::unix_nanos;
use crate::trace::otlp::wire::{
    bytes, fixed32, fixed64, key_str, key_value, nested, scopes, string_value, uint,
};
use crate::trace::otlp::{Sender, Service, wire};
use crate::trace::{ExportError, ExportTarget, Protocol, Resource, TlsConfig};

/// The W3C `sampled` flag in a log record's flags.
const FLAG_SAMPLED: u32 = 0x01;

/// Exports log records over OTLP, from the log pipeline's thread.
pub(crate) struct OtlpLogExporter {
    sender: Sender,
    target: ExportTarget,
    /// The `Resource` message body, encoded once.
    resource: Vec<u8>,
}

impl OtlpLogExporter {
    /// An exporter to `endpoint` (the full `…/v1/logs` URL for HTTP, the server for gRPC).
    pub(crate) fn new(
        protocol: Protocol,
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
        tls: &TlsConfig,
    ) -> Result<Self, ExportError> {
        Ok(Self {
            sender: Sender::new("obs-otlp-logs", protocol, endpoint, headers, timeout, tls)?,
            target: ExportTarget::new(protocol, endpoint),
            resource: Vec::new(),
        })
    }
}

impl LogExporter for OtlpLogExporter {
    fn export(&mut self, batch: Vec<LogRecord>) -> Result<(), ExportError> {
        let body = logs_request(&batch, &self.resource);
        drop(batch);
        self.sender.send(body, Service::Logs)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = wire::resource(&resource.attributes);
    }

    fn target(&self) -> Option<ExportTarget> {
        Some(self.target.clone())
    }
}

/// The OTLP `SeverityNumber` of a `tracing` level.
fn severity(level: Level) -> u64 {
    match level {
        Level::TRACE => 1,
        Level::DEBUG => 5,
        Level::INFO => 9,
        Level::WARN => 13,
        Level::ERROR => 17,
    }
}

/// The body of one `LogRecord`.
fn record(buf: &mut Vec<u8>, record: &LogRecord, observed: u64) {
    fixed64(buf, 1, record.time_unix_nanos);
    uint(buf, 2, severity(record.level));
    bytes(buf, 3, record.level.as_str().as_bytes());
    // body = 5: an AnyValue holding the message.
    nested(buf, 5, |buf| string_value(buf, 1, record.body.as_bytes()));
    for (k, v) in &record.attributes {
        key_value(buf, 6, k, v);
    }
    for (k, v) in &record.bound {
        key_str(buf, 6, k, v);
    }
    uint(buf, 7, u64::from(record.dropped_attributes));
    if let Some(c) = record.context {
        fixed32(buf, 8, if c.sampled { FLAG_SAMPLED } else { 0 });
        bytes(buf, 9, &c.trace_id.to_bytes());
        bytes(buf, 10, &c.span_id.to_bytes());
    }
    fixed64(buf, 11, observed);
}

/// The body of one export request: the resource once, a scope per target in order of
/// appearance, the records in batch order within their scope.
pub(crate) fn logs_request(batch: &[LogRecord], resource: &[u8]) -> Vec<u8> {
    let observed = unix_nanos();
    let mut buf = Vec::with_capacity(64 + resource.len() + batch.len() * 256);
    // ExportLogsServiceRequest.resource_logs = 1
    nested(&mut buf, 1, |buf| {
        // ResourceLogs.resource = 1
        nested(buf, 1, |buf| buf.extend_from_slice(resource));
        for target in scopes(batch, |r| &r.target) {
            // ResourceLogs.scope_logs = 2
            nested(buf, 2, |buf| {
                // ScopeLogs.scope = 1: InstrumentationScope.name = 1
                nested(buf, 1, |buf| bytes(buf, 1, target.as_bytes()));
                for r in batch.iter().filter(|r| r.target == target) {
                    // ScopeLogs.log_records = 2
                    nested(buf, 2, |buf| record(buf, r, observed));
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

    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use prost::Message as _;
    use tracing::Level;

    use super::logs_request;
    use crate::log::export::LogRecord;
    use crate::trace::otlp::wire;
    use crate::trace::{AttrValue, SpanContext, SpanId, TraceId};

    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.to_owned())),
            }),
            ..KeyValue::default()
        }
    }

    #[test]
    fn a_record_decodes_with_its_fields_bound_values_and_trace() {
        let record = LogRecord {
            time_unix_nanos: 42,
            level: Level::WARN,
            target: Cow::Borrowed("orders::pay"),
            body: "payment declined".into(),
            attributes: vec![("order_id", AttrValue::Int(7))],
            bound: vec![("request_id", Arc::from("r-1"))],
            dropped_attributes: 1,
            context: Some(SpanContext {
                trace_id: TraceId::from_bytes([3; 16]).unwrap(),
                span_id: SpanId::from_bytes([4; 8]).unwrap(),
                sampled: true,
                remote: false,
            }),
        };
        let resource = [(
            "service.name".to_owned(),
            AttrValue::Str(Cow::Borrowed("orders")),
        )];
        let body = logs_request(&[record], &wire::resource(&resource));
        let request = ExportLogsServiceRequest::decode(body.as_slice()).expect("valid");
        let logs = &request.resource_logs[0];
        assert_eq!(
            logs.resource.as_ref().unwrap().attributes,
            vec![string("service.name", "orders")]
        );
        assert_eq!(
            logs.scope_logs[0].scope.as_ref().unwrap().name,
            "orders::pay"
        );
        let got = &logs.scope_logs[0].log_records[0];
        assert_eq!(got.time_unix_nano, 42);
        assert!(got.observed_time_unix_nano > 0);
        assert_eq!(got.severity_number, 13);
        assert_eq!(got.severity_text, "WARN");
        assert_eq!(
            got.body,
            Some(AnyValue {
                value: Some(Value::StringValue("payment declined".into()))
            })
        );
        assert_eq!(got.attributes.len(), 2);
        assert_eq!(
            got.attributes[0].value,
            Some(AnyValue {
                value: Some(Value::IntValue(7))
            })
        );
        assert_eq!(got.attributes[1], string("request_id", "r-1"));
        assert_eq!(got.dropped_attributes_count, 1);
        assert_eq!(got.flags, 1);
        assert_eq!(got.trace_id, vec![3; 16]);
        assert_eq!(got.span_id, vec![4; 8]);
    }

    #[test]
    fn a_record_outside_a_span_has_no_ids_and_an_empty_body_is_kept() {
        let record = LogRecord {
            time_unix_nanos: 1,
            level: Level::INFO,
            target: Cow::Borrowed("t"),
            body: String::new(),
            attributes: Vec::new(),
            bound: Vec::new(),
            dropped_attributes: 0,
            context: None,
        };
        let body = logs_request(&[record], &[]);
        let request = ExportLogsServiceRequest::decode(body.as_slice()).expect("valid");
        let got = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert!(got.trace_id.is_empty() && got.span_id.is_empty());
        assert_eq!(got.flags, 0);
        assert_eq!(got.severity_number, 9);
        assert_eq!(
            got.body,
            Some(AnyValue {
                value: Some(Value::StringValue(String::new()))
            })
        );
    }
}
