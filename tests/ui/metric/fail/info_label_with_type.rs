obs_runtime::metric! {
    /// Build information.
    pub info BUILD("app_build", version: String);
}

fn main() {}
