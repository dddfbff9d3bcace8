obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("requests_total");
    /// Requests, again.
    pub counter REQUESTS_AGAIN("requests_total");
}

fn main() {}
