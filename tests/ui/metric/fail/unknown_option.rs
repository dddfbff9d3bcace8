obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("requests_total", buckets = [1.0]);
}

fn main() {}
