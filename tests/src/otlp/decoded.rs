//! What the receiver decoded: spans and log records with their resource and scope, and
//! helpers to read their attributes.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;

/// One received span with its resource and scope.
#[derive(Clone, Debug)]
pub struct Received {
    /// Resource attributes, as `key=value` strings.
    pub resource: Vec<(String, String)>,
    /// The instrumentation scope's name.
    pub scope: String,
    /// The span, exactly as decoded.
    pub span: Span,
}

/// One received log record with its resource and scope.
#[derive(Clone, Debug)]
pub struct ReceivedLog {
    /// Resource attributes, as `key=value` strings.
    pub resource: Vec<(String, String)>,
    /// The instrumentation scope's name (the event's target).
    pub scope: String,
    /// The record, exactly as decoded.
    pub record: LogRecord,
}

impl ReceivedLog {
    /// The body, as text.
    pub fn body(&self) -> String {
        value_text(self.record.body.as_ref())
    }

    /// The attribute `key`, as text.
    pub fn attr(&self, key: &str) -> Option<String> {
        attr(&self.record.attributes, key)
    }
}

/// Renders an OTLP value as text (strings unquoted).
pub fn value_text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(n)) => n.to_string(),
        Some(any_value::Value::DoubleValue(x)) => x.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// The attribute `key` of a list, as text.
pub fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| value_text(kv.value.as_ref()))
}

/// The span whose `request_id` attribute is `id` (the HTTP layer's server span).
pub fn by_request_id<'a>(spans: &'a [Received], id: &str) -> &'a Received {
    spans
        .iter()
        .find(|s| attr(&s.span.attributes, "request_id").as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no span with request_id {id:?}"))
}

/// Lowercase hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The log records a receiver got.
impl super::Receiver {
    /// Every log record received so far, in arrival order.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        let requests = self.state.log_requests.lock().unwrap();
        let mut out = Vec::new();
        for request in requests.iter() {
            for rl in &request.resource_logs {
                let resource: Vec<(String, String)> = rl
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
                    .collect();
                for sl in &rl.scope_logs {
                    let scope = sl
                        .scope
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    for record in &sl.log_records {
                        out.push(ReceivedLog {
                            resource: resource.clone(),
                            scope: scope.clone(),
                            record: record.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Waits until a log record satisfying `want` arrived (or `timeout`); returns every
    /// record received by then.
    pub fn wait_for_log(
        &self,
        timeout: Duration,
        want: impl Fn(&ReceivedLog) -> bool,
    ) -> Vec<ReceivedLog> {
        let deadline = Instant::now() + timeout;
        loop {
            let logs = self.logs();
            if logs.iter().any(&want) || Instant::now() >= deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
