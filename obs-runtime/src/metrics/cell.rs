//! Metric cells: the atomics behind one label combination.
//!
//! Cells never format text. They hand their values to a [`MetricEncoder`], which is the
//! only place that knows an exposition format.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use super::encoding::{Labels, MetricEncoder};

use super::name::MetricKind;

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
pub(crate) fn add_f64(cell: &AtomicU64, v: f64) {
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
/// Implemented by [`Counter`](super::Counter), [`FloatCounter`](super::FloatCounter), [`Gauge`](super::Gauge), [`FloatGauge`](super::FloatGauge), [`Histogram`](super::Histogram)
/// and [`Summary`](super::Summary). A [`Family`](crate::Family) holds one cell per label combination.
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
