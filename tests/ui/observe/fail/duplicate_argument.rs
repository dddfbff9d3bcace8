#[obs_runtime::observe(name = "a", name = "b")]
fn checkout() {}

fn main() {
    checkout();
}
