#[obs_runtime::observe(labels(tier = "gold"))]
fn premium() {}

fn main() {
    premium();
}
