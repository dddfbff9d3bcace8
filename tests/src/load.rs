//! The load harness: the orders example as a release binary (as shipped, or built without
//! `ObsLayer` and `#[observe]` with the feature `baseline`), driven by `hey` (Debian
//! package `hey`), its memory sampled from `/proc`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// Which orders service to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// As shipped: `ObsLayer` and `#[observe]`.
    Observed,
    /// The feature `baseline`: the same service without `ObsLayer` and `#[observe]`.
    Baseline,
}

/// The seconds each load phase runs: `OBS_LOAD_SECS` (the long form), else `default`.
pub fn phase_secs(default: u64) -> u64 {
    std::env::var("OBS_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s| *s > 0)
        .unwrap_or(default)
}

/// The release binary of the orders example in `build`, built once per test process
/// (`cargo build --release`, into this workspace's target directory) and copied aside,
/// as both builds write the same path.
pub fn orders_binary(build: Build) -> PathBuf {
    static OBSERVED: OnceLock<PathBuf> = OnceLock::new();
    static BASELINE: OnceLock<PathBuf> = OnceLock::new();
    match build {
        Build::Observed => {
            OBSERVED.get_or_init(|| release_example("orders", None, "orders-observed"))
        }
        Build::Baseline => {
            BASELINE.get_or_init(|| release_example("orders", Some("baseline"), "orders-baseline"))
        }
    }
    .clone()
}

/// The release binary of the alert receiver example (`examples/alert_receiver.rs`),
/// built once per test process.
pub fn alert_receiver_binary() -> PathBuf {
    static RECEIVER: OnceLock<PathBuf> = OnceLock::new();
    RECEIVER
        .get_or_init(|| release_example("alert_receiver", None, "alert-receiver"))
        .clone()
}

/// Builds the example `name` of obs-examples in release mode with `feature`, into this
/// workspace's target directory, and copies it to `release/{copy_as}`.
fn release_example(name: &str, feature: Option<&str>, copy_as: &str) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_build_at_a_time = BUILDING.lock().unwrap_or_else(PoisonError::into_inner);
    // …/target/debug/deps/<test> → …/target
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--release", "-q", "-p", "obs-examples"])
        .args(["--example", name, "--target-dir"])
        .arg(&target);
    if let Some(feature) = feature {
        cargo.args(["--features", feature]);
    }
    let status = cargo.status().expect("run cargo");
    assert!(
        status.success(),
        "cannot build the {name} example (features: {feature:?})"
    );
    let artifact = target.join("release").join("examples").join(name);
    let copy = target.join("release").join(copy_as);
    // Unlinked first: a copy still running (a test killed midway) keeps its own.
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(&artifact, &copy).expect("copy the example binary");
    copy
}

/// Reads the orders service's standard error up to its banner; the address it names.
pub fn banner_addr(stderr: &mut impl BufRead) -> SocketAddr {
    let mut banner = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the orders service exited before its banner: {banner}"
        );
        banner.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("orders service on http://") {
            return rest.parse().unwrap();
        }
    }
}

/// A running orders service; killed on drop.
#[derive(Debug)]
pub struct Service {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts the orders service of `build` on a free loopback port, with `env` added to
    /// a clean telemetry environment (no collector, logs to a discarded stdout).
    pub fn start(build: Build, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(orders_binary(build));
        for key in [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_TRACES_EXPORTER",
            "OTEL_SDK_DISABLED",
            "OBS_METRICS_ADDR",
            "OBS_METRICS_TOKEN",
            "OBS_LOG_FORMAT",
            "RUST_LOG",
        ] {
            command.env_remove(key);
        }
        command
            .env("ORDERS_ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start the orders service");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let addr = banner_addr(&mut stderr);
        // Keeps reading stderr, so the service never blocks on it; the last lines are
        // kept for failure messages.
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut lines = sink.lock().unwrap_or_else(PoisonError::into_inner);
                if lines.len() == 50 {
                    lines.remove(0);
                }
                lines.push(line);
            }
        });
        Self {
            child,
            addr,
            stderr: lines,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// Its `/metrics` exposition (text format).
    pub fn metrics(&self) -> String {
        let response = crate::http_call(self.addr, "GET", "/metrics", &[], None);
        assert_eq!(response.status, 200, "{}", response.body);
        response.body
    }

    /// The last lines it wrote to standard error.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident set size of process `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Samples a process's RSS every 100 ms until [`RssSampler::finish`].
#[derive(Debug)]
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = vec![rss_kib(pid)];
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                samples.push(rss_kib(pid));
            }
            samples
        });
        Self { stop, thread }
    }

    /// Stops; the samples in KiB, in order.
    pub fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// One stream of identical requests, sent by `hey`.
#[derive(Clone, Debug)]
pub struct Load {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
    /// A JSON body.
    pub body: Option<&'static str>,
    /// Concurrent workers (connections).
    pub workers: u32,
    /// Requests per second per worker; `None`: as fast as answered.
    pub qps_per_worker: Option<u32>,
}

/// What `hey` reported for one [`Load`].
#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    /// Responses per status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no response (connection errors, timeouts).
    pub errors: u64,
    /// Responses per second over the run.
    pub rps: f64,
    /// Median latency, in seconds (`hey` reports 0.1 ms steps).
    pub p50: f64,
    /// 99th percentile latency, in seconds.
    pub p99: f64,
    /// `hey`'s report.
    pub report: String,
}

impl LoadResult {
    /// All responses.
    pub fn responses(&self) -> u64 {
        self.statuses.values().sum()
    }
}

/// Runs every load in `loads` at once against `addr` for `duration`; one result each.
pub fn run(addr: SocketAddr, loads: &[Load], duration: Duration) -> Vec<LoadResult> {
    let children: Vec<Child> = loads
        .iter()
        .map(|load| {
            let mut hey = Command::new("hey");
            hey.arg("-z")
                .arg(format!("{}ms", duration.as_millis()))
                .arg("-c")
                .arg(load.workers.to_string())
                .args(["-t", "10", "-m", load.method]);
            if let Some(q) = load.qps_per_worker {
                hey.arg("-q").arg(q.to_string());
            }
            if let Some(body) = load.body {
                hey.args(["-T", "application/json", "-d", body]);
            }
            hey.arg(format!("http://{addr}{}", load.path))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run hey (Debian package `hey`)")
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            let report = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "hey failed: {report}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            parse_hey(&report)
        })
        .collect()
}

/// Reads `hey`'s summary report.
pub fn parse_hey(report: &str) -> LoadResult {
    // NaN until read: `hey` leaves out the percentiles it cannot give.
    let mut result = LoadResult {
        report: report.to_owned(),
        p50: f64::NAN,
        p99: f64::NAN,
        ..LoadResult::default()
    };
    let mut section = "";
    for line in report.lines() {
        let line = line.trim();
        if line.ends_with(':') && !line.starts_with('[') {
            section = line;
            continue;
        }
        let secs = |rest: &str| -> f64 {
            rest.trim()
                .trim_end_matches("secs")
                .trim()
                .parse()
                .unwrap_or(f64::NAN)
        };
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            result.rps = v.trim().parse().unwrap_or(f64::NAN);
        } else if let Some(v) = line.strip_prefix("50% in") {
            result.p50 = secs(v);
        } else if let Some(v) = line.strip_prefix("99% in") {
            result.p99 = secs(v);
        } else if let Some(rest) = line.strip_prefix('[')
            && let Some((code, tail)) = rest.split_once(']')
        {
            let n: u64 = tail
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if section.starts_with("Status code distribution") {
                *result
                    .statuses
                    .entry(code.parse().unwrap_or(0))
                    .or_default() += n;
            } else if section.starts_with("Error distribution") {
                // `[count]\tmessage`
                result.errors += code.parse::<u64>().unwrap_or(1);
            }
        }
    }
    result
}

/// A loopback listener that accepts connections and never answers: a hung collector.
#[derive(Debug)]
pub struct Hung {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Hung {
    /// Listens on `addr` (retrying while the port is still being released).
    pub fn start(addr: SocketAddr) -> Self {
        let listener = (0..100)
            .find_map(|_| {
                std::net::TcpListener::bind(addr)
                    .inspect_err(|_| std::thread::sleep(Duration::from_millis(50)))
                    .ok()
            })
            .expect("bind the hung collector");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            held.len()
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listener and every held connection; how many connections it held.
    pub fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap())
    }
}

impl Drop for Hung {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
