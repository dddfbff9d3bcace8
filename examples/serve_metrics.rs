//! Serves `/metrics`, `/health/live` and `/health/ready` with obs's embedded server while
//! a background worker updates metrics.
//!
//! ```text
//! cargo run -p obs-examples --example serve_metrics            # 127.0.0.1:9464
//! cargo run -p obs-examples --example serve_metrics -- 127.0.0.1:9500
//! curl -s localhost:9464/metrics
//! curl -s -H 'Accept: application/openmetrics-text' localhost:9464/metrics
//! ```
//!
//! Set `OBS_METRICS_TOKEN` to require `Authorization: Bearer <token>` on `/metrics`.

use std::time::Duration;

use obs_runtime::{Label, MetricsServer, ServerConfig, metric, observe};

/// Kinds of background work.
#[derive(Clone, Copy, Debug, Label)]
pub enum Job {
    /// Sending e-mail.
    Email,
    /// Building reports.
    Report,
}

metric! {
    /// Background jobs completed.
    pub counter JOBS("worker_jobs_completed_total", job: Job);
}

/// One unit of background work; every seventh fails.
#[observe]
fn run_job(n: u64) -> Result<Job, std::io::Error> {
    std::thread::sleep(Duration::from_millis(50 + (n % 7) * 20));
    if n % 7 == 6 {
        return Err(std::io::Error::other("report template missing"));
    }
    Ok(if n % 3 == 0 { Job::Report } else { Job::Email })
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| obs_runtime::DEFAULT_ADDR.to_owned());
    let addr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let server = MetricsServer::start(ServerConfig {
        addr,
        token: std::env::var("OBS_METRICS_TOKEN").ok(),
        ..ServerConfig::default()
    })?;
    println!(
        "metrics: http://{}/metrics (Ctrl-C to stop)",
        server.local_addr()
    );
    println!("health:  http://{}/health/ready", server.local_addr());
    for n in 0.. {
        if let Ok(job) = run_job(n) {
            JOBS.with(job).inc();
        }
    }
    Ok(())
}
