obs_runtime::metric! {
    /// Request latency.
    pub histogram LATENCY("request_latency", unit = "seconds");
}

fn main() {}
