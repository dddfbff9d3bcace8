obs_runtime::metric! {
    /// Response size.
    pub summary SIZE("response_size_bytes", quantiles = [0.5, 1.5]);
}

fn main() {}
