//! The generated rules and dashboard on a live Prometheus: it loads the rules, scrapes the
//! orders service under load, every dashboard expression evaluates, every recording rule
//! and RED panel returns data, and with the SLO windows shortened (1 h → 1 m) the
//! `checkout` burn-rate alert fires while invalid orders fail, and a real Alertmanager
//! delivers it to a webhook on 127.0.0.1. One test: it installs the global subscriber.

use std::time::{Duration, Instant};

use obs_examples::orders::{Store, app};
use obs_runtime::dashboards::{DashboardOptions, RuleOptions, grafana_dashboard, prometheus_rules};
use obs_tests::alertmanager::Alertmanager;
use obs_tests::http_call;
use obs_tests::prom_server::Prometheus;
use serde_json::Value;

const ORDER: &str =
    r#"{"user_id":3,"items":[{"sku":"B2","quantity":1,"price":42.5}],"payment_method":"card"}"#;
const INVALID: &str = r#"{"user_id":3,"items":[],"payment_method":"card"}"#;

/// Polls `promql` until it returns at least one sample.
fn wait_for_data(prometheus: &Prometheus, promql: &str, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let result = prometheus.query(promql);
        if !result.is_empty() || Instant::now() > deadline {
            return result;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn generated_rules_and_dashboard_on_a_live_prometheus() {
    let installed = obs_tests::Installed::new("orders");
    // Building the router registers the `order-lookup` SLO of its layer.
    let addr = installed.serve(app(installed.rt.block_on(Store::in_memory()), None));
    let alertmanager = Alertmanager::start();
    let options = RuleOptions {
        window_scale: 1.0 / 60.0,
        alert_for: Duration::from_secs(1),
        runbook_url: Some("https://wiki.internal/runbooks/orders".to_owned()),
        ..RuleOptions::new("orders")
    };
    let rules = prometheus_rules(&options);
    let extra = format!(
        "rule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n",
        alertmanager.addr
    );
    let prometheus = Prometheus::start_with("orders", addr, &extra, &[("rules.yml", &rules)]);

    // Traffic for 12 s: orders, lookups, unknown orders, and as many invalid orders as
    // valid ones, so that `checkout` fails half its calls (its budget is 1 %).
    let until = Instant::now() + Duration::from_secs(12);
    let (mut valid, mut invalid) = (0, 0);
    while Instant::now() < until {
        assert_eq!(
            http_call(addr, "POST", "/api/orders", &[], Some(ORDER)).status,
            201
        );
        valid += 1;
        let status = http_call(addr, "POST", "/api/orders", &[], Some(INVALID)).status;
        assert!(
            (400..500).contains(&status),
            "invalid order answered {status}"
        );
        invalid += 1;
        assert_eq!(
            http_call(addr, "GET", "/api/orders/1", &[], None).status,
            200
        );
        assert_eq!(
            http_call(addr, "GET", "/api/orders/999999", &[], None).status,
            404
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(valid > 20 && valid == invalid, "{valid} {invalid}");

    // Every recording rule returns data (the three SLOs over every scaled window
    // included).
    let records: Vec<String> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record: "))
        .map(|r| r.trim_matches('"').to_owned())
        .collect();
    assert_eq!(records.len(), 12 + 7 * 3, "{rules}");
    for record in &records {
        let result = wait_for_data(&prometheus, record, Duration::from_secs(20));
        assert!(
            !result.is_empty(),
            "{record} returned no data\n{}",
            prometheus.log()
        );
    }
    for slo in ["checkout", "payments", "order-lookup"] {
        let windows = prometheus.query(&format!(
            "count by (__name__) ({{__name__=~\"slo:sli_error:.*\", slo=\"{slo}\"}})"
        ));
        assert_eq!(windows.len(), 7, "{slo}: {windows:?}");
    }

    // Every dashboard expression evaluates, and every RED panel returns data.
    let dashboard: Value =
        serde_json::from_str(&grafana_dashboard(&DashboardOptions::new("orders"))).unwrap();
    let red = [
        "Requests by status",
        "Route 5xx ratio",
        "Route latency",
        "Request rate by route",
        "5xx ratio by route",
        "Latency by route",
        "Call rate by function",
        "Error ratio by function",
        "p99 latency by function",
    ];
    let mut evaluated = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m")
                .replace("$job", "orders")
                .replace("$instance", ".*")
                .replace("$endpoint", ".*");
            // `query` asserts Prometheus answered `success`.
            let result = prometheus.query(&expr);
            evaluated += 1;
            if red.contains(&title) {
                assert!(!result.is_empty(), "{title}: {expr} returned no data");
            }
        }
    }
    assert!(evaluated > 30, "{evaluated}");

    // The page alert over the shortened 1 h and 5 m windows fires, and Alertmanager
    // delivers it.
    let firing = wait_for_data(
        &prometheus,
        "ALERTS{alertname=\"ObsSloErrorBudgetBurn\", slo=\"checkout\", long_window=\"1m\", short_window=\"5s\", alertstate=\"firing\"}",
        Duration::from_secs(30),
    );
    assert_eq!(firing.len(), 1, "{}", prometheus.log());
    assert_eq!(firing[0]["metric"]["severity"], "page");
    // No burn on the SLOs the traffic keeps.
    assert!(
        prometheus
            .query("ALERTS{alertname=\"ObsSloErrorBudgetBurn\", slo!=\"checkout\"}")
            .is_empty()
    );
    let delivered = alertmanager.wait_for(
        &[
            "\"alertname\":\"ObsSloErrorBudgetBurn\"",
            "\"slo\":\"checkout\"",
            "\"long_window\":\"1m\"",
        ],
        Duration::from_secs(30),
    );
    assert!(
        delivered.is_some(),
        "alertmanager delivered nothing: {}",
        alertmanager.log()
    );
    let body: Value = serde_json::from_str(&delivered.unwrap()).unwrap();
    assert_eq!(body["status"], "firing");
    assert_eq!(
        body["alerts"][0]["annotations"]["runbook_url"],
        "https://wiki.internal/runbooks/orders#ObsSloErrorBudgetBurn"
    );
    drop(installed);
}
