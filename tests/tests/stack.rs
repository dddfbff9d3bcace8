//! `scripts/stack`, the local stack a newcomer runs: the orders service, Prometheus,
//! Alertmanager and the alert receiver from the files in `deploy/`, every one on a port
//! picked by the system. Through the real APIs: the service's target is up, every rule
//! group is loaded and evaluates without error, failing orders fire the `checkout`
//! burn-rate alert (`--fast-alerts`), Alertmanager routes it by severity to the receiver
//! with the bearer token from its file, a target-down alert inhibits its job's other
//! alerts, the service's log lines carry the trace id Grafana's Loki link reads, and
//! Ctrl-C stops every process.

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use obs_tests::http_call;
use obs_tests::load::{Build, alert_receiver_binary, orders_binary};
use obs_tests::prom_server::{api, query};
use obs_tests::tools::{self, deploy};
use serde_json::{Value, json};

const ORDER: &str =
    r#"{"user_id":3,"items":[{"sku":"B2","quantity":1,"price":42.5}],"payment_method":"card"}"#;
const INVALID: &str = r#"{"user_id":3,"items":[],"payment_method":"card"}"#;

/// The running stack: the script, the lines it prints, and where each part listens.
struct Stack {
    child: Child,
    lines: Receiver<String>,
    printed: Vec<String>,
    dir: PathBuf,
    orders: SocketAddr,
    prometheus: SocketAddr,
    alertmanager: SocketAddr,
    receiver: SocketAddr,
}

impl Stack {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("obs-stack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut child = Command::new("bash")
            .arg(tools::workspace_root().join("scripts/stack"))
            .arg("--fast-alerts")
            .env("ORDERS_BIN", orders_binary(Build::Observed))
            .env("ALERT_RECEIVER_BIN", alert_receiver_binary())
            .env("STACK_DIR", &dir)
            .envs(
                [
                    "ORDERS_ADDR",
                    "PROMETHEUS_ADDR",
                    "ALERTMANAGER_ADDR",
                    "ALERT_RECEIVER_ADDR",
                ]
                .map(|name| (name, "127.0.0.1:0")),
            )
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OBS_METRICS_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run scripts/stack");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stack = Self {
            child,
            lines,
            printed: Vec::new(),
            dir,
            orders: "0.0.0.0:0".parse().unwrap(),
            prometheus: "0.0.0.0:0".parse().unwrap(),
            alertmanager: "0.0.0.0:0".parse().unwrap(),
            receiver: "0.0.0.0:0".parse().unwrap(),
        };
        stack.next_line(Duration::from_secs(60), |l| {
            l == "stack: ready; Ctrl-C stops everything"
        });
        let at = |name: &str| -> SocketAddr {
            let line = stack
                .printed
                .iter()
                .find_map(|l| l.strip_prefix(&format!("stack: {name}")))
                .unwrap_or_else(|| panic!("no line for {name}: {:?}", stack.printed));
            let url = line.split_whitespace().next().unwrap();
            url.strip_prefix("http://").unwrap().parse().unwrap()
        };
        stack.orders = at("orders ");
        stack.prometheus = at("prometheus ");
        stack.alertmanager = at("alertmanager ");
        stack.receiver = at("alert receiver ");
        stack
    }

    /// Reads printed lines until one satisfies `want`; returns it.
    fn next_line(&mut self, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|e| {
                panic!(
                    "scripts/stack printed no such line ({e}); it printed:\n{}",
                    self.printed.join("\n")
                )
            });
            self.printed.push(line.clone());
            if want(&line) {
                return line;
            }
        }
    }

    fn log(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The rules of a file as Prometheus's API lists them: (group, rule name), in order.
fn rules_in_file(text: &str) -> Vec<(String, String)> {
    let mut group = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("- name: ") {
            name.trim_matches('"').clone_into(&mut group);
        } else if let Some(name) = line
            .strip_prefix("- record: ")
            .or_else(|| line.strip_prefix("- alert: "))
        {
            out.push((group.clone(), name.trim_matches('"').to_owned()));
        }
    }
    out
}

#[test]
fn the_local_stack_scrapes_evaluates_alerts_and_stops() {
    let mut stack = Stack::start();

    // The service's target is up, under the job the rules select.
    wait_until(
        "the orders target to be up",
        Duration::from_secs(30),
        || {
            let targets = api(stack.prometheus, "/api/v1/targets");
            let active = targets["activeTargets"].as_array().unwrap();
            if active.is_empty() {
                // Not discovered yet.
                return None;
            }
            assert_eq!(active.len(), 1, "{active:?}");
            let target = &active[0];
            assert_eq!(target["labels"]["job"], "orders");
            assert_eq!(
                target["scrapeUrl"],
                format!("http://{}/metrics", stack.orders)
            );
            (target["health"] == "up").then_some(())
        },
    );

    // Every rule of the generated file is loaded, in its group, and evaluates without
    // error.
    // (The API lists the groups by name, each group's rules in file order.)
    let mut expected = rules_in_file(&stack.log("prometheus/rules.yml"));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(expected.len() > 50, "{expected:?}");
    wait_until(
        "every rule to be evaluated",
        Duration::from_secs(30),
        || {
            let groups = api(stack.prometheus, "/api/v1/rules");
            let mut loaded = Vec::new();
            let mut evaluated = true;
            for group in groups["groups"].as_array().unwrap() {
                for rule in group["rules"].as_array().unwrap() {
                    loaded.push((
                        group["name"].as_str().unwrap().to_owned(),
                        rule["name"].as_str().unwrap().to_owned(),
                    ));
                    let last = rule["lastEvaluation"].as_str().unwrap();
                    evaluated &= !last.starts_with("0001-01-01");
                    if evaluated {
                        assert_eq!(rule["health"], "ok", "{rule}");
                        assert!(rule.get("lastError").is_none_or(|e| e == ""), "{rule}");
                    }
                }
            }
            loaded.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(loaded, expected);
            evaluated.then_some(())
        },
    );

    // Failing orders (half of all checkouts; the SLO's budget is 1 %) fire the page
    // alert over the shortened 1 h and 5 m windows.
    let burning = "ALERTS{alertname=\"ObsSloErrorBudgetBurn\", slo=\"checkout\", long_window=\"1m\", short_window=\"5s\", alertstate=\"firing\"}";
    let firing = wait_until(
        "the burn-rate alert to fire",
        Duration::from_secs(90),
        || {
            for _ in 0..10 {
                assert_eq!(
                    http_call(stack.orders, "POST", "/api/orders", &[], Some(ORDER)).status,
                    201
                );
                let status =
                    http_call(stack.orders, "POST", "/api/orders", &[], Some(INVALID)).status;
                assert_eq!(status, 400, "an invalid order");
            }
            let firing = query(stack.prometheus, burning);
            (!firing.is_empty()).then_some(firing)
        },
    );
    assert_eq!(firing[0]["metric"]["severity"], "page");
    assert_eq!(firing[0]["metric"]["job"], "orders");

    // Alertmanager routes it to the `page` receiver, which accepted it with the token
    // from its file, and the stack prints it. (The slower ticket pairs may fire and
    // arrive at the `ticket` receiver too.)
    let line = stack.next_line(Duration::from_secs(30), |l| {
        l.contains("\"ObsSloErrorBudgetBurn\"")
            && l.contains("\"checkout\"")
            && l.contains("\"long_window\":\"1m\"")
    });
    let alert: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(alert["receiver"], "page");
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["long_window"], "1m");
    assert!(
        !stack.log("alert-receiver.log").contains("refused"),
        "{}",
        stack.log("alert-receiver.log")
    );

    // A target that is down inhibits its job's other alerts, not another job's.
    let alerts = json!([
        {"labels": {"alertname": "ObsTargetDown", "job": "inhibit-check", "severity": "page"}},
        {"labels": {"alertname": "ObsRouteErrorRatioHigh", "job": "inhibit-check", "severity": "ticket"}},
        {"labels": {"alertname": "ObsRouteErrorRatioHigh", "job": "another-job", "severity": "ticket"}},
    ]);
    let posted = http_call(
        stack.alertmanager,
        "POST",
        "/api/v2/alerts",
        &[],
        Some(&alerts.to_string()),
    );
    assert_eq!(posted.status, 200, "{}", posted.body);
    let states = wait_until("the posted alerts", Duration::from_secs(10), || {
        let body = http_call(
            stack.alertmanager,
            "GET",
            "/api/v2/alerts?filter=alertname%3D~%22ObsTargetDown%7CObsRouteErrorRatioHigh%22",
            &[],
            None,
        )
        .body;
        let listed: Vec<Value> = serde_json::from_str(&body).unwrap();
        let states: Vec<(String, String, String)> = listed
            .iter()
            .map(|a| {
                (
                    a["labels"]["alertname"].as_str().unwrap().to_owned(),
                    a["labels"]["job"].as_str().unwrap().to_owned(),
                    a["status"]["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (states.len() == 3).then_some(states)
    });
    let state_of = |name: &str, job: &str| {
        states
            .iter()
            .find(|(n, j, _)| n == name && j == job)
            .map(|(_, _, s)| s.as_str())
            .unwrap()
    };
    assert_eq!(state_of("ObsTargetDown", "inhibit-check"), "active");
    assert_eq!(
        state_of("ObsRouteErrorRatioHigh", "inhibit-check"),
        "suppressed"
    );
    assert_eq!(state_of("ObsRouteErrorRatioHigh", "another-job"), "active");
    // The ticket for the other job reaches the `ticket` receiver.
    let line = stack.next_line(Duration::from_secs(30), |l| l.contains("\"another-job\""));
    let ticket: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ticket["receiver"], "ticket");

    // The service's log lines carry the trace id where the Loki datasource's derived
    // field finds it, and it is a trace id the service wrote.
    let datasources = tools::yaml(&deploy("grafana/provisioning/datasources/datasources.yaml"));
    let loki = datasources["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["type"] == "loki")
        .unwrap();
    let regex = loki["jsonData"]["derivedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["matcherType"] == "regex")
        .unwrap()["matcherRegex"]
        .as_str()
        .unwrap()
        .to_owned();
    let logs = stack.log("orders.log");
    let access = logs
        .lines()
        .find(|l| l.contains("request completed") && l.contains("/api/orders"))
        .unwrap_or_else(|| panic!("no access log line: {logs}"));
    let line: Value = serde_json::from_str(access).unwrap();
    let found = tools::regex_group(&regex, access);
    assert_eq!(found.as_deref(), line["trace_id"].as_str(), "{access}");

    // Ctrl-C stops every process, and every port is closed.
    let pid = stack.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = wait_until("the stack to stop", Duration::from_secs(30), || {
        stack.child.try_wait().unwrap()
    });
    assert_eq!(exit.code(), Some(130), "{:?}", stack.printed);
    for addr in [
        stack.orders,
        stack.prometheus,
        stack.alertmanager,
        stack.receiver,
    ] {
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
            "{addr} still listens after Ctrl-C"
        );
    }
}
