#[obs_runtime::observe(buckets = [])]
fn work() {}

fn main() {
    work();
}
