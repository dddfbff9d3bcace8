obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("requests_total", cached: bool, cached: bool);
}

fn main() {}
