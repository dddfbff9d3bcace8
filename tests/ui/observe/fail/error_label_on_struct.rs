#[derive(Debug, obs_runtime::ErrorLabel)]
struct Failure {
    code: u16,
}

fn main() {
    let _ = Failure { code: 1 }.code;
}
