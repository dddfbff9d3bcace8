obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("job:http_requests_total");
}

fn main() {}
