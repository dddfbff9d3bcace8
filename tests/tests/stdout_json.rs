//! The orders example as users run it, with `OBS_LOG_FORMAT=json`: every line of its
//! standard output is one JSON object (the human banner goes to standard error), so a
//! log shipper can parse every line.

use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use obs_tests::http_call;
use serde_json::Value;

/// The example binary `cargo test` built beside this test (built here when missing).
fn orders_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = debug.join("examples").join("orders");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "obs-examples", "--example", "orders"])
            .status()
            .unwrap();
        assert!(status.success(), "cannot build the orders example");
    }
    binary
}

#[test]
fn every_stdout_line_is_a_json_object() {
    let mut child = Command::new(orders_binary())
        .env("ORDERS_ADDR", "127.0.0.1:0")
        .env("OBS_LOG_FORMAT", "json")
        .env_remove("OBS_METRICS_ADDR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The banner, on stderr, names the address.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = obs_tests::load::banner_addr(&mut stderr);
    let order =
        r#"{"user_id":1,"items":[{"sku":"A1","quantity":1,"price":3.5}],"payment_method":"card"}"#;
    assert_eq!(
        http_call(addr, "POST", "/api/orders", &[], Some(order)).status,
        201
    );
    assert_eq!(
        http_call(addr, "GET", "/api/orders/1", &[], None).status,
        200
    );
    assert_eq!(
        http_call(addr, "GET", "/api/users/1", &[], None).status,
        200
    );
    // Ctrl-C: the service shuts down and flushes its logs.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let waited = child.wait().unwrap();
    assert!(waited.success(), "{waited}");
    std::thread::sleep(Duration::from_millis(10));
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
            assert!(v.is_object(), "{l}");
            v
        })
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(
        messages.contains(&"orders service listening"),
        "{messages:?}"
    );
    assert!(messages.contains(&"order created"), "{messages:?}");
    assert_eq!(
        messages
            .iter()
            .filter(|m| **m == "request completed")
            .count(),
        3,
        "{messages:?}"
    );
    assert!(messages.contains(&"orders service stopped"), "{messages:?}");
    assert!(!stdout.contains("curl -s"), "the banner leaked to stdout");
}
