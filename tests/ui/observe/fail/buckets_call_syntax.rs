#[obs_runtime::observe(buckets(0.5, 1.0))]
fn work() {}

fn main() {
    work();
}
