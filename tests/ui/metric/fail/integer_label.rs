obs_runtime::metric! {
    /// Requests per tenant.
    pub counter REQUESTS("requests_total", tenant: u64);
}

fn main() {}
