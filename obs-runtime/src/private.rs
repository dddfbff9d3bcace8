//! Items the macros expand to. Not a stable API: names and signatures change without
//! notice.

pub use core::time::Duration;
pub use linkme;
pub use tracing::Level;
pub use tracing::field::{Value, debug, display};

pub use crate::metrics::buckets::{buckets_valid, quantiles_valid};
pub use crate::metrics::cell::CachePadded;
pub use crate::metrics::family::Descriptor;
pub use crate::metrics::label::LabelType;
pub use crate::metrics::slo::{buckets_with_slo, buckets_with_slo_len, check_slo};
pub use crate::metrics::{
    CATALOGUE, Collect, Counter, Family, FloatCounter, FloatGauge, Gauge, Histogram,
    HistogramOptions, Info, Label, LabelSet, Location, Metric, MetricKind, Summary, SummaryOptions,
};
pub use crate::observe::FUNCTION_BUCKETS;
pub use crate::observe::branch::{Branch, FromResidual};
pub use crate::observe::classify::{
    CallOutcome, Classified, ErrorInfo, ErrorLabel, ErrorName, Message, Probe, outcome, predicate,
};
pub use crate::observe::future::Observed;
pub use crate::observe::guard::{CallGuard, call_once, output_type};
pub use crate::observe::site::{ExtraLabel, FIXED, FnSite, OBSERVED, SiteConfig};

/// How a synchronous function's returned value is recorded, chosen by its type.
pub mod returned {
    pub use crate::observe::returned::{Boxed, BoxedSend, ProbeFuture, ProbeValue, Value};
}

/// The classification probes, glob-imported by `#[observe]`: anonymous trait imports
/// only, so the glob brings no name into the user's scope.
pub mod probe {
    pub use crate::observe::classify::{
        ProbeDebug as _, ProbeDisplay as _, ProbeError as _, ProbeErrorRef as _,
        ProbeErrorRefSync as _, ProbeLabel as _, ProbeNone as _, ProbeNotResult as _,
        ProbeResult as _, ProbeType as _,
    };
    pub use crate::observe::returned::{ProbeFuture as _, ProbeValue as _};
}

/// The catalogue entry of a family declared with `metric!`. `metric!` passes `L` as
/// `(<T as LabelType>::Type, ..)` spanned at each label type, so a type that is not a
/// label is reported once, there, and not again at the entry.
pub const fn catalogue_entry<L: LabelSet + 'static, M: Metric + 'static>(
    family: &'static Family<L, M>,
) -> &'static dyn Collect {
    family
}

/// Compile-time proof that `T` is a bounded label (the error speaks through
/// `Label`'s `on_unimplemented`).
pub const fn assert_label<T: Label>() {}

/// The number of label combinations of a set, for the const cardinality budget check.
pub const fn cardinality<L: LabelSet>() -> usize {
    L::CARDINALITY
}
