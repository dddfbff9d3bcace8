//! Negative bounds are valid (temperatures, balances): regression test for a macro panic
//! on literal tokens with a sign.

obs_runtime::metric! {
    /// Balance changes.
    pub histogram DELTA("account_balance_delta_dollars", buckets = [-100.0, -1, 0, 1.5, 100], unit = "dollars");
}

#[obs_runtime::observe(buckets = [-1.0, 0.5])]
fn adjust(v: f64) -> f64 {
    v
}

fn main() {
    DELTA.observe(-3.0);
    assert_eq!(DELTA.bounds(), &[-100.0, -1.0, 0.0, 1.5, 100.0]);
    assert_eq!(DELTA.bucket_counts(), vec![0, 1, 1, 1, 1, 1]);
    let _ = adjust(0.25);
    let site = obs_runtime::observe::observed_function(module_path!(), "adjust").unwrap();
    assert_eq!(site.duration().bounds(), &[-1.0, 0.5]);
}
