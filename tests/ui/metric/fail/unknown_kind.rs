obs_runtime::metric! {
    /// Requests.
    pub countr REQUESTS("requests_total");
}

fn main() {}
