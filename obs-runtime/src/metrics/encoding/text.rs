//! Prometheus text exposition format 0.0.4.
//!
//! No units, no `_created` samples and no exemplars: the format has no place for them.

use super::{
    FamilyHeader, HistogramSample, Labels, MetricEncoder, Number, SummarySample, escape_help,
    push_f64, push_labels, push_number, set_le,
};
use crate::metrics::encoding::Exemplar;
use crate::metrics::name::MetricKind;

/// Writes Prometheus text format 0.0.4 into a `String`.
///
/// ```
/// use obs_runtime::metrics::encoding::{FamilyHeader, MetricEncoder, Number, text::TextEncoder};
/// use obs_runtime::metrics::MetricKind;
///
/// let mut out = String::new();
/// let mut enc = TextEncoder::new(&mut out);
/// enc.family(&FamilyHeader { name: "jobs_total", help: "Jobs.", unit: None, kind: MetricKind::Counter });
/// enc.counter(&[("queue", "mail")], Number::Int(3), None, None);
/// assert_eq!(out, "# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total{queue=\"mail\"} 3\n");
/// ```
#[derive(Debug)]
pub struct TextEncoder<'a> {
    out: &'a mut String,
    name: String,
}

impl<'a> TextEncoder<'a> {
    /// An encoder appending to `out`.
    pub fn new(out: &'a mut String) -> Self {
        Self {
            out,
            name: String::new(),
        }
    }

    fn sample(&mut self, suffix: &str, labels: &Labels<'_>, extra: Option<(&str, &str)>) {
        self.out.push_str(&self.name);
        self.out.push_str(suffix);
        push_labels(self.out, labels, extra);
        self.out.push(' ');
    }
}

impl MetricEncoder for TextEncoder<'_> {
    fn family(&mut self, header: &FamilyHeader<'_>) {
        self.name = header.text_name();
        let kind = match header.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge | MetricKind::Info => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Summary => "summary",
            MetricKind::Unknown => "untyped",
        };
        if !header.help.is_empty() {
            self.out.push_str("# HELP ");
            self.out.push_str(&self.name);
            self.out.push(' ');
            escape_help(self.out, header.help, false);
            self.out.push('\n');
        }
        self.out.push_str("# TYPE ");
        self.out.push_str(&self.name);
        self.out.push(' ');
        self.out.push_str(kind);
        self.out.push('\n');
    }

    fn counter(
        &mut self,
        labels: &Labels<'_>,
        value: Number,
        _created: Option<f64>,
        _exemplar: Option<&Exemplar>,
    ) {
        self.sample("", labels, None);
        push_number(self.out, value);
        self.out.push('\n');
    }

    fn gauge(&mut self, labels: &Labels<'_>, value: Number) {
        self.sample("", labels, None);
        push_number(self.out, value);
        self.out.push('\n');
    }

    fn histogram(&mut self, labels: &Labels<'_>, h: &HistogramSample<'_>) {
        let mut le = String::new();
        for (i, count) in h.cumulative.iter().enumerate() {
            set_le(&mut le, h.bounds.get(i));
            self.sample("_bucket", labels, Some(("le", &le)));
            push_number(self.out, Number::Int(*count));
            self.out.push('\n');
        }
        self.sample("_sum", labels, None);
        push_f64(self.out, h.sum);
        self.out.push('\n');
        self.sample("_count", labels, None);
        push_number(self.out, Number::Int(h.count));
        self.out.push('\n');
    }

    fn summary(&mut self, labels: &Labels<'_>, s: &SummarySample<'_>) {
        let mut q = String::new();
        for (quantile, value) in s.quantiles.iter().zip(s.values) {
            q.clear();
            push_f64(&mut q, *quantile);
            self.sample("", labels, Some(("quantile", &q)));
            push_f64(self.out, *value);
            self.out.push('\n');
        }
        self.sample("_sum", labels, None);
        push_f64(self.out, s.sum);
        self.out.push('\n');
        self.sample("_count", labels, None);
        push_number(self.out, Number::Int(s.count));
        self.out.push('\n');
    }

    fn info(&mut self, labels: &Labels<'_>) {
        self.sample("", labels, None);
        self.out.push_str("1\n");
    }

    fn unknown(&mut self, labels: &Labels<'_>, value: f64) {
        self.sample("", labels, None);
        push_f64(self.out, value);
        self.out.push('\n');
    }
}
