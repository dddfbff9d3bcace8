use obs_runtime::{Label, observe};

#[derive(Clone, Copy, Debug, Label)]
enum Tier {
    Gold,
}

#[observe(labels(tier = tier))]
fn premium(tier: Tier) -> Tier {
    tier
}

fn main() {
    premium(Tier::Gold);
}
