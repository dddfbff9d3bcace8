#[obs_runtime::observe(nmae = "checkout")]
fn checkout() {}

fn main() {
    checkout();
}
