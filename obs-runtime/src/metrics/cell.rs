//! Metric cells: the atomics behind one label combination.
//!
//! Cells never format text. They hand their values to a [`MetricEncoder`], which is the
//! only place that knows an exposition format.

use core::fmt;
// `AtomicU64` and `Ordering` are core's, imported by `float_atomics!(std)` below.

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

/// The `f64` arithmetic on atomics: [`add_f64`], and the striped sum of a histogram
/// ([`add_striped`], [`striped_sum`]). Written once and instantiated for the atomics and
/// thread-locals of `std` (what runs) and, under `--cfg obs_loom`, for loom's (what the
/// model checker explores): the model test below checks this very code.
macro_rules! float_atomics {
    (std) => {
        use core::sync::atomic::{AtomicU64, Ordering};

        std::thread_local! {
            /// This thread's partial sum (1..=SUM_STRIPES), or 0 until it met contention.
            static SUM_STRIPE: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
        }

        /// The partial sum the next thread to meet contention takes, round robin.
        static NEXT_STRIPE: AtomicU64 = AtomicU64::new(0);

        float_atomics!(@algorithm);
    };
    (loom) => {
        use loom::sync::atomic::{AtomicU64, Ordering};

        loom::thread_local! {
            static SUM_STRIPE: core::cell::Cell<usize> = core::cell::Cell::new(0);
        }

        loom::lazy_static! {
            static ref NEXT_STRIPE: AtomicU64 = AtomicU64::new(0);
        }

        float_atomics!(@algorithm);
    };
    (@algorithm) => {
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

        /// Adds `v` to a sum kept as `SUM_STRIPES + 1` partial sums, `partial(0)` to
        /// `partial(SUM_STRIPES)`, like `LongAdder`: a thread adds to the first with one
        /// compare-and-swap until one fails, then to a partial sum of its own from then
        /// on, so threads hammering one series stop retrying against each other. Every
        /// access is relaxed: each update is a read-modify-write, so none is lost, and each
        /// partial sum is read coherently, so with non-negative observations (durations,
        /// sizes) a reader never sees the sum go back.
        #[inline]
        pub(crate) fn add_striped<'a>(partial: impl Fn(usize) -> &'a AtomicU64, v: f64) {
            let stripe = SUM_STRIPE.with(core::cell::Cell::get);
            if stripe == 0 {
                let first = partial(0);
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
                add_f64(partial(mine), v);
            } else {
                add_f64(partial(stripe), v);
            }
        }

        /// The sum [`add_striped`] keeps in `partial(0..=SUM_STRIPES)`.
        pub(crate) fn striped_sum<'a>(partial: impl Fn(usize) -> &'a AtomicU64) -> f64 {
            (0..=SUM_STRIPES)
                .map(|s| f64::from_bits(partial(s).load(Ordering::Relaxed)))
                .sum()
        }

        fn next_stripe() -> usize {
            #[allow(
                clippy::cast_possible_truncation,
                reason = "reduced modulo SUM_STRIPES"
            )]
            let n = (NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % SUM_STRIPES as u64) as usize;
            n + 1
        }
    };
}

/// Partial sums of a histogram's sum besides the first, taken by threads that met
/// contention on it (see [`add_striped`]).
pub(crate) const SUM_STRIPES: usize = 3;

float_atomics!(std);

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

/// The model test: `RUSTFLAGS="--cfg obs_loom" cargo test -p obs-runtime --lib
/// --no-default-features --release cell::model` (`scripts/test` runs it). Loom explores every
/// interleaving and every ordering the memory model allows of two threads adding to a
/// striped sum while a third reads it twice.
#[cfg(all(test, obs_loom))]
mod model {
    use super::SUM_STRIPES;
    use loom::sync::Arc;

    float_atomics!(loom);

    type Partials = Arc<[AtomicU64; SUM_STRIPES + 1]>;

    /// Adds `values` to the sum in `partials`, from a new thread.
    fn adder(partials: &Partials, values: &'static [f64]) -> loom::thread::JoinHandle<()> {
        let partials = Arc::clone(partials);
        loom::thread::spawn(move || {
            for &v in values {
                add_striped(|s| &partials[s], v);
            }
        })
    }

    /// One thread adds 1, another 2 then 4 (its second add goes straight to its own
    /// partial sum when its first met contention): the sum ends exact, 7 (small integers
    /// add up exactly in any order), and a reader's second read is never below its first.
    #[test]
    #[allow(clippy::float_cmp, reason = "sums of small integers are exact")]
    fn no_lost_update_and_monotonic_under_the_memory_model() {
        /// Whether some execution took the contended path (a partial sum besides the first).
        static STRIPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        loom::model(|| {
            let partials: Partials = Arc::new(core::array::from_fn(|_| AtomicU64::new(0)));
            let one = adder(&partials, &[1.0]);
            let two = adder(&partials, &[2.0, 4.0]);
            let first = striped_sum(|s| &partials[s]);
            let second = striped_sum(|s| &partials[s]);
            assert!(
                second >= first,
                "the sum went back from {first} to {second}"
            );
            one.join().unwrap();
            two.join().unwrap();
            assert_eq!(striped_sum(|s| &partials[s]), 7.0, "an update was lost");
            if partials[1..].iter().any(|p| p.load(Ordering::Relaxed) != 0) {
                STRIPED.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
        assert!(
            STRIPED.load(std::sync::atomic::Ordering::Relaxed),
            "no execution met contention: the model missed the striped path"
        );
    }
}
