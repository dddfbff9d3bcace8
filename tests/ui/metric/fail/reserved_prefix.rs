obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("__http_requests_total");
}

fn main() {}
