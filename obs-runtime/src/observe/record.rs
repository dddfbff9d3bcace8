//! What a finished call records on its site and span: the outcome counters, the span's
//! error status and `exception` event, and the optional error log line.

use super::classify::{CallOutcome, ErrorInfo, Message};
use super::site::{FnSite, UNCLASSIFIED};
use super::tally::Unfinished;
use tracing::field::{FieldSet, Value};
use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::{Level, Metadata, Span};
use tracing_core::callsite::DefaultCallsite;

/// The callsite of the `exception` event of a failed call.
static EXCEPTION_CALLSITE: DefaultCallsite = DefaultCallsite::new(&EXCEPTION_META);

static EXCEPTION_META: Metadata<'static> = Metadata::new(
    "exception",
    crate::trace::EXCEPTION_TARGET,
    Level::ERROR,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(
        &[
            "message",
            "exception.type",
            "exception.message",
            "exception.stacktrace",
        ],
        tracing_core::callsite::Identifier(&EXCEPTION_CALLSITE),
    ),
    tracing_core::metadata::Kind::EVENT,
);

/// Sends the `exception` event (OpenTelemetry's `exception.type` and `exception.message`)
/// as a child of span `id`, to `dispatch`, the span's own subscriber.
fn exception_event(
    id: &tracing::Id,
    dispatch: &tracing::Dispatch,
    type_name: &str,
    message: Message<'_>,
    stacktrace: Option<&str>,
) {
    if Level::ERROR > STATIC_MAX_LEVEL || Level::ERROR > LevelFilter::current() {
        return;
    }
    let interest = EXCEPTION_CALLSITE.interest();
    if interest.is_never() || !(interest.is_always() || dispatch.enabled(&EXCEPTION_META)) {
        return;
    }
    let fields = EXCEPTION_META.fields();
    let mut it = fields.iter();
    let (Some(msg), Some(kind), Some(text), Some(trace)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return;
    };
    let values = [
        // The callsite's name: the trace layer keeps it without a copy.
        (&msg, Some(&"exception" as &dyn Value)),
        (&kind, Some(&type_name as &dyn Value)),
        (&text, Some(&tracing::field::display(message) as &dyn Value)),
        (&trace, stacktrace.as_ref().map(|s| s as &dyn Value)),
    ];
    dispatch.event(&tracing::Event::new_child_of(
        id.clone(),
        &EXCEPTION_META,
        &fields.value_set(&values),
    ));
}

impl FnSite {
    #[inline]
    pub(super) fn record(&self, span: &Span, outcome: &CallOutcome<'_>) {
        match outcome {
            // Successes are not counted separately: every completed call lands in the
            // duration histogram, so ok = completed - errors - panics - cancellations.
            CallOutcome::Ok => {}
            CallOutcome::Err(e) => self.record_error(span, e),
        }
    }

    /// Counts an error and reports it on the span. The error's parts are read one word at
    /// a time where needed, never copied whole: a 16-byte read of what the caller wrote as
    /// 8-byte words stalls store forwarding.
    #[cold]
    #[inline(never)]
    pub(super) fn record_error(&self, span: &Span, e: &ErrorInfo<'_>) {
        let label = self
            .cells()
            .error_set(&e.name, e.type_name, self.module)
            .count(&e.name);
        self.report_error(span, label, e.type_name, e.message, None);
    }

    pub(super) fn record_unfinished(&self, span: &Span, how: Unfinished) {
        self.tally.unfinished(how);
        match how {
            Unfinished::Panic => {
                // What the panic said, kept by the hook `init().install()` chains in.
                let panic = super::panic::last();
                let message = panic.as_ref().map(|p| &p.message);
                self.report_error(
                    span,
                    "panic",
                    "panic",
                    message.map_or(Message::None, |m| Message::Display(m)),
                    panic.as_ref().and_then(|p| p.stacktrace.as_deref()),
                );
            }
            Unfinished::Cancelled => {}
            Unfinished::Unclassified => {
                self.report_error(span, UNCLASSIFIED, UNCLASSIFIED, Message::None, None);
            }
        }
    }

    /// Marks the span as failed and attaches the `exception` event; logs only when the
    /// function asked for it with `err(level = ..)`.
    #[cold]
    pub(super) fn report_error(
        &self,
        span: &Span,
        label: &str,
        type_name: &str,
        message: Message<'_>,
        stacktrace: Option<&str>,
    ) {
        if let Some(meta) = span.metadata() {
            // Straight to the span's own subscriber: no lookup of the current dispatcher,
            // and status and type in one record.
            span.with_subscriber(|(id, dispatch)| {
                let fields = meta.fields();
                let mut fixed = fields.iter().skip(3);
                if let (Some(status), Some(kind)) = (fixed.next(), fixed.next()) {
                    dispatch.record(
                        id,
                        &tracing::span::Record::new(&fields.value_set(&[
                            (&status, Some(&"ERROR" as &dyn Value)),
                            (&kind, Some(&label as &dyn Value)),
                        ])),
                    );
                }
                exception_event(id, dispatch, type_name, message, stacktrace);
            });
        }
        if let Some(level) = self.err_level {
            let message = match message {
                Message::None => Message::Display(&label),
                m => m,
            };
            let (function, module) = (self.function, self.module);
            macro_rules! log_at {
                ($level:expr) => {
                    tracing::event!(
                        target: crate::trace::ERROR_LOG_TARGET,
                        $level,
                        code.function = function,
                        code.namespace = module,
                        error.r#type = label,
                        "{function} failed: {message}"
                    )
                };
            }
            match level {
                Level::ERROR => log_at!(Level::ERROR),
                Level::WARN => log_at!(Level::WARN),
                Level::INFO => log_at!(Level::INFO),
                Level::DEBUG => log_at!(Level::DEBUG),
                _ => log_at!(Level::TRACE),
            }
        }
    }
}
