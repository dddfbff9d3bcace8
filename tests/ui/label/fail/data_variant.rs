use obs_runtime::Label;

#[derive(Label)]
enum Status {
    Paid,
    Failed(String),
}

fn main() {}
