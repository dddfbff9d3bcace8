use obs_runtime::Label;

#[derive(Label)]
struct Status {
    code: u16,
}

fn main() {}
