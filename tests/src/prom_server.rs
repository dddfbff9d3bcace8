//! A real Prometheus server (Debian package `prometheus`) started on 127.0.0.1 for one
//! test, with exemplar storage and a 1 s scrape interval; killed when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encodes a query parameter value.
pub fn encode(s: &str) -> String {
    use std::fmt::Write as _;
    s.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

/// `GET path` on the Prometheus HTTP API at `addr`: the answer's `data`, once its
/// `status` is asserted to be `success`.
pub fn api(addr: SocketAddr, path: &str) -> Value {
    let response = crate::http_call(addr, "GET", path, &[], None);
    let body: Value = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", response.body));
    assert_eq!(body["status"], "success", "{path}: {body}");
    body["data"].clone()
}

/// `/api/v1/query` on the Prometheus at `addr`: the `result` of an instant query.
pub fn query(addr: SocketAddr, promql: &str) -> Vec<Value> {
    let data = api(addr, &format!("/api/v1/query?query={}", encode(promql)));
    data["result"].as_array().cloned().unwrap_or_default()
}

impl Prometheus {
    /// Starts Prometheus scraping `target`'s `/metrics` every second as job `job`, and
    /// waits until it is ready.
    pub fn start(job: &str, target: SocketAddr) -> Self {
        Self::start_with(job, target, "", &[])
    }

    /// As [`start`](Self::start), with `extra` appended to the configuration (`rule_files`,
    /// `alerting`) and `files` written beside it first (`rules.yml`).
    pub fn start_with(job: &str, target: SocketAddr, extra: &str, files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "obs-prometheus-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: {job}\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n{extra}"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--enable-feature=exemplar-storage")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus (Debian package `prometheus`; .ci/run installs it)");
        let mut prometheus = Self { child, addr, dir };
        let dir = prometheus.dir.clone();
        crate::wait_ready("prometheus", &mut prometheus.child, addr, || {
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        });
        prometheus
    }

    /// Prometheus's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Value {
        api(self.addr, path)
    }

    /// `/api/v1/query`: the `result` of an instant query.
    pub fn query(&self, promql: &str) -> Vec<Value> {
        query(self.addr, promql)
    }

    /// The value of a query returning one sample (or `None` for no result).
    pub fn scalar(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql);
        assert!(result.len() <= 1, "{promql}: {result:?}");
        result
            .first()
            .map(|r| r["value"][1].as_str().unwrap().parse().unwrap())
    }

    /// Polls `promql` until its single value equals `want` (or `timeout`); returns the last value.
    pub fn wait_for(&self, promql: &str, want: f64, timeout: Duration) -> Option<f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.scalar(promql);
            if value == Some(want) || Instant::now() >= deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `/api/v1/query_exemplars` over the last `window`.
    pub fn exemplars(&self, promql: &str, window: Duration) -> Vec<Value> {
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            + 1.0;
        let start = end - window.as_secs_f64();
        let data = self.get(&format!(
            "/api/v1/query_exemplars?query={}&start={start:.3}&end={end:.3}",
            encode(promql)
        ));
        data.as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
