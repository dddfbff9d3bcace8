obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("requests_total", method);
}

fn main() {}
