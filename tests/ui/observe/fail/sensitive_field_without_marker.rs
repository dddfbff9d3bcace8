#[obs_runtime::observe(fields(user = %user, password = %password))]
fn login(user: &str, password: &str) -> bool {
    user.len() > password.len()
}

fn main() {
    let _ = login("a", "b");
}
