//! Gauges: integer and floating-point values that go up and down.

use core::fmt;
use core::sync::atomic::{AtomicI64, Ordering};

use super::cell::{AtomicF64, Metric};
use super::encoding::{Labels, MetricEncoder, Number};
use super::name::MetricKind;

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
