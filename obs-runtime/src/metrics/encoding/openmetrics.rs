//! OpenMetrics 1.0 text format: units, `_created` samples, exemplars and `# EOF`.

use super::{
    Exemplar, FamilyHeader, HistogramSample, Labels, MetricEncoder, Number, SummarySample,
    escape_help, push_f64, push_hex, push_labels, push_number, set_le,
};
use crate::metrics::name::MetricKind;

/// Writes OpenMetrics 1.0 into a `String`; call [`finish`](Self::finish) to append `# EOF`.
///
/// ```
/// use obs_runtime::metrics::encoding::{FamilyHeader, MetricEncoder, Number, openmetrics::OpenMetricsEncoder};
/// use obs_runtime::metrics::MetricKind;
///
/// let mut out = String::new();
/// let mut enc = OpenMetricsEncoder::new(&mut out);
/// enc.family(&FamilyHeader { name: "jobs_total", help: "Jobs.", unit: None, kind: MetricKind::Counter });
/// enc.counter(&[], Number::Int(3), Some(1700000000.0), None);
/// enc.finish();
/// assert_eq!(out, "# TYPE jobs counter\n# HELP jobs Jobs.\njobs_total 3\njobs_created 1700000000.0\n# EOF\n");
/// ```
#[derive(Debug)]
pub struct OpenMetricsEncoder<'a> {
    out: &'a mut String,
    name: String,
    /// The last `_created` value and its rendering: every series of a family shares one.
    created: (u64, String),
}

impl<'a> OpenMetricsEncoder<'a> {
    /// An encoder appending to `out`.
    pub fn new(out: &'a mut String) -> Self {
        Self {
            out,
            name: String::new(),
            created: (f64::NAN.to_bits(), String::new()),
        }
    }

    /// Appends the `# EOF` terminator.
    pub fn finish(self) {
        self.out.push_str("# EOF\n");
    }

    fn sample(&mut self, suffix: &str, labels: &Labels<'_>, extra: Option<(&str, &str)>) {
        self.out.push_str(&self.name);
        self.out.push_str(suffix);
        push_labels(self.out, labels, extra);
        self.out.push(' ');
    }

    fn exemplar(&mut self, exemplar: Option<&Exemplar>) {
        if let Some(e) = exemplar {
            self.out.push_str(" # {trace_id=\"");
            push_hex(self.out, &e.trace_id);
            self.out.push_str("\",span_id=\"");
            push_hex(self.out, &e.span_id);
            self.out.push_str("\"} ");
            push_f64(self.out, e.value);
            if let Some(ts) = e.timestamp {
                self.out.push(' ');
                push_f64(self.out, ts);
            }
        }
        self.out.push('\n');
    }

    fn created(&mut self, labels: &Labels<'_>, created: Option<f64>) {
        if let Some(created) = created {
            self.sample("_created", labels, None);
            if self.created.0 != created.to_bits() {
                self.created.1.clear();
                push_f64(&mut self.created.1, created);
                self.created.0 = created.to_bits();
            }
            self.out.push_str(&self.created.1);
            self.out.push('\n');
        }
    }
}

impl MetricEncoder for OpenMetricsEncoder<'_> {
    fn family(&mut self, header: &FamilyHeader<'_>) {
        self.name.clear();
        let name = match header.kind {
            MetricKind::Counter => header.name.strip_suffix("_total").unwrap_or(header.name),
            _ => header.name,
        };
        self.name.push_str(name);
        self.out.push_str("# TYPE ");
        self.out.push_str(&self.name);
        self.out.push(' ');
        self.out.push_str(header.kind.as_str());
        self.out.push('\n');
        if let Some(unit) = header.unit {
            self.out.push_str("# UNIT ");
            self.out.push_str(&self.name);
            self.out.push(' ');
            self.out.push_str(unit);
            self.out.push('\n');
        }
        if !header.help.is_empty() {
            self.out.push_str("# HELP ");
            self.out.push_str(&self.name);
            self.out.push(' ');
            escape_help(self.out, header.help, true);
            self.out.push('\n');
        }
    }

    fn counter(
        &mut self,
        labels: &Labels<'_>,
        value: Number,
        created: Option<f64>,
        exemplar: Option<&Exemplar>,
    ) {
        self.sample("_total", labels, None);
        push_number(self.out, value);
        self.exemplar(exemplar);
        self.created(labels, created);
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
            self.exemplar(h.exemplars.get(i).and_then(Option::as_ref));
        }
        self.sample("_count", labels, None);
        push_number(self.out, Number::Int(h.count));
        self.out.push('\n');
        self.sample("_sum", labels, None);
        push_f64(self.out, h.sum);
        self.out.push('\n');
        self.created(labels, h.created);
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
        self.sample("_count", labels, None);
        push_number(self.out, Number::Int(s.count));
        self.out.push('\n');
        self.sample("_sum", labels, None);
        push_f64(self.out, s.sum);
        self.out.push('\n');
        self.created(labels, s.created);
    }

    fn info(&mut self, labels: &Labels<'_>) {
        self.sample("_info", labels, None);
        self.out.push_str("1\n");
    }

    fn unknown(&mut self, labels: &Labels<'_>, value: f64) {
        self.sample("", labels, None);
        push_f64(self.out, value);
        self.out.push('\n');
    }
}
