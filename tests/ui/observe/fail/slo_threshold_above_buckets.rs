use obs_runtime::metrics::Slo;

/// 99 % of exports finish within 30 s: the default buckets end at 10 s.
const EXPORTS: Slo = Slo::latency("exports", 99.0, 30.0);

#[obs_runtime::observe(slo = EXPORTS)]
fn export() -> u8 {
    1
}

fn main() {
    let _ = export();
}
