//! Counters: integer and floating-point, only ever increasing.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use super::cell::{AtomicF64, Metric};
use super::encoding::{Exemplar, Labels, MetricEncoder, Number};
use super::exemplar::ExemplarPair;
use super::name::MetricKind;

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
    exemplar: ExemplarPair,
}

impl Counter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self {
            value: AtomicU64::new(0),
            exemplar: ExemplarPair::new(),
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
        self.exemplar
            .store(&Self::exemplar_of(n, trace_id, span_id));
    }

    fn exemplar_of(n: u64, trace_id: [u8; 16], span_id: [u8; 8]) -> Exemplar {
        #[allow(
            clippy::cast_precision_loss,
            reason = "an exemplar value is informative"
        )]
        Exemplar {
            trace_id,
            span_id,
            value: n as f64,
            timestamp: Some(crate::time::unix_seconds()),
        }
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
        match super::exemplar::context::current() {
            None => {
                self.value.fetch_add(n, Ordering::Relaxed);
            }
            Some(c) if !c.pending => self.inc_by_with_exemplar(n, c.trace_id, c.span_id),
            Some(c) => {
                self.value.fetch_add(n, Ordering::Relaxed);
                self.exemplar
                    .store_pending(&Self::exemplar_of(n, c.trace_id, c.span_id));
            }
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
