obs_runtime::metric! {
    pub counter REQUESTS("requests_total");
}

fn main() {}
