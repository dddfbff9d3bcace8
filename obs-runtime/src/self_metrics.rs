//! Metrics about obs itself.

crate::metric! {
    /// Label combinations folded into an overflow series because their family reached its
    /// series cap.
    pub(crate) counter CARDINALITY_OVERFLOW("obs_cardinality_overflow_total");
}
