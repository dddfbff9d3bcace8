//! Families whose names and label values are only known at run time, with a cardinality
//! guard.
//!
//! Prefer [`metric!`](crate::metric) with enum labels: its update path is an index and an
//! atomic. A dynamic family hashes its label values (and allocates the lookup key) on every
//! [`with`](DynamicFamily::with); keep the returned handle when a series is updated often.

use core::fmt;
use std::sync::Arc;

use super::capped::CappedMap;

use crate::metrics::Collect;
use crate::metrics::Metric;
use crate::metrics::encoding::{FamilyHeader, MetricEncoder};

/// The label value of the series that collects combinations beyond a family's cap.
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// Longest label value a dynamic family keeps, in bytes; longer ones share the overflow
/// series.
pub const MAX_LABEL_VALUE_LEN: usize = 256;

/// Name, help, unit, label names and series cap of a run-time family.
#[derive(Clone, Copy, Debug)]
pub struct DynamicOptions<'a, const N: usize> {
    /// The exposition name (counters end in `_total`).
    pub name: &'a str,
    /// The help text.
    pub help: &'a str,
    /// The unit, if any.
    pub unit: Option<&'a str>,
    /// Label names.
    pub labels: [&'a str; N],
    /// The most distinct label combinations kept; later ones fold into the overflow series.
    pub max_series: usize,
}

impl<'a, const N: usize> DynamicOptions<'a, N> {
    /// Options with no unit and a cap of 1 000 series.
    pub const fn new(name: &'a str, help: &'a str, labels: [&'a str; N]) -> Self {
        Self {
            name,
            help,
            unit: None,
            labels,
            max_series: 1000,
        }
    }

    /// Sets the unit.
    #[must_use]
    pub const fn unit(mut self, unit: &'a str) -> Self {
        self.unit = Some(unit);
        self
    }

    /// Sets the series cap.
    #[must_use]
    pub const fn max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series;
        self
    }
}

/// A family registered at run time with string label values; see
/// [`Registry::register_dynamic`](crate::Registry::register_dynamic).
pub struct DynamicFamily<M: Metric, const N: usize> {
    name: String,
    help: String,
    unit: Option<String>,
    labels: [String; N],
    options: M::Options,
    series: CappedMap<Vec<String>, M>,
    created: f64,
}

impl<M: Metric, const N: usize> DynamicFamily<M, N> {
    pub(crate) fn new(d: &DynamicOptions<'_, N>, options: M::Options) -> Self {
        Self {
            name: d.name.to_owned(),
            help: d.help.to_owned(),
            unit: d.unit.map(str::to_owned),
            labels: d.labels.map(str::to_owned),
            series: CappedMap::new(d.max_series, M::new(&options)),
            options,
            created: crate::time::unix_seconds(),
        }
    }

    /// The series for these label values. Once `max_series` combinations exist, new ones
    /// share the overflow series (all label values [`OVERFLOW_VALUE`]) and each such lookup
    /// counts one in `obs_cardinality_overflow_total`. A value longer than
    /// [`MAX_LABEL_VALUE_LEN`] bytes (a label value is never meant to carry a payload)
    /// takes the overflow series too, counted the same way.
    pub fn with(&self, values: [&str; N]) -> Arc<M> {
        if values.iter().any(|v| v.len() > MAX_LABEL_VALUE_LEN) {
            return self.series.overflow();
        }
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        self.series
            .get_or_insert(&key, || (key.clone(), M::new(&self.options)))
    }

    /// The number of distinct series (not counting the overflow series).
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series exists yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<M: Metric, const N: usize> Collect for DynamicFamily<M, N> {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: &self.name,
            help: &self.help,
            unit: self.unit.as_deref(),
            kind: M::KIND,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        for (key, series) in self.series.sorted() {
            let pairs: Vec<(&str, &str)> = self
                .labels
                .iter()
                .map(String::as_str)
                .zip(key.iter().map(String::as_str))
                .collect();
            series.encode(&pairs, self.created, encoder);
        }
        if self.series.overflow_in_use() {
            let pairs: Vec<(&str, &str)> = self
                .labels
                .iter()
                .map(|l| (l.as_str(), OVERFLOW_VALUE))
                .collect();
            self.series
                .overflow_value()
                .encode(&pairs, self.created, encoder);
        }
    }
}

impl<M: Metric, const N: usize> fmt::Debug for DynamicFamily<M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicFamily")
            .field("name", &self.name)
            .field("labels", &self.labels)
            .field("series", &self.len())
            .finish_non_exhaustive()
    }
}
