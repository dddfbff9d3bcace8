//! Dashboards, rules and SLOs generated from this program's own catalogue, checked with
//! the real tools: `promtool check rules`, `promtool test rules` (synthetic series that
//! make each alert fire, and others that keep it silent), and the dashboard's structure.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use obs_runtime::dashboards::{DashboardOptions, RuleOptions, grafana_dashboard, prometheus_rules};
use obs_runtime::metrics::Slo;
use obs_runtime::observe::observed_function;
use obs_runtime::{ErrorLabel, observe};

/// 99.5 % of payments succeed.
const PAYMENTS: Slo = Slo::availability("payments", 99.5).describe("Payments succeed");
/// 99 % of quotes finish within 250 ms (not one of the default buckets).
const QUOTES: Slo = Slo::latency("quotes", 99.0, 0.25);

#[derive(Debug, ErrorLabel)]
enum PayError {
    Declined,
}

#[observe(slo = PAYMENTS)]
fn pay(amount: u32) -> Result<u32, PayError> {
    if amount > 100 {
        Err(PayError::Declined)
    } else {
        Ok(amount)
    }
}

#[observe(slo = QUOTES, buckets = [0.1, 0.5, 1.0])]
fn quote(n: u32) -> u32 {
    n * 2
}

/// Both functions share one SLO.
#[observe(slo = PAYMENTS)]
fn refund(amount: u32) -> Result<u32, PayError> {
    pay(amount)
}

#[test]
fn an_slo_threshold_becomes_a_bucket_boundary() {
    assert_eq!(quote(2), 4);
    let site = observed_function(module_path!(), "quote").unwrap();
    assert_eq!(site.duration().bounds(), &[0.1, 0.25, 0.5, 1.0]);
    assert_eq!(site.slo, Some(&QUOTES));
    let pay_site = observed_function(module_path!(), "pay").unwrap();
    assert_eq!(pay_site.slo, Some(&PAYMENTS));
    // An availability SLO keeps the default buckets.
    assert_eq!(
        pay_site.duration().bounds(),
        &obs_runtime::observe::FUNCTION_BUCKETS
    );
    let _ = refund(5);
}

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("obs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // `OBS_KEEP_TEST_FILES=1` keeps the generated files for a look after a failure.
        if std::env::var_os("OBS_KEEP_TEST_FILES").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (Debian package prometheus) is installed: scripts/test installs it");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_rules_pass_promtool_check() {
    let dir = TempDir::new("rules-check");
    let rules = prometheus_rules(&RuleOptions::new("orders"));
    std::fs::write(dir.0.join("rules.yml"), &rules).unwrap();
    let (ok, out) = promtool(&["check", "rules", "rules.yml"], &dir.0);
    assert!(ok, "promtool check rules failed:\n{out}\n{rules}");
    // Recording rules: 6 RED series and 6 quantiles, and 7 SLI windows per SLO; alerts:
    // target down, 2 per function (pay, quote, refund), 2 per route, 4 per SLO.
    let functions = obs_runtime::observe::observed_functions()
        .map(|s| (s.module, s.function))
        .collect::<HashSet<_>>()
        .len();
    let slos = 2;
    // The two database alerts: this test program has the `sqlx` feature's families.
    let database = 2;
    assert!(
        out.contains(&format!(
            "SUCCESS: {} rules found",
            12 + 7 * slos + 1 + 2 * functions + 2 + database + 4 * slos
        )),
        "{out}"
    );
}

/// One alert of the generated file: its name, labels and annotations.
#[derive(Debug, Clone)]
struct Alert {
    name: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// Reads the alerts back from the generated YAML (the generator's own fixed layout).
fn alerts(rules: &str) -> Vec<Alert> {
    fn unquote(s: &str) -> String {
        let inner = s.trim().trim_start_matches('"').trim_end_matches('"');
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    }
    let mut out: Vec<Alert> = Vec::new();
    let mut section = "";
    let mut in_alert = false;
    for line in rules.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("- alert: ") {
            out.push(Alert {
                name: unquote(name),
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            });
            section = "";
            in_alert = true;
        } else if trimmed.starts_with("- record: ") || trimmed.starts_with("- name: ") {
            in_alert = false;
        } else if trimmed == "labels:" || trimmed == "annotations:" {
            section = if trimmed == "labels:" {
                "labels"
            } else {
                "annotations"
            };
        } else if let Some((k, v)) = trimmed.split_once(": ")
            && in_alert
            && line.starts_with("          ")
            && let Some(alert) = out.last_mut()
        {
            match section {
                "labels" => {
                    alert.labels.insert(k.to_owned(), unquote(v));
                }
                "annotations" => {
                    alert.annotations.insert(k.to_owned(), unquote(v));
                }
                _ => {}
            }
        }
    }
    out
}

/// An `exp_alerts` entry for `alert` with the series labels `extra` added.
fn expected(alert: &Alert, extra: &[(&str, &str)]) -> String {
    let mut labels = alert.labels.clone();
    for (k, v) in extra {
        labels.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut out = String::from("          - exp_labels:\n");
    for (k, v) in &labels {
        let _ = writeln!(out, "              {k}: {v:?}");
    }
    out.push_str("            exp_annotations:\n");
    for (k, v) in &alert.annotations {
        let mut v = v.clone();
        for (name, value) in extra {
            v = v.replace(&format!("{{{{ $labels.{name} }}}}"), value);
        }
        let _ = writeln!(out, "              {k}: {v:?}");
    }
    out
}

/// The SLO alerts of `slo`, by their window pair.
fn slo_alert<'a>(all: &'a [Alert], slo: &str, long: &str) -> &'a Alert {
    all.iter()
        .find(|a| {
            a.name == "ObsSloErrorBudgetBurn"
                && a.labels.get("slo").map(String::as_str) == Some(slo)
                && a.labels.get("long_window").map(String::as_str) == Some(long)
        })
        .unwrap_or_else(|| panic!("no burn-rate alert for {slo} over {long}"))
}

#[test]
fn the_alerts_fire_when_they_should_and_stay_silent_otherwise() {
    let dir = TempDir::new("rules-test");
    // p99 above 0.4 s alerts (the failing `quote` has its p99 near 1 s, the healthy one
    // below 0.1 s).
    let options = RuleOptions {
        p99_seconds: 0.4,
        ..RuleOptions::new("orders")
    };
    let rules = prometheus_rules(&options);
    std::fs::write(dir.0.join("rules.yml"), &rules).unwrap();
    let all = alerts(&rules);
    let module = module_path!();
    let fn_alert = |name: &str, function: &str| {
        all.iter()
            .find(|a| {
                a.name == name
                    && a.annotations["summary"].starts_with(&format!("{module}::{function} "))
            })
            .unwrap_or_else(|| panic!("no {name} for {function}"))
            .clone()
    };
    let pay_errors = fn_alert("ObsFunctionErrorRatioHigh", "pay");
    let quote_slow = fn_alert("ObsFunctionLatencyHigh", "quote");
    let down = all.iter().find(|a| a.name == "ObsTargetDown").unwrap();
    let page = slo_alert(&all, "payments", "1h");
    let page_6h = slo_alert(&all, "payments", "6h");
    let quotes_page = slo_alert(&all, "quotes", "1h");

    let calls = |function: &str, result: &str, error: &str, per_minute: u32| {
        format!(
            "      - series: 'function_calls_total{{job=\"orders\", instance=\"a:1\", function=\"{function}\", module=\"{module}\", result=\"{result}\", error=\"{error}\"}}'\n        values: '0+{per_minute}x120'\n"
        )
    };
    let buckets = |function: &str, le: &str, per_minute: u32| {
        format!(
            "      - series: 'function_calls_duration_seconds_bucket{{job=\"orders\", instance=\"a:1\", function=\"{function}\", module=\"{module}\", le=\"{le}\"}}'\n        values: '0+{per_minute}x120'\n"
        )
    };
    // `pay`: half its calls fail: every payments alert pages, and the function's error
    // alert fires. `quote`: 60 calls a minute, 30 of them above 250 ms: the latency SLO
    // pages and the p99 (above 0.5 s) alert fires.
    let mut series = String::new();
    series.push_str(&calls("pay", "ok", "", 60));
    series.push_str(&calls("pay", "error", "Declined", 60));
    series.push_str(&calls("quote", "ok", "", 60));
    for (le, n) in [
        ("0.1", 10),
        ("0.25", 30),
        ("0.5", 30),
        ("1", 60),
        ("+Inf", 60),
    ] {
        series.push_str(&buckets("quote", le, n));
    }
    series.push_str(
        "      - series: 'up{job=\"orders\", instance=\"a:1\"}'\n        values: '1x20 0x100'\n",
    );
    let inst = [("instance", "a:1"), ("job", "orders")];
    let fn_labels = [("function", "pay"), ("module", module), ("job", "orders")];
    let quote_labels = [("function", "quote"), ("module", module), ("job", "orders")];
    let firing = format!(
        "  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n\
         \x20     - eval_time: 70m\n        alertname: ObsTargetDown\n        exp_alerts:\n{}\
         \x20     - eval_time: 70m\n        alertname: ObsFunctionErrorRatioHigh\n        exp_alerts:\n{}\
         \x20     - eval_time: 70m\n        alertname: ObsFunctionLatencyHigh\n        exp_alerts:\n{}",
        expected(down, &inst),
        expected(&pay_errors, &fn_labels),
        expected(&quote_slow, &quote_labels),
    );
    // The SLO alerts: both page pairs of `payments` (1 h and 5 m, 6 h and 30 m) and both
    // ticket pairs (whose long windows hold only 2 h of data, all failing half the time),
    // and every pair of `quotes`; each carries the job its SLI was recorded for.
    let mut slo_expected = String::new();
    for alert in all.iter().filter(|a| a.name == "ObsSloErrorBudgetBurn") {
        slo_expected.push_str(&expected(alert, &[("job", "orders")]));
    }
    assert_eq!(page.labels["severity"], "page");
    assert_eq!(page.labels["short_window"], "5m");
    assert_eq!(page_6h.labels["short_window"], "30m");
    assert_eq!(quotes_page.labels["severity"], "page");
    let firing = format!(
        "{firing}      - eval_time: 70m\n        alertname: ObsSloErrorBudgetBurn\n        exp_alerts:\n{slo_expected}"
    );
    // Healthy: 1 failure in 10 000 calls, every quote within 100 ms, target up: nothing
    // fires.
    let mut healthy = String::new();
    healthy.push_str(&calls("pay", "ok", "", 10_000));
    healthy.push_str(&calls("pay", "error", "Declined", 1));
    for le in ["0.1", "0.25", "0.5", "1", "+Inf"] {
        healthy.push_str(&buckets("quote", le, 60));
    }
    healthy.push_str(&calls("quote", "ok", "", 60));
    healthy.push_str(
        "      - series: 'up{job=\"orders\", instance=\"a:1\"}'\n        values: '1x120'\n",
    );
    let mut silent =
        format!("  - interval: 1m\n    input_series:\n{healthy}    alert_rule_test:\n");
    for name in [
        "ObsTargetDown",
        "ObsFunctionErrorRatioHigh",
        "ObsFunctionLatencyHigh",
        "ObsSloErrorBudgetBurn",
    ] {
        let _ = write!(
            silent,
            "      - eval_time: 100m\n        alertname: {name}\n        exp_alerts: []\n"
        );
    }
    let test =
        format!("rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n{firing}{silent}");
    std::fs::write(dir.0.join("test.yml"), &test).unwrap();
    let (ok, out) = promtool(&["test", "rules", "test.yml"], &dir.0);
    assert!(
        ok,
        "promtool test rules failed:\n{out}\n--- test.yml\n{test}"
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn the_dashboard_has_the_structure_grafana_needs() {
    let _ = (pay(1), quote(1));
    let json = grafana_dashboard(&DashboardOptions::new("orders"));
    // The Python parser reads it; the structure is checked there too, with exact counts.
    let check = r#"
import json, sys
d = json.load(sys.stdin)
assert d["schemaVersion"] >= 39, d["schemaVersion"]
names = [v["name"] for v in d["templating"]["list"]]
assert names == ["datasource", "job", "instance", "endpoint"], names
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "duplicate panel ids"
cells = set()
units = {"s", "reqps", "ops", "percentunit", "short", "bytes", "Bps", "celsius"}
for p in d["panels"]:
    g = p["gridPos"]
    assert g["x"] + g["w"] <= 24, p["title"]
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            assert (x, y) not in cells, "overlap at " + p["title"]
            cells.add((x, y))
    if p["type"] == "row":
        continue
    assert p["type"] in {"timeseries", "stat", "heatmap", "table"}, p["type"]
    assert p["targets"], p["title"]
    assert p["fieldConfig"]["defaults"]["unit"] in units, p["fieldConfig"]["defaults"]["unit"]
    for t in p["targets"]:
        assert t["expr"] and t["refId"], p["title"]
        if "Latency" in p["title"] or "latency" in p["title"]:
            assert t["exemplar"] is True, p["title"]
# Grafana's schema models (grafana-foundation-sdk) read the dashboard, and what they
# write back keeps every panel's type, position, unit and queries.
from grafana_foundation_sdk.models import dashboard as schema
from grafana_foundation_sdk.cog.encoder import JSONEncoder
typed = json.loads(json.dumps(schema.Dashboard.from_json(d), cls=JSONEncoder))
assert typed["schemaVersion"] == d["schemaVersion"] and typed["uid"] == d["uid"]
assert len(typed["panels"]) == len(d["panels"])
for mine, theirs in zip(d["panels"], typed["panels"]):
    assert theirs["type"] == mine["type"] and theirs["gridPos"] == mine["gridPos"], mine["title"]
    if mine["type"] != "row":
        assert theirs["fieldConfig"]["defaults"]["unit"] == mine["fieldConfig"]["defaults"]["unit"]
        assert [t["expr"] for t in theirs["targets"]] == [t["expr"] for t in mine["targets"]]
rows = [p["title"] for p in d["panels"] if p["type"] == "row"]
assert [p.get("repeat") for p in d["panels"] if p["type"] == "row"][1] == "endpoint"
print("\n".join(rows))
print(sum(1 for p in d["panels"] if p["title"].startswith("SLO ")))
"#;
    let mut child = Command::new("python3")
        .args(["-c", check])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        json
    );
    let module = module_path!();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "HTTP routes (RED)");
    assert_eq!(lines[1], "Route $endpoint");
    assert_eq!(lines[2], "Observed functions (RED)");
    for f in ["pay", "quote", "refund"] {
        assert!(
            lines.contains(&format!("{module}::{f}").as_str()),
            "{stdout}"
        );
    }
    assert!(
        lines.contains(&"Saturation and obs itself (USE)"),
        "{stdout}"
    );
    assert!(lines.contains(&"Service level objectives"), "{stdout}");
    // Three SLO panels per SLO: SLI, budget left, burn rate.
    assert_eq!(lines.last(), Some(&"6"), "{stdout}");
}
