obs_runtime::metric! {
    /// Request latency.
    pub histogram LATENCY("request_latency_seconds", buckets = [0.1, 0.5, 0.25, 1.0]);
}

fn main() {}
