//! The naming rules of obs, in one place: which metric and label names are valid, which
//! names identify individual users or requests, and which look secret-bearing.
//!
//! A crate of its own, with no dependencies and `const fn`s where it can, so that both
//! halves of obs apply the same rules: `obs-macros` rejects a bad name at the offending
//! literal at compile time, and `obs-runtime` validates names built at run time (it
//! re-exports this crate as `obs_runtime::metrics::name`).
//!
//! ```
//! use obs_names::{MetricKind, check_metric_name, looks_sensitive};
//!
//! assert!(check_metric_name("http_requests_total", MetricKind::Counter, None).is_ok());
//! assert!(check_metric_name("http_requests", MetricKind::Counter, None).is_err());
//! assert!(looks_sensitive("x-api-key"));
//! assert!(!looks_sensitive("tokenizer"));
//! ```

mod sensitive;

/// The kind of a metric family, as far as naming rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing value; its name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted into fixed buckets.
    Histogram,
    /// Observations summarised as quantiles over a sliding window.
    Summary,
    /// Constant key/value pairs exposed with the value 1.
    Info,
    /// A sample of unknown type (an `untyped` metric gathered from another library).
    Unknown,
}

impl MetricKind {
    /// The `# TYPE` keyword of this kind in OpenMetrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Summary => "summary",
            MetricKind::Info => "info",
            MetricKind::Unknown => "unknown",
        }
    }
}

/// Why a metric or label name was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The byte at this index is outside `[a-zA-Z0-9_]` (or a digit leads the name).
    InvalidChar(usize),
    /// The name contains `:`, which Prometheus reserves for recording rules.
    Colon,
    /// The name starts with `__`, reserved for Prometheus internals.
    ReservedPrefix,
    /// A counter's name does not end in `_total`.
    CounterWithoutTotal,
    /// A non-counter's name ends in `_total`.
    TotalOnNonCounter,
    /// The name ends in a suffix the exposition formats append themselves.
    ReservedSuffix(&'static str),
    /// A unit is declared but the name does not end in `_<unit>`.
    MissingUnitSuffix,
    /// The unit (declared or found at the end of the name) is not a base unit.
    NonBaseUnit(&'static str, &'static str),
    /// The unit is not `[a-z0-9_]+`.
    InvalidUnit,
    /// The label name is reserved (`le`, `quantile`, `__*`).
    ReservedLabel,
    /// The label name is a known high-cardinality identifier.
    HighCardinalityLabel,
}

impl NameError {
    /// A lowercase sentence saying what is wrong and what to write instead.
    pub fn message(self, name: &str, unit: Option<&str>) -> String {
        match self {
            NameError::Empty => "metric and label names must not be empty".to_owned(),
            NameError::InvalidChar(i) => {
                let c = name[i..].chars().next().unwrap_or('?');
                format!(
                    "`{name}` contains `{c}`; names use ASCII letters, digits and `_`, and do not start with a digit"
                )
            }
            NameError::Colon => format!(
                "`{name}` contains `:`, which Prometheus reserves for recording rules; use `_` instead"
            ),
            NameError::ReservedPrefix => {
                format!("`{name}` starts with `__`, which Prometheus reserves for its own use")
            }
            NameError::CounterWithoutTotal => {
                format!("counter names end in `_total`: write `{name}_total`")
            }
            NameError::TotalOnNonCounter => format!(
                "only counters end in `_total`: rename `{name}` or declare it as a `counter`"
            ),
            NameError::ReservedSuffix(s) => format!(
                "`{name}` ends in `{s}`, a suffix the exposition formats add to samples themselves; choose another name"
            ),
            NameError::MissingUnitSuffix => format!(
                "a metric with unit `{u}` has a name ending in `_{u}` (before `_total` on counters): rename `{name}`",
                u = unit.unwrap_or_default()
            ),
            NameError::NonBaseUnit(found, base) => format!(
                "`{found}` is not a base unit: measure in `{base}` and name the metric accordingly (Prometheus convention)"
            ),
            NameError::InvalidUnit => format!(
                "unit `{}` must be lowercase ASCII letters, digits and `_`",
                unit.unwrap_or_default()
            ),
            NameError::ReservedLabel => format!(
                "label name `{name}` is reserved (`le`, `quantile` and names starting with `__` are set by Prometheus itself)"
            ),
            NameError::HighCardinalityLabel => format!(
                "`{name}` looks like a per-request identifier, which would create one series per value; \
                 use a bounded enum label or record the value as a span attribute instead"
            ),
        }
    }
}

impl core::fmt::Display for NameError {
    /// What is wrong, without the name (see [`NameError::message`] for a sentence that
    /// quotes it).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NameError::Empty => f.write_str("the name is empty"),
            NameError::InvalidChar(i) => write!(
                f,
                "byte {i} is not an ASCII letter, digit or `_` (or a digit starts the name)"
            ),
            NameError::Colon => f.write_str("`:` is reserved for recording rules"),
            NameError::ReservedPrefix => f.write_str("the `__` prefix is reserved"),
            NameError::CounterWithoutTotal => f.write_str("a counter's name ends in `_total`"),
            NameError::TotalOnNonCounter => f.write_str("only counters end in `_total`"),
            NameError::ReservedSuffix(s) => write!(f, "the suffix `{s}` is reserved"),
            NameError::MissingUnitSuffix => f.write_str("the name does not end in its unit"),
            NameError::NonBaseUnit(found, base) => {
                write!(f, "`{found}` is not a base unit (use `{base}`)")
            }
            NameError::InvalidUnit => f.write_str("the unit is not `[a-z0-9_]+`"),
            NameError::ReservedLabel => f.write_str("the label name is reserved"),
            NameError::HighCardinalityLabel => {
                f.write_str("the label name is a per-request identifier")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// The span fields every `#[observe]`d function declares first, in this order; the
/// macro checks user fields against them and the runtime fills the first three.
pub const SPAN_FIELDS: [&str; 5] = [
    "code.function",
    "code.namespace",
    "otel.kind",
    "otel.status_code",
    "error.type",
];

pub use sensitive::{SENSITIVE_PAIRS, SENSITIVE_WORDS, looks_sensitive};

/// Label names that identify individual users, requests or hosts: unbounded by nature.
pub const HIGH_CARDINALITY_LABELS: &[&str] = &[
    "user_id",
    "userid",
    "user",
    "username",
    "request_id",
    "requestid",
    "trace_id",
    "traceid",
    "span_id",
    "spanid",
    "session_id",
    "sessionid",
    "correlation_id",
    "customer_id",
    "account_id",
    "order_id",
    "device_id",
    "email",
    "email_address",
    "phone",
    "ip",
    "ip_address",
    "client_ip",
    "remote_addr",
    "uuid",
    "guid",
    "url",
    "raw_path",
    "query",
    "query_string",
    "timestamp",
];

/// Suffixes that `_bucket`/`_count`/… samples would collide with.
const RESERVED_SUFFIXES: &[&str] = &["_created", "_bucket", "_gcount", "_gsum", "_info"];

/// Non-base units with the base unit to use instead.
const NON_BASE_UNITS: &[(&str, &str)] = &[
    ("milliseconds", "seconds"),
    ("microseconds", "seconds"),
    ("nanoseconds", "seconds"),
    ("millis", "seconds"),
    ("ms", "seconds"),
    ("us", "seconds"),
    ("ns", "seconds"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("kilobytes", "bytes"),
    ("megabytes", "bytes"),
    ("gigabytes", "bytes"),
    ("kibibytes", "bytes"),
    ("mebibytes", "bytes"),
    ("gibibytes", "bytes"),
    ("kb", "bytes"),
    ("mb", "bytes"),
    ("gb", "bytes"),
    ("percent", "ratio"),
    ("percentage", "ratio"),
    ("millivolts", "volts"),
    ("kilometers", "meters"),
    ("centimeters", "meters"),
    ("millimeters", "meters"),
    ("fahrenheit", "celsius"),
];

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn ends_with(s: &[u8], suffix: &[u8]) -> bool {
    if s.len() < suffix.len() {
        return false;
    }
    let off = s.len() - suffix.len();
    let mut i = 0;
    while i < suffix.len() {
        if s[off + i] != suffix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `s` ends in `_` followed by `unit`.
const fn ends_with_unit(s: &[u8], unit: &[u8]) -> bool {
    ends_with(s, unit) && s.len() > unit.len() && s[s.len() - unit.len() - 1] == b'_'
}

const fn strip_total(s: &[u8]) -> &[u8] {
    if ends_with(s, b"_total") {
        s.split_at(s.len() - 6).0
    } else {
        s
    }
}

/// Checks the character set shared by metric and label names.
const fn check_charset(s: &[u8]) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let ok = c.is_ascii_alphabetic() || c == b'_' || (i > 0 && c.is_ascii_digit());
        if c == b':' {
            return Err(NameError::Colon);
        }
        if !ok {
            return Err(NameError::InvalidChar(i));
        }
        i += 1;
    }
    if s.len() >= 2 && s[0] == b'_' && s[1] == b'_' {
        return Err(NameError::ReservedPrefix);
    }
    Ok(())
}

/// Validates a metric family name against the Prometheus and OpenMetrics conventions.
///
/// `name` is the exposition name as declared: counters include `_total`. `unit`, when
/// given, must be a base unit and the name (before `_total`) must end in `_<unit>`.
///
/// # Errors
///
/// The first rule the name breaks.
pub const fn check_metric_name(
    name: &str,
    kind: MetricKind,
    unit: Option<&str>,
) -> Result<(), NameError> {
    let s = name.as_bytes();
    if let Err(e) = check_charset(s) {
        return Err(e);
    }
    let is_counter = matches!(kind, MetricKind::Counter);
    let has_total = ends_with(s, b"_total") && s.len() > 6;
    if is_counter && !has_total {
        return Err(NameError::CounterWithoutTotal);
    }
    if !is_counter && ends_with(s, b"_total") {
        return Err(NameError::TotalOnNonCounter);
    }
    let stem = strip_total(s);
    let mut i = 0;
    while i < RESERVED_SUFFIXES.len() {
        if ends_with(stem, RESERVED_SUFFIXES[i].as_bytes()) {
            return Err(NameError::ReservedSuffix(RESERVED_SUFFIXES[i]));
        }
        i += 1;
    }
    if let Some(unit) = unit {
        let u = unit.as_bytes();
        if u.is_empty() {
            return Err(NameError::InvalidUnit);
        }
        let mut j = 0;
        while j < u.len() {
            if !(u[j].is_ascii_lowercase() || u[j].is_ascii_digit() || u[j] == b'_') {
                return Err(NameError::InvalidUnit);
            }
            j += 1;
        }
        let mut k = 0;
        while k < NON_BASE_UNITS.len() {
            if bytes_eq(u, NON_BASE_UNITS[k].0.as_bytes()) {
                return Err(NameError::NonBaseUnit(
                    NON_BASE_UNITS[k].0,
                    NON_BASE_UNITS[k].1,
                ));
            }
            k += 1;
        }
        if !ends_with_unit(stem, u) {
            return Err(NameError::MissingUnitSuffix);
        }
    }
    let mut k = 0;
    while k < NON_BASE_UNITS.len() {
        if ends_with_unit(stem, NON_BASE_UNITS[k].0.as_bytes()) {
            return Err(NameError::NonBaseUnit(
                NON_BASE_UNITS[k].0,
                NON_BASE_UNITS[k].1,
            ));
        }
        k += 1;
    }
    Ok(())
}

/// Validates a label name: charset, reserved names and high-cardinality identifiers.
///
/// # Errors
///
/// The first rule the name breaks.
pub const fn check_label_name(name: &str) -> Result<(), NameError> {
    let s = name.as_bytes();
    if let Err(e) = check_charset(s) {
        return Err(e);
    }
    if bytes_eq(s, b"le") || bytes_eq(s, b"quantile") {
        return Err(NameError::ReservedLabel);
    }
    let mut i = 0;
    while i < HIGH_CARDINALITY_LABELS.len() {
        if eq_ignore_ascii_case(s, HIGH_CARDINALITY_LABELS[i].as_bytes()) {
            return Err(NameError::HighCardinalityLabel);
        }
        i += 1;
    }
    Ok(())
}

const fn eq_ignore_ascii_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}
