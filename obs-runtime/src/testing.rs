//! What the unit tests share.

/// Proptest settings: `OBS_PROPTEST_CASES` cases (the long form), else `default`.
pub(crate) fn proptest_config(default: u32) -> proptest::prelude::ProptestConfig {
    proptest::prelude::ProptestConfig {
        cases: std::env::var("OBS_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
        ..proptest::prelude::ProptestConfig::default()
    }
}
