obs_runtime::metric! {
    /// Connections.
    pub gauge CONNECTIONS("connections_total");
}

fn main() {}
