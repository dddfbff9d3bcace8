//! `metric!` works in a function body, and its family still joins the global catalogue.

fn main() {
    obs_runtime::metric! {
        /// Local counter.
        counter LOCAL("local_events_total");
    }
    LOCAL.inc();
    let names = obs_runtime::Registry::global().names();
    assert!(names.iter().any(|n| n == "local_events_total"), "{names:?}");
}
