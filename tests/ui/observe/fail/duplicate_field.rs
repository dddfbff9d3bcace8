#[obs_runtime::observe(fields(id = id, id = id))]
fn work(id: u64) -> u64 {
    id
}

fn main() {
    let _ = work(1);
}
