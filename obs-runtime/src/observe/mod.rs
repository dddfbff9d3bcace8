//! The runtime half of `#[observe]`: one static [`FnSite`] per observed function, and the
//! guard that owns span, timer, in-flight count and outcome of one call.
//!
//! The attribute expands to a few statics and one call into this module, so the logic is
//! compiled once here instead of being pasted into every function.

pub(crate) mod branch;
pub(crate) mod classify;
mod collect;
pub(crate) mod future;
pub(crate) mod guard;
pub(crate) mod panic;
mod record;
pub(crate) mod returned;
pub(crate) mod site;
mod tally;
pub(crate) mod type_name;

pub use classify::ErrorLabel;
pub(crate) use site::OBSERVED;
pub use site::{FUNCTION_BUCKETS, FnSite};

/// The site of an observed function, by module path and name (for tests and tools).
pub fn observed_function(module: &str, function: &str) -> Option<&'static FnSite> {
    observed_functions().find(|s| s.module == module && s.function == function)
}

/// Every observed function in the program.
pub fn observed_functions() -> impl Iterator<Item = &'static FnSite> {
    OBSERVED.iter().copied()
}
