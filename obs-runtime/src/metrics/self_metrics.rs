//! Metrics about obs itself.

/// Why finished spans were not exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, obs_macros::Label)]
pub(crate) enum DropReason {
    /// The export queue was full (the exporter is slow or down).
    QueueFull,
    /// Their batch failed to export.
    ExportFailed,
    /// The tail sampler decided against their trace.
    SampledOut,
    /// Evicted from the tail sampler's bounded memory before their trace was decided.
    TailEvicted,
}

/// Why log records were not exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, obs_macros::Label)]
pub(crate) enum LogDropReason {
    /// The export queue was full, by count or bytes (the exporter is slow or down).
    QueueFull,
    /// Their batch failed to export.
    ExportFailed,
}

/// Why the embedded metrics server closed a connection without serving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, obs_macros::Label)]
pub(crate) enum ConnectionDrop {
    /// Closed to make room for a new connection while it was still sending its request,
    /// or still reading its answer after 1 s.
    Evicted,
    /// Every slot was busy writing a response: answered `503`.
    Busy,
    /// Its request head did not arrive in time: answered `408`.
    Timeout,
    /// The handler panicked: answered `500`.
    Panic,
}

/// Which span limit cut something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, obs_macros::Label)]
pub(crate) enum SpanLimit {
    /// A string attribute value was cut to the length limit.
    AttributeValueLength,
    /// An attribute past the count limit was dropped.
    AttributeCount,
    /// An event past the count limit was dropped.
    EventCount,
}

/// Which log record limit cut something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, obs_macros::Label)]
pub(crate) enum RecordLimit {
    /// A string attribute value was cut to the length limit.
    AttributeValueLength,
    /// An attribute past the count limit was dropped.
    AttributeCount,
}

obs_macros::metric! {
    /// Label combinations folded into an overflow series because their family reached its
    /// series cap.
    pub(crate) counter CARDINALITY_OVERFLOW("obs_cardinality_overflow_total");
    /// Spans accepted by the trace exporter.
    pub(crate) counter SPANS_EXPORTED("obs_spans_exported_total");
    /// Finished spans that were not exported, by reason.
    pub(crate) counter SPANS_DROPPED("obs_spans_dropped_total", reason: DropReason);
    /// Failed trace export calls (each drops its batch).
    pub(crate) counter EXPORT_ERRORS("obs_export_errors_total");
    /// What the span limits cut: values shortened, attributes and events dropped.
    pub(crate) counter SPAN_LIMITS("obs_span_limits_total", limit: SpanLimit);
    /// Connections the embedded metrics server closed without serving them, by reason.
    pub(crate) counter SERVER_DROPPED("obs_metrics_server_dropped_total", reason: ConnectionDrop);
    /// Log lines dropped because the non-blocking writer's queue was full (its output
    /// could not keep up).
    pub(crate) counter LOG_LINES_DROPPED("obs_log_lines_dropped_total");
    /// Log records accepted by the OTLP log exporter.
    pub(crate) counter LOG_RECORDS_EXPORTED("obs_log_records_exported_total");
    /// Log records that were not exported over OTLP, by reason.
    pub(crate) counter LOG_RECORDS_DROPPED("obs_log_records_dropped_total", reason: LogDropReason);
    /// Failed log export calls (each drops its batch).
    pub(crate) counter LOG_EXPORT_ERRORS("obs_log_export_errors_total");
    /// What the log record limits cut: values shortened, attributes dropped.
    pub(crate) counter LOG_RECORD_LIMITS("obs_log_record_limits_total", limit: RecordLimit);
}
