use obs_runtime::Label;

#[derive(Clone, Copy, Label)]
enum Bucket { A, B }

obs_runtime::metric! {
    /// Requests.
    pub counter REQUESTS("requests_total", user_id: Bucket);
}

fn main() {}
