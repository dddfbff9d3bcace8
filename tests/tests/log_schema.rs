//! Every line placed: the orders service, driven through every kind of request it
//! answers (orders placed, declined and invalid, lookups found and not, slow and unknown
//! users, unmatched paths, a HEAD), writes JSON lines that all validate against the
//! published schema (`schemas/log-line.schema.json`, checked by Python's `jsonschema`),
//! all name the service, and every line written inside a request names its request id,
//! method, route and client, and the ids the observed functions mark.

use std::io::{BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};

use obs_tests::http_call;
use obs_tests::load::{Build, banner_addr, orders_binary};
use obs_tests::tools::workspace_root;
use serde_json::Value;

const PLACED: &str =
    r#"{"user_id":5,"items":[{"sku":"A1","quantity":2,"price":3.5}],"payment_method":"card"}"#;
const DECLINED: &str =
    r#"{"user_id":6,"items":[{"sku":"B2","quantity":1,"price":9000}],"payment_method":"paypal"}"#;
const INVALID: &str = r#"{"user_id":7,"items":[],"payment_method":"card"}"#;

/// The service's standard output after `requests`, once it stopped on Ctrl-C.
fn run_orders(requests: impl FnOnce(std::net::SocketAddr)) -> String {
    let mut child = Command::new(orders_binary(Build::Observed))
        .env("ORDERS_ADDR", "127.0.0.1:0")
        .env("OBS_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env_remove("OBS_METRICS_ADDR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OBS_LOG_SPAN_FIELDS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = banner_addr(&mut stderr);
    // Read standard output while the requests run, so the service never waits on it.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    requests(addr);
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
    reader.join().unwrap()
}

/// The schema's validator over `text`'s lines: how many it checked.
fn validate(text: &str) -> u64 {
    let root = workspace_root();
    let mut python = Command::new("python3")
        .arg(root.join("tests/py/validate_lines.py"))
        .arg(root.join("schemas/log-line.schema.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = python.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    assert!(
        output.status.success(),
        "lines outside the schema: {:#}",
        report["invalid"]
    );
    assert_eq!(report["validator"], "Draft202012Validator");
    report["checked"].as_u64().unwrap()
}

#[test]
fn every_line_validates_names_its_service_and_places_its_request() {
    let stdout = run_orders(|addr| {
        let call = |method: &str, path: &str, body: Option<&str>| {
            http_call(addr, method, path, &[], body).status
        };
        assert_eq!(call("POST", "/api/orders", Some(PLACED)), 201);
        assert_eq!(call("POST", "/api/orders", Some(DECLINED)), 402);
        assert_eq!(call("POST", "/api/orders", Some(INVALID)), 400);
        assert_eq!(call("POST", "/api/orders", Some("{not json")), 400);
        assert_eq!(call("GET", "/api/orders/1", None), 200);
        assert_eq!(call("GET", "/api/orders/999", None), 404);
        assert_eq!(call("GET", "/api/users/3", None), 200);
        assert_eq!(call("GET", "/api/users/0", None), 404);
        assert_eq!(call("GET", "/nowhere", None), 404);
        assert_eq!(call("HEAD", "/health/live", None), 200);
        assert_eq!(call("GET", "/health/ready", None), 200);
    });
    let checked = validate(&stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(checked, lines.len() as u64);
    // 11 access lines, the payment captured, the order created, the declined payment,
    // database ready, listening and stopped.
    assert_eq!(lines.len(), 17, "{stdout}");

    for line in &lines {
        assert_eq!(line["service.name"], "orders", "{line}");
        assert_eq!(line["service.version"], env!("CARGO_PKG_VERSION"), "{line}");
    }
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request completed")
        .collect();
    assert_eq!(access.len(), 11, "one access line per request");
    // Every line written inside a request names it: its id, method, route (when one
    // matched) and client.
    let in_requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("request_id").is_some())
        .collect();
    assert!(in_requests.len() > access.len(), "handlers wrote lines too");
    for line in &in_requests {
        assert!(line["http.request.method"].is_string(), "{line}");
        assert_eq!(line["client.address"], "127.0.0.1", "{line}");
        let path = access
            .iter()
            .find(|a| a["request_id"] == line["request_id"])
            .unwrap_or_else(|| panic!("no access line for {line}"))["fields"]["url.path"]
            .as_str()
            .unwrap();
        if path == "/nowhere" {
            assert!(line.get("http.route").is_none(), "{line}");
        } else {
            assert!(line["http.route"].is_string(), "{line}");
        }
        assert!(line["trace_id"].is_string(), "{line}");
    }
    // A line the handler wrote deep inside: the order's, placed by its route, method and
    // the ids the observed functions mark (OBS_LOG_SPAN_FIELDS in the example).
    let created = lines
        .iter()
        .find(|l| l["message"] == "order created")
        .expect("an order created line");
    assert_eq!(created["http.route"], "/api/orders");
    assert_eq!(created["http.request.method"], "POST");
    assert_eq!(created["user_id"], "5", "{created}");
    let declined = lines
        .iter()
        .find(|l| l["level"] == "WARN" && l["target"] == "obs::error")
        .expect("the declined payment's error line");
    assert_eq!(declined["user_id"], "6", "{declined}");
    // The lines outside any request carry no request fields.
    let listening = lines
        .iter()
        .find(|l| l["message"] == "orders service listening")
        .unwrap();
    assert!(listening.get("request_id").is_none() && listening.get("http.route").is_none());
}
