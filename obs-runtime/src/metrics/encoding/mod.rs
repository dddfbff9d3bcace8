//! Exposition: the encoder trait, format negotiation and the escaping shared by formats.
//!
//! Metric cells call a [`MetricEncoder`]; each format is one implementation in its own
//! module ([`text`] for Prometheus text 0.0.4, [`openmetrics`] for OpenMetrics 1.0).

pub mod openmetrics;
pub mod text;

use crate::metrics::name::MetricKind;

/// Label pairs of one series, in declaration order.
pub type Labels<'a> = [(&'a str, &'a str)];

/// A sample value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An unsigned integer (integer counters).
    Int(u64),
    /// A signed integer (integer gauges).
    Signed(i64),
    /// A float.
    Float(f64),
}

/// An exemplar: one traced observation that a series or bucket links to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exemplar {
    /// The W3C trace id of the observation's span.
    pub trace_id: [u8; 16],
    /// The span id of the observation's span.
    pub span_id: [u8; 8],
    /// The observed value.
    pub value: f64,
    /// When it was observed, in seconds since the Unix epoch.
    pub timestamp: Option<f64>,
}

/// One histogram series.
#[derive(Clone, Copy, Debug)]
pub struct HistogramSample<'a> {
    /// Finite upper bounds, strictly increasing.
    pub bounds: &'a [f64],
    /// Cumulative counts, one per bound plus the `+Inf` bucket last.
    pub cumulative: &'a [u64],
    /// Per bucket (same indexing as `cumulative`), the latest exemplar, if any; may be empty.
    pub exemplars: &'a [Option<Exemplar>],
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations (equal to the `+Inf` bucket).
    pub count: u64,
    /// When the series was created, in seconds since the Unix epoch.
    pub created: Option<f64>,
}

/// One summary series.
#[derive(Clone, Copy, Debug)]
pub struct SummarySample<'a> {
    /// The quantiles reported.
    pub quantiles: &'a [f64],
    /// The estimate per quantile (NaN with no observations).
    pub values: &'a [f64],
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
    /// When the series was created, in seconds since the Unix epoch.
    pub created: Option<f64>,
}

/// A family's metadata.
#[derive(Clone, Copy, Debug)]
pub struct FamilyHeader<'a> {
    /// The exposition name as declared (counters end in `_total`).
    pub name: &'a str,
    /// The help text.
    pub help: &'a str,
    /// The unit, if declared.
    pub unit: Option<&'a str>,
    /// The family's type.
    pub kind: MetricKind,
}

impl FamilyHeader<'_> {
    /// The name the family's samples carry in the Prometheus text format (and in the
    /// `prometheus` crate's model): the declared name, with `_info` appended for info
    /// metrics. Two families collide when these are equal.
    pub fn text_name(&self) -> String {
        match self.kind {
            MetricKind::Info => format!("{}_info", self.name),
            _ => self.name.to_owned(),
        }
    }
}

/// Receives families and their series; one implementation per exposition format.
///
/// Series are passed right after the [`family`](MetricEncoder::family) call they belong to.
pub trait MetricEncoder {
    /// Starts a family.
    fn family(&mut self, header: &FamilyHeader<'_>);
    /// A counter series.
    fn counter(
        &mut self,
        labels: &Labels<'_>,
        value: Number,
        created: Option<f64>,
        exemplar: Option<&Exemplar>,
    );
    /// A gauge series.
    fn gauge(&mut self, labels: &Labels<'_>, value: Number);
    /// A histogram series.
    fn histogram(&mut self, labels: &Labels<'_>, sample: &HistogramSample<'_>);
    /// A summary series.
    fn summary(&mut self, labels: &Labels<'_>, sample: &SummarySample<'_>);
    /// An info series (value 1).
    fn info(&mut self, labels: &Labels<'_>);
    /// A series of unknown type.
    fn unknown(&mut self, labels: &Labels<'_>, value: f64);
}

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Picks the format an `Accept` header prefers, as a Prometheus server expects.
    ///
    /// OpenMetrics is chosen when `application/openmetrics-text` (version `1.0.0` or no
    /// version) has a higher quality than every acceptable text format; anything else,
    /// including a missing or malformed header, gets the Prometheus text format.
    ///
    /// ```
    /// use obs_runtime::metrics::Format;
    ///
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(Some("text/plain")), Format::Prometheus);
    /// assert_eq!(Format::negotiate(None), Format::Prometheus);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        let mut best_om = 0.0f64;
        let mut best_text = 0.0f64;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f64;
            let mut version: Option<String> = None;
            for param in parts {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => {
                        q = v
                            .parse()
                            .ok()
                            .filter(|q: &f64| (0.0..=1.0).contains(q))
                            .unwrap_or(0.0);
                    }
                    "version" => version = Some(v.to_owned()),
                    _ => {}
                }
            }
            match media.as_str() {
                "application/openmetrics-text"
                    if version.as_deref().is_none_or(|v| v == "1.0.0") =>
                {
                    best_om = best_om.max(q);
                }
                "text/plain" | "text/*" | "*/*" => best_text = best_text.max(q),
                _ => {}
            }
        }
        if best_om > 0.0 && best_om >= best_text {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

/// Appends `s` as a label value: `\`, `"` and newline escaped (both formats agree).
pub(crate) fn escape_label_value(out: &mut String, s: &str) {
    if !s.contains(['\\', '"', '\n']) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `s` as help text; `escape_quotes` for OpenMetrics, which also escapes `"`.
pub(crate) fn escape_help(out: &mut String, s: &str, escape_quotes: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if escape_quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Appends a float as both formats expect: `+Inf`, `-Inf`, `NaN`, else the shortest form
/// that round-trips (`1.0`, `0.25`, `1e-7`).
pub(crate) fn push_f64(out: &mut String, v: f64) {
    use core::fmt::Write as _;
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v:?}");
    }
}

/// Replaces `out` with a bucket's `le` value: the bound, or `+Inf` past the last one.
pub(crate) fn set_le(out: &mut String, bound: Option<&f64>) {
    out.clear();
    match bound {
        Some(b) => push_f64(out, *b),
        None => out.push_str("+Inf"),
    }
}

/// Appends an unsigned integer without going through `fmt`.
pub(crate) fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // `v % 10` is below 10, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (v % 10) as u8;
        buf[i] = b'0' + digit;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

pub(crate) fn push_number(out: &mut String, v: Number) {
    match v {
        Number::Int(v) => push_u64(out, v),
        Number::Signed(v) => {
            if v < 0 {
                out.push('-');
            }
            push_u64(out, v.unsigned_abs());
        }
        Number::Float(v) => push_f64(out, v),
    }
}

/// Appends `{a="x",b="y",extra="z"}` (nothing when there are no labels).
pub(crate) fn push_labels(out: &mut String, labels: &Labels<'_>, extra: Option<(&str, &str)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (name, value) in labels.iter().copied().chain(extra) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    out.push('}');
}

pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any `Accept` header picks one of the two formats, without panicking.
        #[test]
        fn arbitrary_accept_headers(accept in "\\PC{0,300}") {
            let format = Format::negotiate(Some(&accept));
            proptest::prop_assert!(matches!(format, Format::Prometheus | Format::OpenMetrics));
        }
    }

    #[test]
    fn floats_render_canonically() {
        let mut s = String::new();
        for v in [
            1.0,
            0.25,
            1e-7,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -2.5,
        ] {
            push_f64(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "1.0 0.25 1e-7 +Inf -Inf NaN -2.5 ");
    }

    #[test]
    fn integers_render_without_fmt() {
        let mut s = String::new();
        push_number(&mut s, Number::Int(0));
        s.push(' ');
        push_number(&mut s, Number::Int(u64::MAX));
        s.push(' ');
        push_number(&mut s, Number::Signed(i64::MIN));
        assert_eq!(s, "0 18446744073709551615 -9223372036854775808");
    }

    #[test]
    fn negotiation_honours_quality() {
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9, application/openmetrics-text;q=0.5")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=0.0.1")),
            Format::Prometheus
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(Some(";;;,q=")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Prometheus
        );
    }
}
