#![deny(dead_code)]

#[obs_runtime::observe]
fn never_called() -> u8 {
    1
}

fn main() {}
