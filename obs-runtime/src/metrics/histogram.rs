//! Histograms: bucket counts and a striped sum.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::cell::{Metric, SUM_STRIPES, add_striped, striped_sum};
use super::encoding::{Exemplar, HistogramSample, Labels, MetricEncoder};
use super::exemplar::ExemplarPair;
use super::name::MetricKind;

/// Upper bounds of a histogram's buckets, strictly increasing; `+Inf` is implicit.
#[derive(Clone, Copy, Debug)]
pub struct HistogramOptions {
    /// The finite upper bounds.
    pub buckets: &'static [f64],
}

/// Observations counted into fixed buckets, with their sum.
///
/// The count is not stored separately: it is the sum of the bucket counts, so the
/// exposition's `_count` always equals its `+Inf` bucket.
///
/// ```
/// obs_runtime::metric! {
///     /// Time to render a page.
///     pub histogram RENDER("page_render_seconds", buckets = [0.01, 0.1, 1.0], unit = "seconds");
/// }
///
/// RENDER.observe(0.05);
/// RENDER.observe(0.5);
/// RENDER.observe(7.0);
/// assert_eq!(RENDER.count(), 3);
/// assert_eq!(RENDER.bucket_counts(), vec![0, 1, 2, 3]); // cumulative, last is +Inf
/// assert_eq!(RENDER.sum(), 7.55);
/// ```
pub struct Histogram {
    bounds: &'static [f64],
    /// The sum's bits, then one count per bound plus the `+Inf` overflow (non-cumulative):
    /// one allocation, so an observation touches as few cache lines as possible. After them,
    /// `SUM_STRIPES` more partial sums, each on its own cache lines (see `add_sum`).
    slots: Box<[AtomicU64]>,
    /// Per bucket, the latest exemplar; allocated by the first exemplar.
    exemplars: OnceLock<Box<[ExemplarPair]>>,
}

/// Distance between partial sums, in slots: 128 bytes, so no two share a cache line.
const STRIPE_STRIDE: usize = 16;

impl Histogram {
    /// An empty histogram over `buckets` (finite upper bounds, strictly increasing).
    pub fn with_buckets(buckets: &'static [f64]) -> Self {
        Self {
            bounds: buckets,
            slots: (0..=Self::stripe_offset(buckets.len(), SUM_STRIPES))
                .map(|_| AtomicU64::new(0))
                .collect(),
            exemplars: OnceLock::new(),
        }
    }

    /// Records one observation. Inside a sampled span, the span's ids become the exemplar
    /// of the bucket.
    ///
    /// Non-finite values are observations too, and never poison the series: `+Inf` and
    /// NaN land in the `+Inf` bucket, `-Inf` in the first one, each counted in `_count`,
    /// and none is added to `_sum` (one `+Inf` and one `-Inf` would otherwise make it NaN
    /// for good). `_count` always equals the `+Inf` bucket.
    ///
    /// ```
    /// obs_runtime::metric! {
    ///     /// Sizes.
    ///     pub histogram SIZES("sizes_bytes", buckets = [1.0, 10.0]);
    /// }
    ///
    /// for v in [5.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
    ///     SIZES.observe(v);
    /// }
    /// assert_eq!(SIZES.count(), 4);
    /// assert_eq!(SIZES.sum(), 5.0);
    /// assert_eq!(SIZES.bucket_counts(), [1, 2, 4]);
    /// ```
    #[inline]
    pub fn observe(&self, v: f64) {
        match super::exemplar::context::current() {
            None => self.observe_plain(v),
            Some(c) => self.observe_keeping(v, c.trace_id, c.span_id, c.pending),
        }
    }

    #[inline]
    fn observe_plain(&self, v: f64) {
        let i = self.bucket_index(v);
        if let Some(slot) = self.slots.get(i + 1) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        if v.is_finite() {
            self.add_sum(v);
        }
    }

    /// Index of the first bound `>= v`; `bounds.len()` is the `+Inf` bucket (and NaN's).
    #[inline]
    fn bucket_index(&self, v: f64) -> usize {
        if v.is_nan() {
            self.bounds.len()
        } else if self.bounds.len() <= 16 {
            self.bounds
                .iter()
                .position(|b| v <= *b)
                .unwrap_or(self.bounds.len())
        } else {
            self.bounds.partition_point(|b| *b < v)
        }
    }

    /// Records one observation and keeps `(trace_id, span_id)` as the exemplar of the
    /// bucket it lands in. The first exemplar allocates one slot per bucket; later ones
    /// neither lock nor allocate.
    ///
    /// ```
    /// obs_runtime::metric! {
    ///     /// Latency.
    ///     pub histogram TRACED_LATENCY("traced_latency_seconds", buckets = [0.1, 1.0]);
    /// }
    ///
    /// TRACED_LATENCY.observe_with_exemplar(0.5, [1; 16], [2; 8]);
    /// let exemplars = TRACED_LATENCY.exemplars();
    /// assert_eq!(exemplars.len(), 3);
    /// assert!(exemplars[0].is_none() && exemplars[2].is_none());
    /// assert_eq!(exemplars[1].map(|e| e.value), Some(0.5));
    /// ```
    pub fn observe_with_exemplar(&self, v: f64, trace_id: [u8; 16], span_id: [u8; 8]) {
        self.observe_keeping(v, trace_id, span_id, false);
    }

    /// Records `v` and keeps the ids as its bucket's exemplar: confirmed, or `pending`
    /// the tail sampler's decision on the trace.
    fn observe_keeping(&self, v: f64, trace_id: [u8; 16], span_id: [u8; 8], pending: bool) {
        self.observe_plain(v);
        if !v.is_finite() {
            return;
        }
        let slots = self.exemplars.get_or_init(|| {
            (0..=self.bounds.len())
                .map(|_| ExemplarPair::new())
                .collect()
        });
        if let Some(slot) = slots.get(self.bucket_index(v)) {
            let exemplar = Exemplar {
                trace_id,
                span_id,
                value: v,
                timestamp: Some(crate::time::unix_seconds()),
            };
            if pending {
                slot.store_pending(&exemplar);
            } else {
                slot.store(&exemplar);
            }
        }
    }

    /// Per bucket (the `+Inf` bucket last), the latest exemplar of a trace that is
    /// exported.
    pub fn exemplars(&self) -> Vec<Option<Exemplar>> {
        match self.exemplars.get() {
            Some(slots) => slots.iter().map(ExemplarPair::load).collect(),
            None => vec![None; self.bounds.len() + 1],
        }
    }

    /// Slot index of partial sum `stripe` (0 is the first slot).
    const fn stripe_offset(bounds: usize, stripe: usize) -> usize {
        if stripe == 0 {
            0
        } else {
            // Past the counts, rounded up to a stride boundary, one stride per stripe.
            (bounds + 2).div_ceil(STRIPE_STRIDE) * STRIPE_STRIDE + (stripe - 1) * STRIPE_STRIDE
        }
    }

    /// Adds to the sum: see [`add_striped`].
    #[inline]
    fn add_sum(&self, v: f64) {
        add_striped(
            |s| &self.slots[Self::stripe_offset(self.bounds.len(), s)],
            v,
        );
    }

    /// Records a duration in seconds.
    #[inline]
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Starts a timer that observes the elapsed seconds when dropped.
    pub fn start_timer(&self) -> HistogramTimer<'_> {
        HistogramTimer {
            histogram: self,
            start: Instant::now(),
        }
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.counts()
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The sum of observations.
    pub fn sum(&self) -> f64 {
        striped_sum(|s| &self.slots[Self::stripe_offset(self.bounds.len(), s)])
    }

    fn counts(&self) -> &[AtomicU64] {
        &self.slots[1..self.bounds.len() + 2]
    }

    /// The finite upper bounds.
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// Cumulative counts per bucket, the `+Inf` bucket last.
    pub fn bucket_counts(&self) -> Vec<u64> {
        let mut acc = 0;
        self.counts()
            .iter()
            .map(|c| {
                acc += c.load(Ordering::Relaxed);
                acc
            })
            .collect()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("bounds", &self.bounds)
            .field("buckets", &self.bucket_counts())
            .field("sum", &self.sum())
            .finish_non_exhaustive()
    }
}

impl Metric for Histogram {
    type Options = HistogramOptions;
    const KIND: MetricKind = MetricKind::Histogram;

    fn new(options: &HistogramOptions) -> Self {
        Histogram::with_buckets(options.buckets)
    }

    fn encode(&self, labels: &Labels<'_>, created: f64, encoder: &mut dyn MetricEncoder) {
        encoder.histogram(labels, &self.snapshot().sample(Some(created)));
    }
}

/// A copy of a histogram's state, taken once for one exposition: what every encoder of a
/// histogram series (a family's, the RED families of `#[observe]` and the HTTP layer)
/// hands to the [`MetricEncoder`].
pub(crate) struct HistogramSnapshot {
    bounds: &'static [f64],
    cumulative: Vec<u64>,
    exemplars: Vec<Option<Exemplar>>,
    sum: f64,
}

impl Histogram {
    /// The current counts, sum and exemplars.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            cumulative: self.bucket_counts(),
            exemplars: self.exemplars(),
            sum: self.sum(),
        }
    }
}

impl HistogramSnapshot {
    /// Adds `other` in, when its buckets are the same: counts and sums add up, and each
    /// bucket keeps the newer exemplar. Returns whether it was added.
    pub(crate) fn merge(&mut self, other: &HistogramSnapshot) -> bool {
        if other.bounds != self.bounds {
            return false;
        }
        for (mine, theirs) in self.cumulative.iter_mut().zip(&other.cumulative) {
            *mine += theirs;
        }
        self.sum += other.sum;
        for (mine, theirs) in self.exemplars.iter_mut().zip(&other.exemplars) {
            let newer = match (&*mine, theirs) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(a), Some(b)) => b.timestamp > a.timestamp,
            };
            if newer {
                *mine = *theirs;
            }
        }
        true
    }

    /// The sample an encoder writes.
    pub(crate) fn sample(&self, created: Option<f64>) -> HistogramSample<'_> {
        HistogramSample {
            bounds: self.bounds,
            cumulative: &self.cumulative,
            exemplars: &self.exemplars,
            sum: self.sum,
            count: self.cumulative.last().copied().unwrap_or(0),
            created,
        }
    }
}

/// Observes the time since [`Histogram::start_timer`] when dropped.
#[derive(Debug)]
#[must_use = "the timer observes when dropped; bind it to a variable"]
pub struct HistogramTimer<'a> {
    histogram: &'a Histogram,
    start: Instant,
}

impl Drop for HistogramTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe_duration(self.start.elapsed());
    }
}
