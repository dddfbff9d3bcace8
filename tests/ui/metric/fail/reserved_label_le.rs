obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("requests_total", le: bool);
}

fn main() {}
