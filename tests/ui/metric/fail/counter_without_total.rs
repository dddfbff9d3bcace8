obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("http_requests");
}

fn main() {}
