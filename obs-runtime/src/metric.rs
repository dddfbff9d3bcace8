//! Metric cells: the atomics behind one label combination.
//!
//! Cells never format text. They hand their values to a [`MetricEncoder`], which is the
//! only place that knows an exposition format.

use core::fmt;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::encoding::{Exemplar, HistogramSample, Labels, MetricEncoder, Number, SummarySample};
use crate::exemplar::ExemplarSlot;
use crate::name::MetricKind;

/// Aligns a value to 128 bytes so that neighbouring cells never share a cache line (two
/// lines on x86_64 with the adjacent-line prefetcher, one on aarch64's large lines).
#[derive(Default)]
#[repr(align(128))]
pub struct CachePadded<T>(pub T);

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for CachePadded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An `f64` stored in an `AtomicU64` as its bit pattern.
#[derive(Default)]
pub(crate) struct AtomicF64(AtomicU64);

impl AtomicF64 {
    pub(crate) const fn zero() -> Self {
        // 0u64 is the bit pattern of +0.0.
        Self(AtomicU64::new(0))
    }

    #[inline]
    pub(crate) fn load(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    #[inline]
    pub(crate) fn store(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn add(&self, v: f64) {
        add_f64(&self.0, v);
    }
}

/// Adds `v` to the `f64` whose bits `cell` holds (a compare-and-swap loop).
#[inline]
fn add_f64(cell: &AtomicU64, v: f64) {
    let mut old = cell.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(old) + v).to_bits();
        match cell.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(seen) => old = seen,
        }
    }
}

/// The storage behind one label combination of a metric family.
///
/// Implemented by [`Counter`], [`FloatCounter`], [`Gauge`], [`FloatGauge`], [`Histogram`]
/// and [`Summary`]. A [`Family`](crate::Family) holds one cell per label combination.
pub trait Metric: Send + Sync + Sized + 'static {
    /// Per-family configuration every cell is built from (buckets, quantiles, …).
    type Options: Send + Sync + 'static;
    /// The family type this cell belongs to.
    const KIND: MetricKind;

    /// A zero-valued cell.
    fn new(options: &Self::Options) -> Self;

    /// Hands the cell's current values to `encoder`.
    fn encode(&self, labels: &Labels<'_>, created: f64, encoder: &mut dyn MetricEncoder);
}

/// A monotonically increasing integer counter.
///
/// ```
/// obs_runtime::metric! {
///     /// Jobs processed.
///     pub counter JOBS("jobs_processed_total");
/// }
///
/// JOBS.inc();
/// JOBS.inc_by(2);
/// assert_eq!(JOBS.get(), 3);
/// ```
#[derive(Default)]
pub struct Counter {
    value: AtomicU64,
    exemplar: ExemplarSlot,
}

impl Counter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self {
            value: AtomicU64::new(0),
            exemplar: ExemplarSlot::new(),
        }
    }

    /// Adds `n` and keeps `(trace_id, span_id)` as the counter's exemplar (OpenMetrics
    /// shows it next to the sample). Without a free slot the exemplar is dropped; the
    /// increment never is.
    ///
    /// ```
    /// obs_runtime::metric! {
    ///     /// Orders.
    ///     pub counter TRACED_ORDERS("traced_orders_total");
    /// }
    ///
    /// TRACED_ORDERS.inc_by_with_exemplar(2, [7; 16], [9; 8]);
    /// let exemplar = TRACED_ORDERS.exemplar().unwrap();
    /// assert_eq!((exemplar.trace_id, exemplar.value), ([7; 16], 2.0));
    /// ```
    pub fn inc_by_with_exemplar(&self, n: u64, trace_id: [u8; 16], span_id: [u8; 8]) {
        self.value.fetch_add(n, Ordering::Relaxed);
        #[allow(
            clippy::cast_precision_loss,
            reason = "an exemplar value is informative"
        )]
        self.exemplar.store(&Exemplar {
            trace_id,
            span_id,
            value: n as f64,
            timestamp: Some(crate::time::unix_seconds()),
        });
    }

    /// The latest exemplar, if one was recorded.
    pub fn exemplar(&self) -> Option<Exemplar> {
        self.exemplar.load()
    }

    /// Adds one. Inside a sampled span, the span's ids become the exemplar.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`. Inside a sampled span, the span's ids become the exemplar.
    #[inline]
    pub fn inc_by(&self, n: u64) {
        match crate::trace::sampled_current() {
            None => {
                self.value.fetch_add(n, Ordering::Relaxed);
            }
            Some((trace_id, span_id)) => self.inc_by_with_exemplar(n, trace_id, span_id),
        }
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("value", &self.get())
            .finish()
    }
}

impl Metric for Counter {
    type Options = ();
    const KIND: MetricKind = MetricKind::Counter;

    fn new((): &()) -> Self {
        Counter::new()
    }

    fn encode(&self, labels: &Labels<'_>, created: f64, encoder: &mut dyn MetricEncoder) {
        let exemplar = self.exemplar.load();
        encoder.counter(
            labels,
            Number::Int(self.get()),
            Some(created),
            exemplar.as_ref(),
        );
    }
}

/// A monotonically increasing floating-point counter (seconds spent, bytes as `f64`, …).
///
/// ```
/// obs_runtime::metric! {
///     /// CPU time spent resizing images.
///     pub float_counter RESIZE_CPU("resize_cpu_seconds_total", unit = "seconds");
/// }
///
/// RESIZE_CPU.inc_by(0.25);
/// RESIZE_CPU.inc_by(-1.0); // ignored: a counter never goes down
/// assert_eq!(RESIZE_CPU.get(), 0.25);
/// ```
#[derive(Default)]
pub struct FloatCounter {
    value: AtomicF64,
}

impl FloatCounter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self {
            value: AtomicF64::zero(),
        }
    }

    /// Adds `v`. Negative and NaN increments are ignored: a counter only goes up.
    #[inline]
    pub fn inc_by(&self, v: f64) {
        if v >= 0.0 {
            self.value.add(v);
        }
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.value.load()
    }
}

impl fmt::Debug for FloatCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloatCounter")
            .field("value", &self.get())
            .finish()
    }
}

impl Metric for FloatCounter {
    type Options = ();
    const KIND: MetricKind = MetricKind::Counter;

    fn new((): &()) -> Self {
        FloatCounter::new()
    }

    fn encode(&self, labels: &Labels<'_>, created: f64, encoder: &mut dyn MetricEncoder) {
        encoder.counter(labels, Number::Float(self.get()), Some(created), None);
    }
}

/// An integer value that goes up and down.
///
/// ```
/// obs_runtime::metric! {
///     /// Jobs waiting in the queue.
///     pub gauge QUEUED("jobs_queued");
/// }
///
/// QUEUED.set(10);
/// QUEUED.dec();
/// QUEUED.add(-4);
/// assert_eq!(QUEUED.get(), 5);
/// ```
#[derive(Default)]
pub struct Gauge {
    value: AtomicI64,
}

impl Gauge {
    /// A gauge at zero.
    pub const fn new() -> Self {
        Self {
            value: AtomicI64::new(0),
        }
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.value.store(v, Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.value.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds `v` (which may be negative).
    #[inline]
    pub fn add(&self, v: i64) {
        self.value.fetch_add(v, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge").field("value", &self.get()).finish()
    }
}

impl Metric for Gauge {
    type Options = ();
    const KIND: MetricKind = MetricKind::Gauge;

    fn new((): &()) -> Self {
        Gauge::new()
    }

    fn encode(&self, labels: &Labels<'_>, _created: f64, encoder: &mut dyn MetricEncoder) {
        encoder.gauge(labels, Number::Signed(self.get()));
    }
}

/// A floating-point value that goes up and down.
///
/// ```
/// obs_runtime::metric! {
///     /// Temperature of the build machine.
///     pub float_gauge TEMPERATURE("machine_temperature_celsius", unit = "celsius");
/// }
///
/// TEMPERATURE.set(21.5);
/// TEMPERATURE.add(-1.5);
/// assert_eq!(TEMPERATURE.get(), 20.0);
/// ```
#[derive(Default)]
pub struct FloatGauge {
    value: AtomicF64,
}

impl FloatGauge {
    /// A gauge at zero.
    pub const fn new() -> Self {
        Self {
            value: AtomicF64::zero(),
        }
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.value.store(v);
    }

    /// Adds `v` (which may be negative).
    #[inline]
    pub fn add(&self, v: f64) {
        self.value.add(v);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        self.value.load()
    }
}

impl fmt::Debug for FloatGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloatGauge")
            .field("value", &self.get())
            .finish()
    }
}

impl Metric for FloatGauge {
    type Options = ();
    const KIND: MetricKind = MetricKind::Gauge;

    fn new((): &()) -> Self {
        FloatGauge::new()
    }

    fn encode(&self, labels: &Labels<'_>, _created: f64, encoder: &mut dyn MetricEncoder) {
        encoder.gauge(labels, Number::Float(self.get()));
    }
}

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
    exemplars: OnceLock<Box<[ExemplarSlot]>>,
}

/// Extra partial sums per histogram, taken by threads that met contention on the first.
const SUM_STRIPES: usize = 3;
/// Distance between partial sums, in slots: 128 bytes, so no two share a cache line.
const STRIPE_STRIDE: usize = 16;

thread_local! {
    /// This thread's partial-sum stripe (1..=SUM_STRIPES), or 0 until it met contention.
    static SUM_STRIPE: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

fn next_stripe() -> usize {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    #[allow(
        clippy::cast_possible_truncation,
        reason = "reduced modulo SUM_STRIPES"
    )]
    let n = (NEXT.fetch_add(1, Ordering::Relaxed) % SUM_STRIPES as u64) as usize;
    n + 1
}

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
        match crate::trace::sampled_current() {
            None => self.observe_plain(v),
            Some((trace_id, span_id)) => self.observe_with_exemplar(v, trace_id, span_id),
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
        self.observe_plain(v);
        if !v.is_finite() {
            return;
        }
        let slots = self.exemplars.get_or_init(|| {
            (0..=self.bounds.len())
                .map(|_| ExemplarSlot::new())
                .collect()
        });
        if let Some(slot) = slots.get(self.bucket_index(v)) {
            slot.store(&Exemplar {
                trace_id,
                span_id,
                value: v,
                timestamp: Some(crate::time::unix_seconds()),
            });
        }
    }

    /// Per bucket (the `+Inf` bucket last), the latest exemplar.
    pub fn exemplars(&self) -> Vec<Option<Exemplar>> {
        match self.exemplars.get() {
            Some(slots) => slots.iter().map(ExemplarSlot::load).collect(),
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

    /// Adds to the sum like `LongAdder`: a thread uses the first partial sum until a
    /// compare-and-swap on it fails, then its own stripe from then on, so threads
    /// hammering one series stop retrying against each other.
    #[inline]
    fn add_sum(&self, v: f64) {
        let stripe = SUM_STRIPE.with(core::cell::Cell::get);
        if stripe == 0 {
            let first = &self.slots[0];
            let old = first.load(Ordering::Relaxed);
            let new = (f64::from_bits(old) + v).to_bits();
            if first
                .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            let mine = next_stripe();
            SUM_STRIPE.with(|s| s.set(mine));
            add_f64(&self.slots[Self::stripe_offset(self.bounds.len(), mine)], v);
        } else {
            add_f64(
                &self.slots[Self::stripe_offset(self.bounds.len(), stripe)],
                v,
            );
        }
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
        (0..=SUM_STRIPES)
            .map(|s| {
                let slot = &self.slots[Self::stripe_offset(self.bounds.len(), s)];
                f64::from_bits(slot.load(Ordering::Relaxed))
            })
            .sum()
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
        let cumulative = self.bucket_counts();
        let count = cumulative.last().copied().unwrap_or(0);
        let exemplars = self
            .exemplars
            .get()
            .map(|slots| slots.iter().map(ExemplarSlot::load).collect::<Vec<_>>())
            .unwrap_or_default();
        encoder.histogram(
            labels,
            &HistogramSample {
                bounds: self.bounds,
                cumulative: &cumulative,
                exemplars: &exemplars,
                sum: self.sum(),
                count,
                created: Some(created),
            },
        );
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

/// Quantiles, window length and window granularity of a [`Summary`].
#[derive(Clone, Copy, Debug)]
pub struct SummaryOptions {
    /// Quantiles to report, each in `0.0..=1.0`, strictly increasing.
    pub quantiles: &'static [f64],
    /// How far back observations count towards the quantiles.
    pub max_age: Duration,
    /// How many sub-windows the window rotates through (at least 1).
    pub age_buckets: u32,
}

impl SummaryOptions {
    /// The usual defaults: p50, p90, p99 over a ten-minute window rotated in five steps.
    pub const DEFAULT: SummaryOptions = SummaryOptions {
        quantiles: &[0.5, 0.9, 0.99],
        max_age: Duration::from_secs(600),
        age_buckets: 5,
    };
}

// Logarithmic sketch: relative accuracy ALPHA over [MIN_VALUE, MAX_VALUE].
const SKETCH_ALPHA: f64 = 0.01;
const SKETCH_MIN: f64 = 1e-9;
const SKETCH_KEYS: usize = 2 * 1037 + 1;

fn sketch_gamma_ln() -> f64 {
    ((1.0 + SKETCH_ALPHA) / (1.0 - SKETCH_ALPHA)).ln()
}

fn sketch_offset() -> f64 {
    -(SKETCH_MIN.ln() / sketch_gamma_ln()).ceil() + 1.0
}

/// The sketch slot for `v` (0 holds zero, negatives and values below `SKETCH_MIN`).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "the key is clamped to 1..SKETCH_KEYS (about 2000) before the cast"
)]
fn sketch_key(v: f64) -> usize {
    if v.is_nan() || v < SKETCH_MIN {
        return 0;
    }
    let k = (v.ln() / sketch_gamma_ln()).ceil() + sketch_offset();
    k.clamp(1.0, (SKETCH_KEYS - 1) as f64) as usize
}

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    reason = "keys are below 2^12"
)]
fn sketch_value(key: usize) -> f64 {
    if key == 0 {
        return 0.0;
    }
    let gamma = sketch_gamma_ln().exp();
    let exponent = key as f64 - sketch_offset();
    2.0 * gamma.powi(exponent as i32) / (gamma + 1.0)
}

struct Window {
    /// Epoch (plus one) this window counts; 0 = never used.
    epoch: AtomicU64,
    counts: Box<[AtomicU32]>,
}

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Observations summarised as quantiles over a sliding time window, with count and sum.
///
/// Quantiles come from a logarithmic sketch with 1 % relative accuracy for values from
/// 1e-9 up to about 1e9 (smaller and negative values count as 0, larger ones as the
/// maximum). The window of `max_age` rotates in `age_buckets` steps, like the Go client. The
/// sketch (about 40 KiB) is allocated on the first observation; updates afterwards are
/// lock-free and allocation-free. Count and sum are exact and cumulative. An observation
/// that races with the rotation of its sub-window may be missed by the quantiles (never by
/// count and sum).
///
/// ```
/// obs_runtime::metric! {
///     /// Size of uploaded files.
///     pub summary UPLOAD_SIZE("upload_size_bytes", quantiles = [0.5, 0.99], unit = "bytes");
/// }
///
/// for size in 1..=100 {
///     UPLOAD_SIZE.observe(f64::from(size));
/// }
/// let p50 = UPLOAD_SIZE.quantile(0.5);
/// assert!((p50 - 50.0).abs() / 50.0 < 0.03, "{p50}");
/// assert_eq!(UPLOAD_SIZE.count(), 100);
/// ```
pub struct Summary {
    options: SummaryOptions,
    count: AtomicU64,
    sum: AtomicF64,
    windows: OnceLock<Box<[Window]>>,
}

impl Summary {
    /// An empty summary.
    pub fn with_options(options: SummaryOptions) -> Self {
        Self {
            options,
            count: AtomicU64::new(0),
            sum: AtomicF64::zero(),
            windows: OnceLock::new(),
        }
    }

    #[allow(clippy::cast_possible_truncation, reason = "milliseconds fit in u64")]
    fn epoch(&self) -> u64 {
        let step = (self.options.max_age / self.options.age_buckets.max(1))
            .as_millis()
            .max(1);
        (process_start().elapsed().as_millis() / step) as u64 + 1
    }

    fn windows(&self) -> &[Window] {
        self.windows.get_or_init(|| {
            (0..self.options.age_buckets.max(1))
                .map(|_| Window {
                    epoch: AtomicU64::new(0),
                    counts: (0..SKETCH_KEYS).map(|_| AtomicU32::new(0)).collect(),
                })
                .collect()
        })
    }

    /// Records one observation. NaN is ignored.
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.add(v);
        let windows = self.windows();
        let epoch = self.epoch();
        let n = windows.len() as u64;
        #[allow(clippy::cast_possible_truncation, reason = "less than windows.len()")]
        let window = &windows[(epoch % n) as usize];
        let seen = window.epoch.load(Ordering::Acquire);
        if seen != epoch
            && window
                .epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            for c in &window.counts {
                c.store(0, Ordering::Relaxed);
            }
        }
        window.counts[sketch_key(v)].fetch_add(1, Ordering::Relaxed);
    }

    /// The number of observations ever made.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The sum of observations ever made.
    pub fn sum(&self) -> f64 {
        self.sum.load()
    }

    /// The estimated `q`-quantile of the observations in the current window; NaN if there
    /// are none.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut out = [f64::NAN];
        self.quantiles(&[q], &mut out);
        out[0]
    }

    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "ranks are small non-negative integers"
    )]
    fn quantiles(&self, qs: &[f64], out: &mut [f64]) {
        out.fill(f64::NAN);
        let Some(windows) = self.windows.get() else {
            return;
        };
        let current = self.epoch();
        let oldest = current.saturating_sub(windows.len() as u64 - 1).max(1);
        let mut merged = vec![0u64; SKETCH_KEYS];
        let mut total = 0u64;
        for w in windows {
            let e = w.epoch.load(Ordering::Acquire);
            if e < oldest || e > current {
                continue;
            }
            for (m, c) in merged.iter_mut().zip(w.counts.iter()) {
                let c = u64::from(c.load(Ordering::Relaxed));
                *m += c;
                total += c;
            }
        }
        if total == 0 {
            return;
        }
        for (q, slot) in qs.iter().zip(out.iter_mut()) {
            // Nearest rank: the smallest value with at least q·n observations at or below it.
            let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1) - 1;
            let mut seen = 0u64;
            for (key, c) in merged.iter().enumerate() {
                seen += c;
                if seen > rank {
                    *slot = sketch_value(key);
                    break;
                }
            }
        }
    }
}

impl fmt::Debug for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Summary")
            .field("count", &self.count())
            .field("sum", &self.sum())
            .finish_non_exhaustive()
    }
}

impl Metric for Summary {
    type Options = SummaryOptions;
    const KIND: MetricKind = MetricKind::Summary;

    fn new(options: &SummaryOptions) -> Self {
        Summary::with_options(*options)
    }

    fn encode(&self, labels: &Labels<'_>, created: f64, encoder: &mut dyn MetricEncoder) {
        let mut values = vec![f64::NAN; self.options.quantiles.len()];
        self.quantiles(self.options.quantiles, &mut values);
        encoder.summary(
            labels,
            &SummarySample {
                quantiles: self.options.quantiles,
                values: &values,
                sum: self.sum(),
                count: self.count(),
                created: Some(created),
            },
        );
    }
}

/// Bucket bounds `start, start + width, …` (`N` of them), usable in `const` context.
///
/// ```
/// const B: [f64; 4] = obs_runtime::linear_buckets(0.5, 0.5);
/// assert_eq!(B, [0.5, 1.0, 1.5, 2.0]);
/// ```
pub const fn linear_buckets<const N: usize>(start: f64, width: f64) -> [f64; N] {
    let mut out = [0.0; N];
    let mut i = 0;
    while i < N {
        #[allow(clippy::cast_precision_loss, reason = "bucket counts are small")]
        let step = i as f64;
        out[i] = start + width * step;
        i += 1;
    }
    out
}

/// Bucket bounds `start, start * factor, start * factor², …` (`N` of them), usable in
/// `const` context.
///
/// ```
/// const B: [f64; 4] = obs_runtime::exponential_buckets(0.25, 2.0);
/// assert_eq!(B, [0.25, 0.5, 1.0, 2.0]);
/// ```
pub const fn exponential_buckets<const N: usize>(start: f64, factor: f64) -> [f64; N] {
    let mut out = [0.0; N];
    let mut v = start;
    let mut i = 0;
    while i < N {
        out[i] = v;
        v *= factor;
        i += 1;
    }
    out
}

/// The default latency buckets, in seconds (the same as the Go and Python clients).
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Whether `buckets` is non-empty, finite and strictly increasing (for `const` checks).
pub const fn buckets_valid(buckets: &[f64]) -> bool {
    if buckets.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < buckets.len() {
        if !buckets[i].is_finite() {
            return false;
        }
        if i > 0 && buckets[i] <= buckets[i - 1] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `quantiles` are within `0..=1` and strictly increasing (for `const` checks).
pub const fn quantiles_valid(quantiles: &[f64]) -> bool {
    let mut i = 0;
    while i < quantiles.len() {
        let q = quantiles[i];
        if !(q >= 0.0 && q <= 1.0) {
            return false;
        }
        if i > 0 && q <= quantiles[i - 1] {
            return false;
        }
        i += 1;
    }
    true
}
