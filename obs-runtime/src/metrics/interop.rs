//! Interop with the `prometheus` crate, both ways.
//!
//! - obs families implement [`prometheus::core::Collector`], so they can be registered in a
//!   `prometheus::Registry` that an existing service already serves;
//! - [`Registry::include_prometheus`](crate::Registry::include_prometheus) adds a
//!   `prometheus::Registry` to obs exposition (the global registry includes
//!   `prometheus::default_registry()`, which carries the process collector on Linux).

use std::collections::HashMap;
use std::sync::OnceLock;

use prometheus::core::{Collector, Desc};
use prometheus::proto;

use crate::metrics::LabelSet;
use crate::metrics::Metric;
use crate::metrics::encoding::{
    Exemplar, FamilyHeader, HistogramSample, Labels, MetricEncoder, Number, SummarySample,
};
use crate::metrics::name::MetricKind;
use crate::metrics::{Collect, Family, Info};

/// Builds the `prometheus` crate's data model from obs series.
struct ProtoEncoder {
    families: Vec<proto::MetricFamily>,
}

impl ProtoEncoder {
    fn push(&mut self, labels: &Labels<'_>, fill: impl FnOnce(&mut proto::Metric)) {
        let pairs = labels
            .iter()
            .map(|(n, v)| {
                let mut p = proto::LabelPair::default();
                p.set_name((*n).to_owned());
                p.set_value((*v).to_owned());
                p
            })
            .collect();
        let mut m = proto::Metric::from_label(pairs);
        fill(&mut m);
        if let Some(f) = self.families.last_mut() {
            f.mut_metric().push(m);
        }
    }
}

fn as_f64(v: Number) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "the prometheus model is f64")]
    match v {
        Number::Int(v) => v as f64,
        Number::Signed(v) => v as f64,
        Number::Float(v) => v,
    }
}

impl MetricEncoder for ProtoEncoder {
    fn family(&mut self, header: &FamilyHeader<'_>) {
        let mut f = proto::MetricFamily::default();
        f.set_name(header.text_name());
        f.set_help(header.help.to_owned());
        f.set_field_type(match header.kind {
            MetricKind::Counter => proto::MetricType::COUNTER,
            MetricKind::Gauge | MetricKind::Info => proto::MetricType::GAUGE,
            MetricKind::Histogram => proto::MetricType::HISTOGRAM,
            MetricKind::Summary => proto::MetricType::SUMMARY,
            MetricKind::Unknown => proto::MetricType::UNTYPED,
        });
        self.families.push(f);
    }

    fn counter(&mut self, labels: &Labels<'_>, v: Number, _: Option<f64>, _: Option<&Exemplar>) {
        self.push(labels, |m| {
            let mut c = proto::Counter::default();
            c.set_value(as_f64(v));
            m.set_counter(c);
        });
    }

    fn gauge(&mut self, labels: &Labels<'_>, v: Number) {
        self.push(labels, |m| {
            let mut g = proto::Gauge::default();
            g.set_value(as_f64(v));
            m.set_gauge(g);
        });
    }

    fn histogram(&mut self, labels: &Labels<'_>, s: &HistogramSample<'_>) {
        self.push(labels, |m| {
            let mut h = proto::Histogram::default();
            h.set_sample_count(s.count);
            h.set_sample_sum(s.sum);
            h.set_bucket(
                s.bounds
                    .iter()
                    .zip(s.cumulative)
                    .map(|(b, c)| {
                        let mut bucket = proto::Bucket::default();
                        bucket.set_upper_bound(*b);
                        bucket.set_cumulative_count(*c);
                        bucket
                    })
                    .collect(),
            );
            m.set_histogram(h);
        });
    }

    fn summary(&mut self, labels: &Labels<'_>, s: &SummarySample<'_>) {
        self.push(labels, |m| {
            let mut summary = proto::Summary::default();
            summary.set_sample_count(s.count);
            summary.set_sample_sum(s.sum);
            summary.set_quantile(
                s.quantiles
                    .iter()
                    .zip(s.values)
                    .map(|(q, v)| {
                        let mut quantile = proto::Quantile::default();
                        quantile.set_quantile(*q);
                        quantile.set_value(*v);
                        quantile
                    })
                    .collect(),
            );
            m.set_summary(summary);
        });
    }

    fn info(&mut self, labels: &Labels<'_>) {
        self.gauge(labels, Number::Int(1));
    }

    // `Untyped` is deprecated in the plain model but is the only type for untyped samples.
    #[allow(deprecated)]
    fn unknown(&mut self, labels: &Labels<'_>, value: f64) {
        self.push(labels, |m| {
            let mut u = proto::Untyped::default();
            u.set_value(value);
            m.set_untyped(u);
        });
    }
}

/// Collects an obs family into the `prometheus` crate's data model.
pub(crate) fn to_proto(family: &dyn Collect) -> Vec<proto::MetricFamily> {
    let mut enc = ProtoEncoder {
        families: Vec::with_capacity(1),
    };
    enc.family(&family.header());
    family.encode_series(&mut enc);
    enc.families
}

/// The `prometheus` descriptor of an obs family, built once.
#[derive(Debug, Default)]
pub(crate) struct PrometheusDesc(OnceLock<Vec<Desc>>);

impl PrometheusDesc {
    pub(crate) const fn new() -> Self {
        Self(OnceLock::new())
    }

    fn get(&self, header: &FamilyHeader<'_>, labels: &[&str]) -> Vec<&Desc> {
        self.0
            .get_or_init(|| {
                let name = header.text_name();
                // `prometheus` refuses an empty help; obs requires one at compile time, but
                // families registered at run time may omit it.
                let help = if header.help.is_empty() {
                    name.clone()
                } else {
                    header.help.to_owned()
                };
                let labels = labels.iter().map(|l| (*l).to_owned()).collect();
                Desc::new(name, help, labels, HashMap::new())
                    .map(|d| vec![d])
                    .unwrap_or_default()
            })
            .iter()
            .collect()
    }
}

impl<L: LabelSet, M: Metric> Collector for Family<L, M> {
    fn desc(&self) -> Vec<&Desc> {
        let d = self.descriptor();
        self.prometheus_desc().get(&d.header(), d.label_names)
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        to_proto(self)
    }
}

impl<const N: usize> Collector for Info<N> {
    fn desc(&self) -> Vec<&Desc> {
        let d = self.descriptor();
        self.prometheus_desc().get(&d.header(), d.label_names)
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        to_proto(self)
    }
}

/// Replays families gathered from a `prometheus::Registry` into an obs encoder.
#[allow(deprecated)] // `get_untyped`: see `ProtoEncoder::unknown`
pub(crate) fn encode_gathered(
    families: &[proto::MetricFamily],
    encoder: &mut dyn MetricEncoder,
    mut skip: impl FnMut(&str) -> bool,
) {
    for f in families {
        let kind = match f.get_field_type() {
            proto::MetricType::COUNTER => MetricKind::Counter,
            proto::MetricType::GAUGE => MetricKind::Gauge,
            proto::MetricType::HISTOGRAM => MetricKind::Histogram,
            proto::MetricType::SUMMARY => MetricKind::Summary,
            proto::MetricType::UNTYPED => MetricKind::Unknown,
        };
        if skip(f.name()) {
            continue;
        }
        encoder.family(&FamilyHeader {
            name: f.name(),
            help: f.help(),
            unit: None,
            kind,
        });
        for m in f.get_metric() {
            let labels: Vec<(&str, &str)> = m
                .get_label()
                .iter()
                .map(|p| (p.name(), p.value()))
                .collect();
            match kind {
                MetricKind::Counter => {
                    let v = m.get_counter().get_value();
                    encoder.counter(&labels, Number::Float(v), None, None);
                }
                MetricKind::Gauge | MetricKind::Info => {
                    encoder.gauge(&labels, Number::Float(m.get_gauge().get_value()));
                }
                MetricKind::Histogram => {
                    let h = m.get_histogram();
                    let finite = h
                        .get_bucket()
                        .iter()
                        .filter(|b| b.upper_bound().is_finite());
                    let bounds: Vec<f64> = finite.clone().map(proto::Bucket::upper_bound).collect();
                    let mut cumulative: Vec<u64> =
                        finite.map(proto::Bucket::cumulative_count).collect();
                    cumulative.push(h.get_sample_count());
                    encoder.histogram(
                        &labels,
                        &HistogramSample {
                            bounds: &bounds,
                            cumulative: &cumulative,
                            exemplars: &[],
                            sum: h.get_sample_sum(),
                            count: h.get_sample_count(),
                            created: None,
                        },
                    );
                }
                MetricKind::Summary => {
                    let s = m.get_summary();
                    let quantiles: Vec<f64> = s
                        .get_quantile()
                        .iter()
                        .map(proto::Quantile::quantile)
                        .collect();
                    let values: Vec<f64> = s
                        .get_quantile()
                        .iter()
                        .map(proto::Quantile::value)
                        .collect();
                    encoder.summary(
                        &labels,
                        &SummarySample {
                            quantiles: &quantiles,
                            values: &values,
                            sum: s.sample_sum(),
                            count: s.sample_count(),
                            created: None,
                        },
                    );
                }
                MetricKind::Unknown => encoder.unknown(&labels, m.get_untyped().get_value()),
            }
        }
    }
}
