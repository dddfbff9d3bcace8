//! Structured logs: JSON lines (or pretty text on a terminal) correlated with traces.
//!
//! [`LogLayer`] writes one line per `tracing` event with its timestamp, level, target,
//! message and fields, the `trace_id` and `span_id` of the span it happened in (from
//! [`TraceLayer`](crate::trace::TraceLayer)), and the fields bound to that span or its
//! ancestors with [`bind`]: the counterpart of structlog's `bind_contextvars`, scoped to a
//! span so it follows async tasks.
//!
//! Keys that look secret ([`looks_sensitive`]: `password`, `token`, `api_key`, `cookie`,
//! …) have their value replaced by `"[REDACTED]"` unless allowed by name.
//!
//! ```
//! use obs_runtime::log::{self, LogFormat, LogLayer, LogWriter};
//! use obs_runtime::trace::{Sampler, TraceLayer};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let (writer, lines) = LogWriter::memory();
//! let subscriber = tracing_subscriber::registry()
//!     .with(TraceLayer::new(Sampler::default()))
//!     .with(LogLayer::new(LogFormat::Json, writer));
//! tracing::subscriber::with_default(subscriber, || {
//!     let request = tracing::info_span!("request");
//!     log::bind(&request, "request_id", "r-42");
//!     request.in_scope(|| tracing::info!(password = "hunter2", items = 3, "order placed"));
//! });
//! let line = &lines.lines()[0];
//! assert!(line.contains(r#""message":"order placed""#));
//! assert!(line.contains(r#""request_id":"r-42""#));
//! assert!(line.contains(r#""fields":{"password":"[REDACTED]","items":3}"#));
//! assert!(line.contains(r#""trace_id":""#));
//! ```
//!
//! ```
//! use obs_runtime::metrics::name::looks_sensitive;
//! assert!(looks_sensitive("DB_PASSWORD") && looks_sensitive("x-api-key"));
//! assert!(looks_sensitive("session_token") && looks_sensitive("Authorization"));
//! assert!(!looks_sensitive("tokenizer") && !looks_sensitive("author"));
//! ```
//!
//! [`looks_sensitive`]: crate::metrics::name::looks_sensitive

mod bind;
mod export;
mod export_layer;
mod layer;
mod line;
#[cfg(feature = "otlp")]
mod otlp;
mod record;
mod writer;

pub use crate::redact::REDACTED;
pub(crate) use bind::SpanFieldsLayer;
pub use bind::bind;
#[cfg(feature = "axum")]
pub(crate) use bind::bind_all;
#[cfg(feature = "otlp")]
pub(crate) use export::LogExporter;
pub(crate) use export::{LogBatchConfig, LogExporterFactory, LogRecordLimits};
pub use export::{LogPipeline, LogPipelineStats};
pub(crate) use export_layer::LogExportLayer;
pub use layer::LogLayer;
#[cfg(feature = "otlp")]
pub(crate) use otlp::OtlpLogExporter;
pub use writer::{DEFAULT_QUEUE_LINES, LogFormat, LogWriter, MAX_QUEUE_BYTES, MemoryLog};

/// JSON string escaping, shared with the health endpoint's body and the generated
/// dashboards and rules.
pub(crate) use line::json_str;

#[cfg(test)]
mod tests {
    use super::json_str;

    /// The keys that were logged in clear, and near misses that must stay readable.
    #[test]
    fn sensitive_keys_in_any_spelling() {
        for key in [
            "accessToken",
            "clientSecret",
            "userPassword",
            "cookies",
            "tokens",
            "session_id",
            "sessionid",
            "SessionID",
            "bearer",
            "passphrase",
            "credential",
            "credentials",
            "privatekey",
            "private-key",
            "access_key",
            "AWS_ACCESS_KEY_ID",
            "dsn",
            "DATABASE_DSN",
            "Authorization",
            "DB_PASSWORD",
            "x-api-key",
            "apiKey",
            "API_KEY",
            "set-cookie",
            "refresh.token",
            "userpassword",
            "session_ids",
            "authtoken",
            "refreshtoken",
            "accesskey",
            "dbsecret",
        ] {
            assert!(crate::metrics::name::looks_sensitive(key), "{key}");
        }
        for key in [
            "tokenizer",
            "secretary",
            "author",
            "keyboard",
            "passage",
            "description",
            "monkey",
            "session",
            "user_id",
            "keys",
            "cardinality",
            "status",
            "authority",
            "message",
        ] {
            assert!(!crate::metrics::name::looks_sensitive(key), "{key}");
        }
    }

    #[test]
    fn json_escapes() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\nd\u{1}é\u{2028}");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é\u2028""#);
    }
}
