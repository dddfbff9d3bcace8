obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("http-requests_total");
}

fn main() {}
