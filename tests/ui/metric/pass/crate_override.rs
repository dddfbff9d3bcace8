//! A crate that re-exports obs under another name points the macros at it.

mod telemetry {
    pub use obs_runtime::*;
}

/// A region.
#[derive(Clone, Copy, telemetry::Label)]
#[label(crate = crate::telemetry)]
pub enum Region {
    Eu,
    Us,
}

telemetry::metric! {
    /// Requests per region.
    pub counter REQUESTS("override_requests_total", region: Region, crate = crate::telemetry);
}

fn main() {
    REQUESTS.with(Region::Us).inc();
    assert_eq!(REQUESTS.with(Region::Us).get(), 1);
    assert_eq!(REQUESTS.with(Region::Eu).get(), 0);
}
