//! Summaries: quantiles over a sliding time window, from a log-bucketed sketch.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::cell::{AtomicF64, Metric};
use super::encoding::{Labels, MetricEncoder, SummarySample};
use super::name::MetricKind;

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
