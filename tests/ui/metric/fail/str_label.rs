obs_runtime::metric! {
    /// Requests per path.
    pub counter REQUESTS("requests_total", path: &'static str);
}

fn main() {}
