#[obs_runtime::observe(level = "verbose")]
fn work() {}

fn main() {
    work();
}
