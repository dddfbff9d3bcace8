//! Serves `/metrics` from the global registry with nothing but `std`, negotiating the format
//! from the `Accept` header like the Prometheus server expects.
//!
//! ```text
//! cargo run -p obs-examples --example serve_metrics -- 127.0.0.1:9464
//! curl -s localhost:9464/metrics
//! curl -s -H 'Accept: application/openmetrics-text' localhost:9464/metrics
//! ```
//!
//! (obs-runtime's `init()` will install an embedded server; this shows the moving parts.)

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use obs_runtime::{Label, Registry, metric};

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
    /// Time spent per job.
    pub histogram JOB_SECONDS("worker_job_duration_seconds", job: Job, unit = "seconds");
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9464".to_owned());
    let listener = TcpListener::bind(&addr)?;
    println!("serving http://{addr}/metrics (Ctrl-C to stop)");

    std::thread::spawn(|| {
        let mut n = 0u64;
        loop {
            let job = if n % 3 == 0 { Job::Report } else { Job::Email };
            let timer = JOB_SECONDS.with(job).start_timer();
            std::thread::sleep(Duration::from_millis(50 + (n % 7) * 20));
            drop(timer);
            JOBS.with(job).inc();
            n += 1;
        }
    });

    for stream in listener.incoming() {
        let mut stream = stream?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let mut accept = None;
        // Headers end at the first empty line; a bounded count keeps a bad client harmless.
        for _ in 0..100 {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("accept")
            {
                accept = Some(value.trim().to_owned());
            }
        }
        let response = if request_line.starts_with("GET /metrics ") {
            let exposition = Registry::global().render(accept.as_deref());
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                exposition.content_type,
                exposition.body.len(),
                exposition.body
            )
        } else {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        };
        stream.write_all(response.as_bytes())?;
    }
    Ok(())
}
