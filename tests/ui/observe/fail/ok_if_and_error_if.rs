fn yes(_: &u8) -> bool {
    true
}

#[obs_runtime::observe(ok_if = yes, error_if = yes)]
fn work() -> u8 {
    1
}

fn main() {
    let _ = work();
}
