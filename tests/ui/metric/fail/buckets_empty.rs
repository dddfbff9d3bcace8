obs_runtime::metric! {
    /// Request latency.
    pub histogram LATENCY("request_latency_seconds", buckets = []);
}

fn main() {}
