#[obs_runtime::observe(labels(user_id = true))]
fn premium() {}

fn main() {
    premium();
}
