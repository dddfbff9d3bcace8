//! A background worker instrumented with obs and set up by `obs_runtime::init()`: JSON
//! logs (pretty on a terminal) with trace ids, `/metrics`, `/health/live` and
//! `/health/ready` on the embedded server, and OTLP traces when a collector is configured.
//!
//! ```text
//! cargo run -p obs-examples --example serve_metrics
//! curl -s localhost:9464/metrics
//! curl -s -H 'Accept: application/openmetrics-text' localhost:9464/metrics   # exemplars
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run -p obs-examples --example serve_metrics
//! OBS_METRICS_ADDR=127.0.0.1:9500 OBS_METRICS_TOKEN=s3cret cargo run -p obs-examples --example serve_metrics
//! ```
//!
//! Pass a number to stop after that many jobs (the guard then flushes the spans).

use std::time::Duration;

use obs_runtime::{Label, metric, observe, tracing};

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
#[observe(fields(job = n), err(level = "warn"))]
fn run_job(n: u64) -> Result<Job, std::io::Error> {
    std::thread::sleep(Duration::from_millis(50 + (n % 7) * 20));
    if n % 7 == 6 {
        return Err(std::io::Error::other("report template missing"));
    }
    let job = if n.is_multiple_of(3) {
        Job::Report
    } else {
        Job::Email
    };
    // Inside the sampled span: this increment keeps the span's ids as its exemplar.
    JOBS.with(job).inc();
    tracing::info!(kind = job.as_str(), "job done");
    Ok(job)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs: Option<u64> = std::env::args().nth(1).map(|n| n.parse()).transpose()?;
    let telemetry = obs_runtime::init()
        .service_name("obs-worker-example")
        .service_version(env!("CARGO_PKG_VERSION"))
        .install()?;
    tracing::info!(setup = telemetry.summary(), "started");
    if let Some(addr) = telemetry.metrics_addr() {
        eprintln!("metrics: http://{addr}/metrics   health: http://{addr}/health/ready");
    }
    for n in 0..jobs.unwrap_or(u64::MAX) {
        let _ = run_job(n);
    }
    Ok(())
}
