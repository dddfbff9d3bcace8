const NAME: &str = "requests_total";

obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS(NAME);
}

fn main() {}
