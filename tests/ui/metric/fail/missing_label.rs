use obs_runtime::{HttpMethod, StatusClass};

obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("requests_total", method: HttpMethod, status: StatusClass);
}

fn main() {
    REQUESTS.with(HttpMethod::Get).inc();
}
