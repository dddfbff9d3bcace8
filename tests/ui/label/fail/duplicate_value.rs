use obs_runtime::Label;

#[derive(Label)]
enum Status {
    Paid,
    #[label(rename = "paid")]
    Settled,
}

fn main() {}
