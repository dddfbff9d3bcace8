//! Helpers shared by the behaviour tests: the independent validators (the Python reference
//! parser and `promtool`) run as subprocesses.
#![allow(
    clippy::missing_panics_doc,
    reason = "test helpers panic to fail the calling test"
)]

pub mod alertmanager;
pub mod capture;
pub mod load;
pub mod otlp;
pub mod postgres;
pub mod prom_server;
pub mod tools;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// One sample as an independent parser saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample name (`foo_total`, `foo_bucket`, …).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
    /// `(trace_id, span_id, value)` of its exemplar, if any.
    pub exemplar: Option<(String, String, f64)>,
}

/// One family as an independent parser saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedFamily {
    /// The family name (without `_total` in OpenMetrics).
    pub name: String,
    /// The type keyword.
    pub kind: String,
    /// The unit (OpenMetrics only).
    pub unit: String,
    /// The help text, unescaped.
    pub help: String,
    /// The samples.
    pub samples: Vec<Sample>,
}

fn run_with_stdin(mut cmd: Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}; `.ci/run` installs it"));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for child")
}

fn parse_f64(s: &serde_json::Value) -> f64 {
    let s = s.as_str().expect("values are repr strings");
    match s {
        "nan" => f64::NAN,
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap_or_else(|e| panic!("bad float {s:?}: {e}")),
    }
}

/// Parses `text` with `prometheus_client`'s parser for `format` (`prometheus` or
/// `openmetrics`); panics with the parser's error if it rejects the text.
pub fn python_parse(format: &str, text: &str) -> Vec<ParsedFamily> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/parse_exposition.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(format);
    let out = run_with_stdin(cmd, text);
    assert!(
        out.status.success(),
        "the Python {format} parser rejected the exposition:\n{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("parser JSON");
    json["families"]
        .as_array()
        .expect("families")
        .iter()
        .map(|f| ParsedFamily {
            name: f["name"].as_str().unwrap_or_default().to_owned(),
            kind: f["type"].as_str().unwrap_or_default().to_owned(),
            unit: f["unit"].as_str().unwrap_or_default().to_owned(),
            help: f["help"].as_str().unwrap_or_default().to_owned(),
            samples: f["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|s| Sample {
                    name: s["name"].as_str().unwrap_or_default().to_owned(),
                    labels: s["labels"]
                        .as_object()
                        .expect("labels")
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect(),
                    value: parse_f64(&s["value"]),
                    exemplar: s["exemplar"].as_object().map(|e| {
                        (
                            e["labels"]["trace_id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            e["labels"]["span_id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            parse_f64(&e["value"]),
                        )
                    }),
                })
                .collect(),
        })
        .collect()
}

/// Runs `promtool check metrics` on a Prometheus text exposition; panics with its output
/// if it reports any problem.
pub fn promtool_check(text: &str) {
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"]);
    let out = run_with_stdin(cmd, text);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics reported problems ({}):\n{report}\n--- exposition ---\n{text}",
        out.status
    );
}

/// All samples of all families, flattened, `_created` samples left out.
pub fn samples(families: &[ParsedFamily]) -> Vec<Sample> {
    families
        .iter()
        .flat_map(|f| f.samples.iter().cloned())
        .filter(|s| !s.name.ends_with("_created"))
        .collect()
}

/// Replaces the value of every `_created` sample with `<created>` after checking it is a
/// Unix time within the last hour (they are wall-clock times, so goldens cannot hold them).
pub fn mask_created(text: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    text.lines()
        .map(|line| {
            let Some((series, value)) = line.rsplit_once(' ') else {
                return line.to_owned();
            };
            let name = series.split('{').next().unwrap_or_default();
            if line.starts_with('#') || !name.ends_with("_created") {
                return line.to_owned();
            }
            let v: f64 = value.parse().expect("created is a float");
            assert!(
                (now - 3600.0..=now + 1.0).contains(&v),
                "created {v} is not recent"
            );
            format!("{series} <created>")
        })
        .map(|l| l + "\n")
        .collect()
}

/// A small deterministic generator (xorshift64*), so randomized tests can print their seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A response read by [`http_call`].
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lowercased) and values.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// [`http_call`] for a `GET` that may fail to connect (a server still starting).
pub fn try_http(addr: std::net::SocketAddr, path: &str) -> Option<HttpResponse> {
    std::net::TcpStream::connect(addr).ok()?;
    Some(http_call(addr, "GET", path, &[], None))
}

/// Sends one HTTP/1.1 request with `Connection: close` over a fresh loopback connection.
/// `headers` are raw bytes so that tests can send malformed values.
pub fn http_call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Option<&str>,
) -> HttpResponse {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
            .into_bytes();
    for (k, v) in headers {
        request.extend_from_slice(k.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(v);
        request.extend_from_slice(b"\r\n");
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        request.extend_from_slice(
            format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body.as_bytes());
    stream.write_all(&request).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.get(9..12))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let body = if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Waits up to 60 s for a server process (`name`, for messages) to answer `200` on
/// `/-/ready` at `addr`; panics with `log()` if it exits or never gets ready.
pub fn wait_ready(
    name: &str,
    child: &mut std::process::Child,
    addr: std::net::SocketAddr,
    log: impl Fn() -> String,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{name} exited with {status}: {}", log());
        }
        if try_http(addr, "/-/ready").is_some_and(|r| r.status == 200) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} not ready: {}",
            log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The lines of the exposition `text` that belong to the families whose name starts with
/// `prefix` (their `#` comments and samples), in exposition order.
pub fn lines_of<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|line| {
            ["# HELP ", "# TYPE ", "# UNIT "]
                .iter()
                .find_map(|comment| line.strip_prefix(comment))
                .unwrap_or(line)
                .starts_with(prefix)
        })
        .collect()
}

/// The value of one sample of the global registry (text format), or `None` when absent.
pub fn global_sample(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    sample_in(
        &obs_runtime::Registry::global().render(None).body,
        name,
        labels,
    )
}

/// The value of the sample `name` with exactly the labels `labels` in the text exposition
/// `text`, or `None` when absent.
pub fn sample_in(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|line| {
            let series = line.rsplit_once(' ').map_or(*line, |(s, _)| s);
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            let pairs: Vec<&str> = if rest.is_empty() {
                Vec::new()
            } else {
                rest.trim_end_matches('}').split("\",").collect()
            };
            n == name
                && pairs.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.parse().unwrap_or(f64::NAN))
}

/// The process-wide setup of the HTTP tests: the global subscriber exporting to an OTLP
/// receiver (50 ms batches), JSON logs in memory, no embedded metrics server, and a Tokio
/// runtime that serves routers on 127.0.0.1.
#[derive(Debug)]
pub struct Installed {
    /// Serves the routers (stopped first on drop).
    pub rt: tokio::runtime::Runtime,
    /// Flushes on drop, while the receiver still listens.
    pub guard: obs_runtime::init::Guard,
    /// The log lines.
    pub logs: obs_runtime::log::MemoryLog,
    /// Receives every exported span.
    pub receiver: otlp::Receiver,
}

impl Installed {
    /// Installs the global subscriber for `service` (once per test binary).
    pub fn new(service: &str) -> Self {
        let receiver = otlp::Receiver::http();
        let (writer, logs) = obs_runtime::log::LogWriter::memory();
        let guard = obs_runtime::init()
            .env(Vec::<(String, String)>::new())
            .service_name(service)
            .otlp_endpoint(receiver.endpoint())
            .batch(obs_runtime::trace::PipelineConfig {
                delay: std::time::Duration::from_millis(50),
                ..obs_runtime::trace::PipelineConfig::default()
            })
            .metrics_addr(None)
            .log_format(obs_runtime::log::LogFormat::Json)
            .log_writer(writer)
            .install()
            .expect("install the global subscriber");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            rt,
            guard,
            logs,
            receiver,
        }
    }

    /// Serves `router` on a free loopback port until the runtime stops.
    pub fn serve(&self, router: axum::Router) -> std::net::SocketAddr {
        let listener = self
            .rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        self.rt.spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        addr
    }
}
