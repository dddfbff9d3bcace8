//! The database alerts and dashboard row, generated when the program exposes the database
//! families (feature `sqlx`), checked by the real tools: `promtool check rules` and
//! `promtool test rules` over synthetic series (a saturated pool and a spare one, a slow
//! operation and a fast one), with every expected label and annotation written here.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use obs_runtime::dashboards::{DashboardOptions, RuleOptions, grafana_dashboard, prometheus_rules};

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (Debian package prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

const TEST: &str = r#"rule_files:
  - rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'db_client_connection_usage{job="orders", instance="a:1", pool_name="main", state="used"}'
        values: '10x60'
      - series: 'db_client_connection_usage{job="orders", instance="a:1", pool_name="main", state="idle"}'
        values: '0x60'
      - series: 'db_client_connection_max{job="orders", instance="a:1", pool_name="main"}'
        values: '10x60'
      - series: 'db_client_connection_usage{job="orders", instance="a:1", pool_name="spare", state="used"}'
        values: '2x60'
      - series: 'db_client_connection_max{job="orders", instance="a:1", pool_name="spare"}'
        values: '10x60'
      - series: 'db_client_operation_duration_seconds_bucket{job="orders", instance="a:1", db_system="postgresql", operation="SELECT", collection="orders", status="ok", le="0.5"}'
        values: '0+1x60'
      - series: 'db_client_operation_duration_seconds_bucket{job="orders", instance="a:1", db_system="postgresql", operation="SELECT", collection="orders", status="ok", le="1"}'
        values: '0+100x60'
      - series: 'db_client_operation_duration_seconds_bucket{job="orders", instance="a:1", db_system="postgresql", operation="SELECT", collection="orders", status="ok", le="+Inf"}'
        values: '0+100x60'
      - series: 'db_client_operation_duration_seconds_bucket{job="orders", instance="a:1", db_system="postgresql", operation="INSERT", collection="orders", status="ok", le="0.05"}'
        values: '0+100x60'
      - series: 'db_client_operation_duration_seconds_bucket{job="orders", instance="a:1", db_system="postgresql", operation="INSERT", collection="orders", status="ok", le="+Inf"}'
        values: '0+100x60'
    alert_rule_test:
      - eval_time: 3m
        alertname: ObsDbPoolSaturated
        exp_alerts: []
      - eval_time: 30m
        alertname: ObsDbPoolSaturated
        exp_alerts:
          - exp_labels:
              severity: ticket
              job: orders
              pool_name: main
            exp_annotations:
              summary: "database pool main uses at least 90 % of its connections"
              description: "The pool main has had at least 0.9 of its connections in use for 5m: requests wait for one (see db_client_connection_wait_time_seconds)."
      - eval_time: 30m
        alertname: ObsDbLatencyHigh
        exp_alerts:
          - exp_labels:
              severity: ticket
              job: orders
              db_system: postgresql
              operation: SELECT
              collection: orders
            exp_annotations:
              summary: "SELECT orders p99 latency is above 0.5 s"
              description: "The 99th percentile latency of SELECT on orders (postgresql) has been above 0.5 s for 5m."
"#;

#[test]
fn the_database_alerts_fire_on_a_saturated_pool_and_a_slow_operation_only() {
    let dir = TempDir(std::env::temp_dir().join(format!("obs-db-rules-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let options = RuleOptions {
        alert_for: Duration::from_secs(300),
        ..RuleOptions::new("orders")
    };
    let rules = prometheus_rules(&options);
    assert!(rules.contains("- alert: \"ObsDbPoolSaturated\""), "{rules}");
    assert!(rules.contains("- alert: \"ObsDbLatencyHigh\""), "{rules}");
    std::fs::write(dir.0.join("rules.yml"), &rules).unwrap();
    promtool(&["check", "rules", "rules.yml"], &dir.0);
    std::fs::write(dir.0.join("test.yml"), TEST).unwrap();
    let out = promtool(&["test", "rules", "test.yml"], &dir.0);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn the_dashboard_has_a_database_row() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&grafana_dashboard(&DashboardOptions::new("orders"))).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let row = panels
        .iter()
        .position(|p| p["type"] == "row" && p["title"] == "Database")
        .expect("a Database row");
    let titles: Vec<&str> = panels[row + 1..]
        .iter()
        .take_while(|p| p["type"] != "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Operation rate",
            "Operation error ratio",
            "Operation p99",
            "Pool usage",
            "Pool waits"
        ]
    );
    let exprs: Vec<&str> = panels[row + 1..row + 6]
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert!(
        exprs.iter().all(|e| e.contains("job=~\"$job\"")),
        "{exprs:#?}"
    );
}
