fn always(_: &Result<(), String>) -> bool {
    true
}

#[obs_runtime::observe(ok_if = always)]
fn work() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = work();
}
