#[obs_runtime::observe(fields(otel.kind = "server"))]
fn work() {}

fn main() {
    work();
}
