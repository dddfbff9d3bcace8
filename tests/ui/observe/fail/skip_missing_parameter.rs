#[obs_runtime::observe(skip(pasword))]
fn login(user: &str, password: &str) -> bool {
    user.len() > password.len()
}

fn main() {
    let _ = login("a", "b");
}
