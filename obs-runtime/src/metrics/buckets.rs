//! Bucket and quantile helpers, usable in `const` context.

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
