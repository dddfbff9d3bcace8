use obs_runtime::ErrorLabel;

#[derive(Debug, ErrorLabel)]
enum CheckoutError {
    Declined,
    #[error_label(rename = "panic")]
    Crashed,
}

fn main() {
    let _ = CheckoutError::Declined;
    let _ = CheckoutError::Crashed;
}
