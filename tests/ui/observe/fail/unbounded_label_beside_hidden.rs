// A library's label enum marked `do_not_recommend` is not offered as a fix; the
// user's own label enum still is.
#[derive(Clone, Copy, obs_runtime::Label)]
#[label(do_not_recommend)]
pub enum LibraryInternal {
    One,
}

#[derive(Clone, Copy, obs_runtime::Label)]
pub enum Tier {
    Gold,
}

#[obs_runtime::observe(labels(tier = "gold"))]
fn premium() {}

fn main() {
    premium();
    let _ = (LibraryInternal::One, Tier::Gold);
}
