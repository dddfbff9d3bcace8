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

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::{Event, Level, Span, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::time::{unix_nanos, write_rfc3339};
use crate::trace::record::EventFields;
use crate::trace::{AttrValue, layer_state_context};

/// The value that replaces a redacted one.
pub const REDACTED: &str = "[REDACTED]";

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log pipelines.
    Json,
    /// Human-readable text, colored when `ansi` is on.
    Pretty {
        /// Color with ANSI escapes.
        ansi: bool,
    },
}

impl LogFormat {
    /// `Pretty` when standard output is a terminal, else `Json` (the `OBS_LOG_FORMAT`
    /// default).
    pub fn detect() -> Self {
        use std::io::IsTerminal as _;
        if std::io::stdout().is_terminal() {
            Self::Pretty { ansi: true }
        } else {
            Self::Json
        }
    }
}

/// Where log lines go: each call receives one whole line, newline included.
#[derive(Clone)]
pub struct LogWriter(Arc<dyn Fn(&str) + Send + Sync>);

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogWriter(..)")
    }
}

impl LogWriter {
    /// Standard output (the default); write errors are ignored.
    pub fn stdout() -> Self {
        Self::new(|line| {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        })
    }

    /// Standard error.
    pub fn stderr() -> Self {
        Self::new(|line| {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        })
    }

    /// Any sink of lines.
    pub fn new(write: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(write))
    }

    /// An in-memory sink and a handle to read it, for tests.
    pub fn memory() -> (Self, MemoryLog) {
        let log = MemoryLog::default();
        let sink = log.clone();
        (
            Self::new(move |line| {
                sink.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(line);
            }),
            log,
        )
    }
}

/// The lines written to a [`LogWriter::memory`] sink.
#[derive(Clone, Debug, Default)]
pub struct MemoryLog(Arc<Mutex<String>>);

impl MemoryLog {
    /// The lines so far, without their newlines.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Fields bound to a span with [`bind`].
#[derive(Default)]
struct Bound(Vec<(&'static str, String)>);

/// Binds `key = value` to `span`: every log line emitted inside it (or inside its
/// descendants, across `.await`s when the span instruments the future) carries the field.
/// A later binding of the same key replaces the earlier one. Returns `false` when the
/// span is disabled or the subscriber is not built on `tracing_subscriber::Registry`.
pub fn bind(span: &Span, key: &'static str, value: impl fmt::Display) -> bool {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let data = registry.span(id)?;
        let mut extensions = data.extensions_mut();
        let value = value.to_string();
        if let Some(bound) = extensions.get_mut::<Bound>() {
            bound.0.retain(|(k, _)| *k != key);
            bound.0.push((key, value));
        } else {
            extensions.insert(Bound(vec![(key, value)]));
        }
        Some(())
    })
    .flatten()
    .is_some()
}

/// Writes every event as one line. See the [module documentation](self).
pub struct LogLayer {
    format: LogFormat,
    writer: LogWriter,
    allowed: Vec<Cow<'static, str>>,
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
        }
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

    fn redacted(&self, key: &'static str) -> bool {
        crate::redact::sensitive_key(key) && !self.allowed.iter().any(|a| a == key)
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
        #[cfg(feature = "log")]
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        #[cfg(feature = "log")]
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        #[cfg(not(feature = "log"))]
        let meta = event.metadata();
        if meta.target() == crate::trace::EXCEPTION_TARGET {
            // A span event of `#[observe]` (the trace carries it); a failed call logs a
            // line only when it asks with `err(level = ..)`.
            return;
        }
        let mut fields = EventFields::default();
        event.record(&mut fields);
        // URL credentials and `key: value` secrets inside values are masked too.
        for (_, value) in &mut fields.attributes {
            if let AttrValue::Str(s) = value
                && let Cow::Owned(masked) = crate::redact::scrub(s)
            {
                *value = AttrValue::Str(Cow::Owned(masked));
            }
        }
        if let Some(message) = &mut fields.message
            && let Cow::Owned(masked) = crate::redact::scrub(message)
        {
            *message = masked;
        }
        let span = ctx.event_span(event);
        let context = span
            .as_ref()
            .and_then(|s| layer_state_context(&s.extensions()));
        let mut bound: Vec<(&'static str, String)> = Vec::new();
        if let Some(span) = &span {
            for s in span.scope().from_root() {
                if let Some(b) = s.extensions().get::<Bound>() {
                    for (k, v) in &b.0 {
                        bound.retain(|(key, _)| key != k);
                        bound.push((k, crate::redact::scrub(v).into_owned()));
                    }
                }
            }
        }
        let line = Line {
            nanos: unix_nanos(),
            level: *meta.level(),
            target: meta.target(),
            span: span
                .as_ref()
                .map(tracing_subscriber::registry::SpanRef::name),
            message: fields.message.as_deref().unwrap_or(""),
            trace: context.map(|c| (c.trace_id.to_string(), c.span_id.to_string())),
            bound: &bound,
            fields: &fields.attributes,
        };
        let render = |out: &mut String| match self.format {
            LogFormat::Json => line.json(out, self),
            LogFormat::Pretty { ansi } => line.pretty(out, self, ansi),
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

struct Line<'a> {
    nanos: u64,
    level: Level,
    target: &'a str,
    span: Option<&'a str>,
    message: &'a str,
    trace: Option<(String, String)>,
    bound: &'a [(&'static str, String)],
    fields: &'a [(&'static str, AttrValue)],
}

impl Line<'_> {
    fn json(&self, out: &mut String, layer: &LogLayer) {
        out.push_str("{\"timestamp\":\"");
        write_rfc3339(out, self.nanos);
        out.push_str("\",\"level\":\"");
        out.push_str(self.level.as_str());
        out.push_str("\",\"target\":");
        json_str(out, self.target);
        out.push_str(",\"message\":");
        json_str(out, self.message);
        if let Some(span) = self.span {
            out.push_str(",\"span\":");
            json_str(out, span);
        }
        if let Some((trace_id, span_id)) = &self.trace {
            let _ = write!(
                out,
                ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\""
            );
        }
        for (key, value) in self.bound {
            if matches!(
                *key,
                "timestamp"
                    | "level"
                    | "target"
                    | "message"
                    | "span"
                    | "trace_id"
                    | "span_id"
                    | "fields"
            ) {
                continue;
            }
            out.push(',');
            json_str(out, key);
            out.push(':');
            json_str(out, if layer.redacted(key) { REDACTED } else { value });
        }
        if !self.fields.is_empty() {
            out.push_str(",\"fields\":{");
            for (i, (key, value)) in self.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(out, key);
                out.push(':');
                if layer.redacted(key) {
                    json_str(out, REDACTED);
                    continue;
                }
                match value {
                    AttrValue::Str(s) => json_str(out, s),
                    AttrValue::Int(n) => {
                        let _ = write!(out, "{n}");
                    }
                    AttrValue::Float(x) if x.is_finite() => {
                        let _ = write!(out, "{x}");
                    }
                    AttrValue::Float(x) => json_str(out, &x.to_string()),
                    AttrValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                }
            }
            out.push('}');
        }
        out.push_str("}\n");
    }

    fn pretty(&self, out: &mut String, layer: &LogLayer, ansi: bool) {
        let (dim, bold, reset) = if ansi {
            ("\x1b[2m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        let color = match (ansi, self.level) {
            (false, _) => "",
            (true, Level::ERROR) => "\x1b[31m",
            (true, Level::WARN) => "\x1b[33m",
            (true, Level::INFO) => "\x1b[32m",
            (true, Level::DEBUG) => "\x1b[34m",
            (true, Level::TRACE) => "\x1b[35m",
        };
        out.push_str(dim);
        write_rfc3339(out, self.nanos);
        out.push_str(reset);
        // Everything from the program is written with its control characters escaped: a
        // newline or an ANSI sequence in a message or value cannot forge a log line or
        // repaint the terminal.
        let _ = write!(
            out,
            " {color}{:>5}{reset} {dim}{}:{reset} {bold}{}{reset}",
            self.level.as_str(),
            Escaped(&self.target),
            Escaped(&self.message)
        );
        let field = |out: &mut String, key: &str, value: &dyn fmt::Display| {
            let _ = write!(out, " {dim}{}={reset}{}", Escaped(&key), Escaped(value));
        };
        for (key, value) in self.fields {
            if layer.redacted(key) {
                field(out, key, &REDACTED);
                continue;
            }
            match value {
                AttrValue::Str(s) => field(out, key, &format_args!("{s:?}")),
                other => field(out, key, other),
            }
        }
        for (key, value) in self.bound {
            let value: &dyn fmt::Display = if layer.redacted(key) {
                &REDACTED
            } else {
                value
            };
            field(out, key, value);
        }
        if let Some((trace_id, span_id)) = &self.trace {
            field(out, "trace_id", trace_id);
            field(out, "span_id", span_id);
        }
        out.push('\n');
    }
}

/// Displays a value with its control characters escaped (`\n`, `\u{1b}`, …).
struct Escaped<'a, T: ?Sized>(&'a T);

impl<T: fmt::Display + ?Sized> fmt::Display for Escaped<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Escaper<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Escaper<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for part in s.split_inclusive(char::is_control) {
                    match part.chars().last() {
                        Some(c) if c.is_control() => {
                            self.0.write_str(&part[..part.len() - c.len_utf8()])?;
                            write!(self.0, "{}", c.escape_default())?;
                        }
                        _ => self.0.write_str(part)?,
                    }
                }
                Ok(())
            }
        }
        write!(Escaper(f), "{}", self.0)
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

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
