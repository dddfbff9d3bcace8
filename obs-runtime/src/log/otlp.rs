//! Log records over OTLP (feature `otlp`): the same transports as spans, the official
//! `logs.v1` messages, one scope per `tracing` target, the resource of the spans.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{
    LogRecord as ProtoRecord, ResourceLogs, ScopeLogs, SeverityNumber,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use tracing::Level;

use super::export::{LogExporter, LogRecord};
use crate::time::unix_nanos;
use crate::trace::otlp::{GrpcCall, Sender, into_key_value, proto_resource, scope};
use crate::trace::{ExportError, ExportTarget, Protocol, Resource, TlsConfig};

/// The W3C `sampled` flag in a log record's flags.
const FLAG_SAMPLED: u32 = 0x01;

/// The gRPC call of the logs service.
struct LogsCall;

#[cfg(feature = "otlp-grpc")]
impl GrpcCall<ExportLogsServiceRequest> for LogsCall {
    async fn call(
        self,
        channel: tonic::transport::Channel,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<(), tonic::Status> {
        use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
        LogsServiceClient::new(channel)
            .export(request)
            .await
            .map(drop)
    }
}

#[cfg(not(feature = "otlp-grpc"))]
impl GrpcCall<ExportLogsServiceRequest> for LogsCall {}

/// Exports log records over OTLP, from the log pipeline's thread.
pub(crate) struct OtlpLogExporter {
    sender: Sender,
    target: ExportTarget,
    resource: ProtoResource,
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
            resource: ProtoResource::default(),
        })
    }
}

impl LogExporter for OtlpLogExporter {
    fn export(&mut self, batch: Vec<LogRecord>) -> Result<(), ExportError> {
        self.sender
            .send(logs_request(batch, &self.resource), LogsCall)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = proto_resource(resource);
    }

    fn target(&self) -> Option<ExportTarget> {
        Some(self.target.clone())
    }
}

/// The OTLP severity of a `tracing` level.
fn severity(level: Level) -> SeverityNumber {
    match level {
        Level::TRACE => SeverityNumber::Trace,
        Level::DEBUG => SeverityNumber::Debug,
        Level::INFO => SeverityNumber::Info,
        Level::WARN => SeverityNumber::Warn,
        Level::ERROR => SeverityNumber::Error,
    }
}

fn record(record: LogRecord, observed: u64) -> ProtoRecord {
    let (trace_id, span_id, flags) = match record.context {
        Some(c) => (
            c.trace_id.to_bytes().to_vec(),
            c.span_id.to_bytes().to_vec(),
            if c.sampled { FLAG_SAMPLED } else { 0 },
        ),
        None => (Vec::new(), Vec::new(), 0),
    };
    ProtoRecord {
        time_unix_nano: record.time_unix_nanos,
        observed_time_unix_nano: observed,
        severity_number: severity(record.level) as i32,
        severity_text: record.level.as_str().to_owned(),
        body: Some(AnyValue {
            value: Some(Value::StringValue(record.body)),
        }),
        attributes: record
            .attributes
            .into_iter()
            .map(|(k, v)| into_key_value(k, v))
            .chain(record.bound.iter().map(|(k, v)| KeyValue {
                key: (*k).to_owned(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue(v.to_string())),
                }),
                ..KeyValue::default()
            }))
            .collect(),
        dropped_attributes_count: record.dropped_attributes,
        flags,
        trace_id,
        span_id,
        ..ProtoRecord::default()
    }
}

/// One export request: the resource once, a scope per target in order of appearance.
pub(crate) fn logs_request(
    batch: Vec<LogRecord>,
    resource: &ProtoResource,
) -> ExportLogsServiceRequest {
    let observed = unix_nanos();
    let mut scopes: Vec<ScopeLogs> = Vec::new();
    for r in batch {
        let at = scopes
            .iter()
            .position(|s| s.scope.as_ref().is_some_and(|sc| sc.name == r.target))
            .unwrap_or_else(|| {
                scopes.push(ScopeLogs {
                    scope: Some(scope(&r.target)),
                    ..ScopeLogs::default()
                });
                scopes.len() - 1
            });
        scopes[at].log_records.push(record(r, observed));
    }
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: scopes,
            ..ResourceLogs::default()
        }],
    }
}
