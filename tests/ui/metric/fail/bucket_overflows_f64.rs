obs_runtime::metric! {
    /// Request latency.
    pub histogram LATENCY("request_latency_seconds", buckets = [0.1, 1e400]);
}

fn main() {}
