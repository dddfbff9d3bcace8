//! The log layer: one line per event, with the trace ids and bound fields of its span.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{self};

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::time::unix_nanos;

use super::line::{Line, Redaction, json_str};
use super::record::collect;
use super::writer::{LogFormat, LogWriter};

/// Writes every event as one line. See the [module documentation](super).
pub struct LogLayer {
    format: LogFormat,
    writer: LogWriter,
    allowed: Vec<Cow<'static, str>>,
    /// The service's fields, rendered once as a JSON fragment (`,"service.name":"…"`).
    service: String,
    /// Writes only the lines about export trouble (log lines are off, records may go to a
    /// collector: its failures must still be said somewhere).
    export_trouble_only: bool,
}

impl fmt::Debug for LogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogLayer")
            .field("format", &self.format)
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl LogLayer {
    /// A layer writing `format` lines to `writer`.
    pub fn new(format: LogFormat, writer: LogWriter) -> Self {
        Self {
            format,
            writer,
            allowed: Vec::new(),
            service: String::new(),
            export_trouble_only: false,
        }
    }

    /// Writes only the lines about export trouble (target `obs::export`).
    pub(crate) fn export_trouble_only(mut self) -> Self {
        self.export_trouble_only = true;
        self
    }

    /// Names the service in every JSON line: `service.name`, and `service.version` and
    /// `deployment.environment.name` when given ([`crate::init()`] passes its resource's).
    ///
    /// ```
    /// use obs_runtime::log::{LogFormat, LogLayer, LogWriter};
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let (writer, lines) = LogWriter::memory();
    /// let layer = LogLayer::new(LogFormat::Json, writer).service("orders", Some("1.4.0"), None);
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     tracing::info!("started");
    /// });
    /// assert!(lines.lines()[0].contains(r#""message":"started","service.name":"orders","service.version":"1.4.0""#));
    /// ```
    #[must_use]
    pub fn service(mut self, name: &str, version: Option<&str>, environment: Option<&str>) -> Self {
        let mut fragment = String::new();
        for (key, value) in [
            ("service.name", Some(name)),
            ("service.version", version),
            ("deployment.environment.name", environment),
        ] {
            if let Some(value) = value {
                fragment.push(',');
                json_str(&mut fragment, key);
                fragment.push(':');
                json_str(&mut fragment, value);
            }
        }
        self.service = fragment;
        self
    }

    /// Logs the value of `key` even though its name looks sensitive (`token_count`, say).
    ///
    /// ```
    /// use obs_runtime::log::{LogFormat, LogLayer, LogWriter};
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let (writer, lines) = LogWriter::memory();
    /// let layer = LogLayer::new(LogFormat::Json, writer).allow("token_count");
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     tracing::info!(token_count = 812, api_token = "t0k", "prompt sent");
    /// });
    /// assert!(lines.lines()[0].ends_with(r#""fields":{"token_count":812,"api_token":"[REDACTED]"}}"#));
    /// ```
    #[must_use]
    pub fn allow(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.allowed.push(key.into());
        self
    }
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S> Layer<S> for LogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // A record of the `log` crate: its own target and level, not `log`'s.
        #[cfg(feature = "log-bridge")]
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        #[cfg(feature = "log-bridge")]
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        #[cfg(not(feature = "log-bridge"))]
        let meta = event.metadata();
        if self.export_trouble_only && !meta.target().starts_with(crate::trace::EXPORT_TARGET) {
            return;
        }
        if meta.target() == crate::trace::EXCEPTION_TARGET {
            // A span event of `#[observe]` (the trace carries it); a failed call logs a
            // line only when it asks with `err(level = ..)`.
            return;
        }
        let collected = collect(event, meta, &ctx);
        let redaction = Redaction {
            allowed: &self.allowed,
        };
        let line = Line {
            nanos: unix_nanos(),
            level: collected.level,
            target: collected.target,
            span: collected.span,
            message: collected.fields.message.as_deref().unwrap_or(""),
            service: &self.service,
            trace: collected
                .context
                .map(|c| (c.trace_id.hex(), c.span_id.hex())),
            bound: &collected.bound,
            fields: &collected.fields.attributes,
        };
        let render = |out: &mut String| match self.format {
            LogFormat::Json => line.json(out, &redaction),
            LogFormat::Pretty { ansi } => line.pretty(out, &redaction, ansi),
        };
        let written = LINE.try_with(|buffer| {
            if let Ok(mut out) = buffer.try_borrow_mut() {
                out.clear();
                render(&mut out);
                (self.writer.0)(&out);
                if out.capacity() > 64 * 1024 {
                    *out = String::new();
                }
                true
            } else {
                false
            }
        });
        if written != Ok(true) {
            // Re-entered (the writer itself logged) or at thread exit: a fresh buffer.
            let mut out = String::new();
            render(&mut out);
            (self.writer.0)(&out);
        }
    }
}
