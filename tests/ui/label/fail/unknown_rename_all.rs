use obs_runtime::Label;

#[derive(Label)]
#[label(rename_all = "shouty")]
enum Status {
    Paid,
}

fn main() {}
