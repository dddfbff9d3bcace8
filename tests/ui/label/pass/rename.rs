use obs_runtime::Label;

#[derive(Clone, Copy, Label)]
#[label(rename_all = "kebab-case")]
enum Region {
    EuWest,
    #[label(rename = "us-east-1")]
    UsEast,
    ApSouthEast,
}

#[derive(Clone, Copy, Label)]
#[label(rename_all = "SCREAMING_SNAKE_CASE")]
enum Tier {
    FreeTrial,
    Paid,
}

fn main() {
    assert_eq!(Region::VALUES, &["eu-west", "us-east-1", "ap-south-east"]);
    assert_eq!(Tier::FreeTrial.as_str(), "FREE_TRIAL");
    assert_eq!(Tier::from_index(1).map(|t| t.index()), Some(1));
    assert_eq!(Region::CARDINALITY, 3);
}
