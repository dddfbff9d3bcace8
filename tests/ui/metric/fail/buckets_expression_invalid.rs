obs_runtime::metric! {
    /// Request latency.
    pub histogram LATENCY(
        "request_latency_seconds",
        buckets = obs_runtime::linear_buckets::<4>(1.0, -0.25),
    );
}

fn main() {}
