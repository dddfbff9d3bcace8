#[obs_runtime::observe(skip(missing), fields(token = %token), buckets = [2.0, 1.0])]
fn work(token: &str) -> usize {
    token.len()
}

fn main() {
    let _ = work("t");
}
