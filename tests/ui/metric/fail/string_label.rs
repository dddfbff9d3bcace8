obs_runtime::metric! {
    /// Requests per tier.
    pub counter REQUESTS("requests_total", tier: String);
}

fn main() {}
