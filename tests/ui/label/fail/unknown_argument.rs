use obs_runtime::Label;

#[derive(Label)]
enum Status {
    #[label(renmae = "ok")]
    Paid,
}

fn main() {}
