#[derive(Debug, obs_runtime::ErrorLabel)]
enum Failure {
    Timeout,
    #[error_label(rename = "Timeout")]
    Deadline,
}

fn main() {
    let _ = (Failure::Timeout, Failure::Deadline);
}
