obs_runtime::metric! {
    /// Request latency.
    pub histogram LATENCY("request_latency_seconds", buckets(0.5, 1.0));
}

fn main() {}
