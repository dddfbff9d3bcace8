#[obs_runtime::observe(labels(result = true))]
fn premium() {}

fn main() {
    premium();
}
