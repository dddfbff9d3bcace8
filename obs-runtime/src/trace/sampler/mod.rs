//! Head sampling (the OpenTelemetry standard samplers) and the tail sampling policy.

use std::time::Duration;

use super::{SpanContext, TraceId};

pub(super) mod tail;

/// Decides, when a span starts, whether its trace is sampled (exported).
///
/// The names match `OTEL_TRACES_SAMPLER`: `always_on`, `always_off`, `traceidratio`, and
/// their `parentbased_*` forms. A parent-based sampler follows the parent's decision,
/// local or remote, and asks its root sampler only for new traces.
///
/// ```
/// use obs_runtime::trace::{Sampler, TraceId};
///
/// let sampler = Sampler::parent_based(Sampler::TraceIdRatio(0.25));
/// let id = TraceId::from_u128(1).unwrap();
/// // Lower 64 bits of the id below a quarter of the range: sampled.
/// assert!(sampler.should_sample(None, id));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// Sample everything.
    AlwaysOn,
    /// Sample nothing (tail sampling can still keep errors and slow traces).
    AlwaysOff,
    /// Sample this fraction of traces, decided by the trace id so every service agrees.
    TraceIdRatio(f64),
    /// Follow the parent's decision; use the inner sampler for roots.
    ParentBased(Box<Sampler>),
}

impl Default for Sampler {
    /// `parentbased_always_on`, the OpenTelemetry default.
    fn default() -> Self {
        Self::parent_based(Self::AlwaysOn)
    }
}

impl Sampler {
    /// `ParentBased(root)`.
    pub fn parent_based(root: Sampler) -> Self {
        Self::ParentBased(Box::new(root))
    }

    /// Whether a span with this parent, in this trace, is sampled.
    pub fn should_sample(&self, parent: Option<&SpanContext>, trace_id: TraceId) -> bool {
        match self {
            Self::AlwaysOn => true,
            Self::AlwaysOff => false,
            Self::TraceIdRatio(ratio) => ratio_sampled(*ratio, trace_id),
            Self::ParentBased(root) => match parent {
                Some(parent) => parent.sampled,
                None => root.should_sample(None, trace_id),
            },
        }
    }
}

/// The OpenTelemetry `TraceIdRatioBased` rule: the lower 8 bytes of the id, shifted right
/// by one, against `ratio` × 2^63.
fn ratio_sampled(ratio: f64, trace_id: TraceId) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 || ratio.is_nan() {
        return false;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "ratio in (0, 1) times 2^63 fits in u64"
    )]
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    #[allow(clippy::cast_possible_truncation, reason = "the lower 64 bits")]
    let lower = trace_id.to_u128() as u64;
    (lower >> 1) < bound
}

/// Tail sampling: hold the spans of each trace until its local root ends, then keep the
/// whole trace if any span failed or the root took at least `latency`; otherwise keep it
/// only if the head sampler sampled it.
///
/// With tail sampling on, every span is recorded (an error may come at the end), and the
/// spans held wait in bounded memory: past `max_spans`, the oldest trace is evicted and
/// counted in `obs_spans_dropped_total{reason="tail_evicted"}`. Traces decided against are
/// counted with `reason="sampled_out"`.
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::trace::{Sampler, TailSampling};
///
/// // Keep 1 % of traces, plus every failed one and every one slower than 500 ms.
/// let builder = obs_runtime::init()
///     .sampler(Sampler::parent_based(Sampler::TraceIdRatio(0.01)))
///     .tail_sampling(TailSampling { latency: Duration::from_millis(500), ..TailSampling::default() });
/// # drop(builder);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TailSampling {
    /// A root at least this slow keeps its trace.
    pub latency: Duration,
    /// Most spans held at once, over all undecided traces.
    pub max_spans: usize,
}

impl Default for TailSampling {
    /// Keep traces slower than 1 s; hold at most 8 192 spans.
    fn default() -> Self {
        Self {
            latency: Duration::from_secs(1),
            max_spans: 8192,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::SpanId;

    fn ctx(sampled: bool) -> SpanContext {
        SpanContext {
            trace_id: TraceId::from_u128(7).unwrap(),
            span_id: SpanId::from_u64(9).unwrap(),
            sampled,
            remote: true,
        }
    }

    #[test]
    fn standard_samplers() {
        let id = |lower: u64| TraceId::from_u128((1u128 << 64) | u128::from(lower)).unwrap();
        let half = Sampler::TraceIdRatio(0.5);
        assert!(half.should_sample(None, id(0)));
        assert!(half.should_sample(None, id((1 << 63) - 1)));
        assert!(!half.should_sample(None, id(1 << 63)));
        assert!(!half.should_sample(None, id(u64::MAX)));
        assert!(!Sampler::TraceIdRatio(0.0).should_sample(None, id(0)));
        assert!(Sampler::TraceIdRatio(1.0).should_sample(None, id(u64::MAX)));
        let pb = Sampler::parent_based(Sampler::AlwaysOff);
        assert!(pb.should_sample(Some(&ctx(true)), id(5)));
        assert!(!pb.should_sample(None, id(5)));
        let pb = Sampler::parent_based(Sampler::AlwaysOn);
        assert!(!pb.should_sample(Some(&ctx(false)), id(5)));
        // Not parent-based: the parent is ignored.
        assert!(Sampler::AlwaysOn.should_sample(Some(&ctx(false)), id(5)));
        // About half of random ids.
        let n = (0..10_000)
            .filter(|_| half.should_sample(None, TraceId::random()))
            .count();
        assert!((4_500..5_500).contains(&n), "{n}");
    }
}
