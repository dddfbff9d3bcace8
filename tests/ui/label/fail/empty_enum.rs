use obs_runtime::Label;

#[derive(Label)]
enum Never {}

fn main() {}
