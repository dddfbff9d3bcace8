#[obs_runtime::observe(buckets = [0.1, 1e400])]
fn work() {}

fn main() {
    work();
}
