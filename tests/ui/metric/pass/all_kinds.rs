#![deny(warnings, missing_docs, unused_qualifications)]
//! Every metric kind and option, used with typed labels.

use obs_runtime::{HttpMethod, Label, StatusClass, metric};

/// Where a job ran.
#[derive(Clone, Copy, Debug, Label)]
pub enum Queue {
    /// E-mail jobs.
    Mail,
    /// Report jobs.
    Reports,
}

metric! {
    /// Jobs run.
    pub counter JOBS("jobs_total", queue: Queue, failed: bool);
    /// CPU seconds spent.
    pub float_counter CPU("jobs_cpu_seconds_total", queue: Queue, unit = "seconds");
    /// Jobs waiting.
    pub gauge WAITING("jobs_waiting", queue: Queue);
    /// Load average.
    pub float_gauge LOAD("jobs_load_ratio", unit = "ratio");
    /// Request latency.
    pub histogram LATENCY(
        "jobs_http_request_duration_seconds",
        method: HttpMethod,
        status: StatusClass,
        buckets = [0.01, 0.1, 1, 10],
        unit = "seconds",
        budget = 100,
    );
    /// Job duration, from a const helper.
    pub histogram DURATION("jobs_duration_seconds", buckets = obs_runtime::exponential_buckets::<6>(0.001, 10.0));
    /// Payload size.
    pub summary PAYLOAD("jobs_payload_bytes", quantiles = [0.5, 0.99], max_age = 60, age_buckets = 3, unit = "bytes");
    /// Build information.
    pub info BUILD("jobs_build", version, commit);
}

fn main() {
    JOBS.with(Queue::Mail, false).inc();
    CPU.with(Queue::Reports).inc_by(0.5);
    WAITING.with(Queue::Mail).set(3);
    LOAD.set(0.75);
    LATENCY.with(HttpMethod::Get, StatusClass::Success).observe(0.05);
    DURATION.observe(0.2);
    PAYLOAD.observe(512.0);
    BUILD.set(["1.0.0", "abc123"]);
    assert_eq!(JOBS.with(Queue::Mail, false).get(), 1);
    assert_eq!(LATENCY.with(HttpMethod::Get, StatusClass::Success).count(), 1);
}
