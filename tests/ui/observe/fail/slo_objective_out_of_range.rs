use obs_runtime::metrics::Slo;

/// An objective of 100 % leaves no error budget.
const PERFECT: Slo = Slo::availability("perfect", 100.0);

#[obs_runtime::observe(slo = PERFECT)]
fn work() -> u8 {
    1
}

fn main() {
    let _ = work();
}
