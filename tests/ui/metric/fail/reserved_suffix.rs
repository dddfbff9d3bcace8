obs_runtime::metric! {
    /// Queue depth.
    pub gauge DEPTH("queue_bucket");
}

fn main() {}
