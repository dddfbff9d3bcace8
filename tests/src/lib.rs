//! Helpers shared by the behaviour tests: the independent validators (the Python reference
//! parser and `promtool`) run as subprocesses.
#![allow(
    clippy::missing_panics_doc,
    reason = "test helpers panic to fail the calling test"
)]

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
