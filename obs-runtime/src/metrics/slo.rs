//! Service level objectives, declared as consts and checked at compile time.

use core::fmt;

/// A service level objective over a rolling window: the share of calls (or requests) that
/// succeed (an availability SLO), or that finish within a latency threshold (a latency
/// SLO).
///
/// Declare it as a `const` and attach it with `#[observe(slo = CHECKOUT)]`; several
/// functions may share one. The threshold of a latency SLO becomes a bucket boundary of
/// the histogram it is measured on, so the SLI is exact: an SLO can never silently read a
/// neighbouring bucket. What cannot be made right is a compile error: an objective outside
/// (0, 100), a threshold that is not a positive number, or (at the `#[observe]`) a
/// threshold above the histogram's largest bucket.
///
/// ```
/// use obs_runtime::metrics::Slo;
///
/// /// 99.5 % of checkouts succeed within 300 ms, over 28 days.
/// pub const CHECKOUT: Slo = Slo::latency("checkout", 99.5, 0.3)
///     .describe("Checkouts succeed within 300 ms");
/// /// 99.9 % of lookups succeed.
/// pub const LOOKUP: Slo = Slo::availability("lookup", 99.9).window_days(7);
///
/// assert_eq!(CHECKOUT.error_budget(), 0.005);
/// assert_eq!(LOOKUP.window_days, 7);
/// ```
///
/// ```compile_fail,E0080
/// use obs_runtime::metrics::Slo;
/// const TOO_STRICT: Slo = Slo::availability("checkout", 100.0);
/// let _ = TOO_STRICT;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slo {
    /// A short name, unique in the program: the `slo` label of its rules and panels.
    pub name: &'static str,
    /// The objective, as a percentage strictly between 0 and 100.
    pub objective: f64,
    /// The latency threshold in seconds, for a latency SLO.
    pub latency: Option<f64>,
    /// The rolling window, in days (default 28).
    pub window_days: u32,
    /// What the SLO promises, in words (shown on the dashboard and in alerts).
    pub description: &'static str,
}

impl Slo {
    /// Calls succeed `objective` percent of the time.
    ///
    /// # Panics
    ///
    /// In const evaluation (a compile error) when `objective` is not in (0, 100).
    pub const fn availability(name: &'static str, objective: f64) -> Self {
        assert!(
            objective > 0.0 && objective < 100.0,
            "an SLO objective is a percentage strictly between 0 and 100, such as 99.9"
        );
        assert!(!name.is_empty(), "an SLO needs a name");
        Self {
            name,
            objective,
            latency: None,
            window_days: 28,
            description: "",
        }
    }

    /// Calls finish within `threshold_seconds`, `objective` percent of the time.
    ///
    /// # Panics
    ///
    /// In const evaluation (a compile error) when `objective` is not in (0, 100) or the
    /// threshold is not a positive, finite number of seconds.
    pub const fn latency(name: &'static str, objective: f64, threshold_seconds: f64) -> Self {
        assert!(
            threshold_seconds > 0.0 && threshold_seconds < f64::INFINITY,
            "an SLO latency threshold is a positive number of seconds, such as 0.3"
        );
        let mut slo = Self::availability(name, objective);
        slo.latency = Some(threshold_seconds);
        slo
    }

    /// The rolling window, in days.
    ///
    /// # Panics
    ///
    /// In const evaluation when `days` is 0.
    #[must_use]
    pub const fn window_days(mut self, days: u32) -> Self {
        assert!(days > 0, "an SLO window is at least one day");
        self.window_days = days;
        self
    }

    /// Checks, in const evaluation, that the SLO can be measured on the HTTP layer's
    /// request histogram ([`DEFAULT_BUCKETS`](super::DEFAULT_BUCKETS), up to 10 s), for
    /// `ObsLayer::slo` (feature `axum`).
    ///
    /// # Panics
    ///
    /// In const evaluation (a compile error) when the latency threshold is above 10 s.
    #[must_use]
    pub const fn for_http(self) -> Self {
        check_slo(&self, &super::DEFAULT_BUCKETS);
        self
    }

    /// What the SLO promises, in words.
    #[must_use]
    pub const fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    /// The share of calls allowed to fail: `1 - objective / 100`.
    pub fn error_budget(&self) -> f64 {
        // Rounded to the objective's own precision, so 99.5 gives 0.005, not 0.00499….
        let budget = 1.0 - self.objective / 100.0;
        (budget * 1e9).round() / 1e9
    }

    /// The latency threshold as Prometheus prints a bucket bound (`le="0.3"`).
    pub fn latency_le(&self) -> Option<String> {
        self.latency.map(le_text)
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.latency {
            Some(l) => write!(
                f,
                "{} % of calls finish within {} s",
                self.objective,
                le_text(l)
            )?,
            None => write!(f, "{} % of calls succeed", self.objective)?,
        }
        write!(f, " over {} days", self.window_days)
    }
}

/// A bucket bound as the exposition writes it (`0.3`, `1`, `2.5`).
fn le_text(v: f64) -> String {
    let mut out = String::new();
    super::encoding::push_f64(&mut out, v);
    out
}

/// Checks, in const evaluation, that `slo` can be measured on a histogram with `buckets`:
/// its threshold lies within the histogram's range (above zero, at most the largest
/// bucket).
///
/// # Panics
///
/// In const evaluation (a compile error at the `slo = ..` of `#[observe]`) when it cannot.
pub const fn check_slo(slo: &Slo, buckets: &[f64]) {
    if let Some(t) = slo.latency {
        assert!(
            !buckets.is_empty() && t <= buckets[buckets.len() - 1],
            "the SLO's latency threshold is above the histogram's largest bucket: raise the buckets or lower the threshold"
        );
    }
}

/// The number of buckets once `slo`'s threshold is a boundary of `buckets`.
pub const fn buckets_with_slo_len(buckets: &[f64], slo: &Slo) -> usize {
    match slo.latency {
        Some(t) if !contains(buckets, t) => buckets.len() + 1,
        _ => buckets.len(),
    }
}

/// `buckets` with `slo`'s threshold inserted in order (unchanged when it already is a
/// boundary or the SLO has no threshold). `N` is [`buckets_with_slo_len`].
///
/// # Panics
///
/// In const evaluation when `N` is not that length.
pub const fn buckets_with_slo<const N: usize>(buckets: &[f64], slo: &Slo) -> [f64; N] {
    assert!(
        N == buckets_with_slo_len(buckets, slo),
        "wrong bucket count"
    );
    let mut out = [0.0; N];
    let mut i = 0;
    let mut o = 0;
    let mut inserted = match slo.latency {
        Some(t) => contains(buckets, t),
        None => true,
    };
    while i < buckets.len() {
        if !inserted
            && let Some(t) = slo.latency
            && t < buckets[i]
        {
            out[o] = t;
            o += 1;
            inserted = true;
        }
        out[o] = buckets[i];
        o += 1;
        i += 1;
    }
    if !inserted && let Some(t) = slo.latency {
        out[o] = t;
    }
    out
}

#[allow(
    clippy::float_cmp,
    reason = "a bucket bound is either exactly the threshold or another bound"
)]
const fn contains(buckets: &[f64], t: f64) -> bool {
    let mut i = 0;
    while i < buckets.len() {
        if buckets[i] == t {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "bucket bounds are copied, never computed")]
mod tests {
    use super::*;

    const B: [f64; 3] = [0.1, 0.5, 1.0];
    const S: Slo = Slo::latency("s", 99.0, 0.3);
    const N: usize = buckets_with_slo_len(&B, &S);
    const OUT: [f64; N] = buckets_with_slo::<N>(&B, &S);
    const ON: Slo = Slo::latency("s", 99.0, 0.5);
    const FIRST: Slo = Slo::latency("s", 99.0, 0.05);
    const AVAIL: Slo = Slo::availability("s", 99.0);

    #[test]
    fn the_threshold_becomes_a_boundary() {
        assert_eq!(OUT, [0.1, 0.3, 0.5, 1.0]);
        assert_eq!(buckets_with_slo::<3>(&B, &ON), B);
        assert_eq!(buckets_with_slo::<4>(&B, &FIRST), [0.05, 0.1, 0.5, 1.0]);
        assert_eq!(buckets_with_slo::<3>(&B, &AVAIL), B);
        check_slo(&S, &B);
    }

    #[test]
    fn budget_and_text() {
        let s = Slo::latency("checkout", 99.5, 0.3).window_days(7);
        assert_eq!(s.error_budget(), 0.005);
        assert_eq!(s.latency_le().as_deref(), Some("0.3"));
        assert_eq!(
            s.to_string(),
            "99.5 % of calls finish within 0.3 s over 7 days"
        );
    }

    #[test]
    #[should_panic(expected = "above the histogram's largest bucket")]
    fn a_threshold_beyond_the_buckets_is_refused() {
        check_slo(&Slo::latency("s", 99.0, 2.0), &B);
    }
}
