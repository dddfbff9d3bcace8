//! The embedded metrics server, over real loopback sockets: format negotiation, health,
//! bearer token, and bad input that never takes it down.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use obs_runtime::{
    metric,
    server::{MetricsServer, ServerConfig},
};

metric! {
    /// Requests seen by the server test.
    pub counter SERVED("server_test_events_total");
}

fn start(token: Option<&str>, ready: Arc<AtomicBool>) -> MetricsServer {
    MetricsServer::start(ServerConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        token: token.map(str::to_owned),
        ready: Arc::new(move || ready.load(Ordering::Relaxed)),
        ..ServerConfig::default()
    })
    .expect("bind loopback")
}

/// Sends raw bytes, returns (status, headers, body).
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    let status = head[9..12].parse().expect("status code");
    (status, head.to_owned(), body.to_owned())
}

fn get(addr: SocketAddr, path: &str, headers: &str) -> (u16, String, String) {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n").as_bytes(),
    )
}

#[test]
fn metrics_in_both_formats_and_health() {
    let ready = Arc::new(AtomicBool::new(false));
    let server = start(None, ready.clone());
    let addr = server.local_addr();
    SERVED.inc_by(4);

    let (status, head, body) = get(addr, "/metrics", "");
    assert_eq!(status, 200);
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(body.contains("server_test_events_total 4\n"), "{body}");
    assert!(head.contains(&format!("Content-Length: {}", body.len())));

    let prometheus_accept =
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n";
    let (status, head, body) = get(addr, "/metrics?debug=1", prometheus_accept);
    assert_eq!(status, 200);
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(body.ends_with("# EOF\n"));
    let parsed = obs_tests::samples(&obs_tests::python_parse("openmetrics", &body));
    let events = parsed
        .iter()
        .find(|s| s.name == "server_test_events_total")
        .expect("sample");
    assert_eq!(events.value, 4.0);

    assert_eq!(get(addr, "/health/live", "").0, 200);
    let (status, _, body) = get(addr, "/health/ready", "");
    assert_eq!(
        (status, body.as_str()),
        (503, "{\"status\":\"not ready\"}\n")
    );
    ready.store(true, Ordering::Relaxed);
    let (status, _, body) = get(addr, "/health/ready", "");
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ready\"}\n"));

    let (status, head, body) = raw(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(head.contains("Content-Length: "));
}

#[test]
fn bearer_token_guards_metrics_only() {
    let server = start(Some("s3cret-token"), Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    let (status, head, _) = get(addr, "/metrics", "");
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: Bearer realm=\"metrics\""));
    assert_eq!(
        get(addr, "/metrics", "Authorization: Bearer wrong-token\r\n").0,
        401
    );
    assert_eq!(
        get(addr, "/metrics", "Authorization: Basic s3cret-token\r\n").0,
        401
    );
    assert_eq!(
        get(addr, "/metrics", "Authorization: Bearer s3cret-token\r\n").0,
        200
    );
    assert_eq!(
        get(addr, "/metrics", "authorization: bearer s3cret-token\r\n").0,
        200
    );
    // Probes carry no token.
    assert_eq!(get(addr, "/health/live", "").0, 200);
}

#[test]
fn bad_input_gets_an_error_and_the_server_keeps_serving() {
    let server = start(None, Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    assert_eq!(raw(addr, b"NONSENSE\r\n\r\n").0, 400);
    assert_eq!(
        raw(addr, b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n").0,
        400
    );
    assert_eq!(
        raw(addr, b"GET /metrics HTTP/1.1\r\nX: \xff\xfe\r\n\r\n").0,
        400
    );
    assert_eq!(
        raw(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").0,
        405
    );
    assert_eq!(get(addr, "/nope", "").0, 404);
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    assert_eq!(raw(addr, huge.as_bytes()).0, 431);
    // A client that connects and says nothing, and one that leaves mid-header.
    let idle = TcpStream::connect(addr).expect("connect");
    let mut partial = TcpStream::connect(addr).expect("connect");
    partial.write_all(b"GET /metr").expect("send");
    drop(partial);
    assert_eq!(get(addr, "/metrics", "").0, 200);
    drop(idle);

    // Concurrent scrapes all succeed.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(move || get(addr, "/metrics", "").0))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scrape thread"))
            .collect()
    });
    assert_eq!(statuses, vec![200; 16]);
}

#[test]
fn shutdown_releases_the_port() {
    let server = start(None, Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/health/live", "").0, 200);
    server.shutdown();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening on {addr}"
    );
    // The same port can be bound again at once.
    let again = MetricsServer::start(ServerConfig {
        addr,
        ..ServerConfig::default()
    })
    .expect("rebind");
    assert_eq!(again.local_addr(), addr);
}

/// 50 connections trickling one byte every 4.5 s (each read alone would beat a per-read
/// timeout) for 20 s: `/health/live` and `/metrics` answer within 1 s, every time. They
/// used to get resets once 32 such clients held every slot.
#[test]
fn slow_clients_never_starve_probes() {
    use std::time::{Duration, Instant};
    let server = start(None, Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = b"GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
    let attackers: Vec<_> = (0..50)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut held = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut stream) = TcpStream::connect(addr) else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    held += 1;
                    // One byte every 4.5 s until the server closes the connection.
                    for byte in trickle.iter().cycle() {
                        if stream.write_all(&[*byte]).is_err() || stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let until = Instant::now() + Duration::from_millis(4500);
                        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                held
            })
        })
        .collect();
    // Let the attackers take every slot first.
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut probes = 0;
    while Instant::now() < deadline {
        for path in ["/health/live", "/metrics"] {
            let started = Instant::now();
            let (status, _, _) = get(addr, path, "");
            let took = started.elapsed();
            assert_eq!(status, 200, "{path} after {probes} probes");
            assert!(took < Duration::from_secs(1), "{path} took {took:?}");
            probes += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let held: u32 = attackers
        .into_iter()
        .map(|a| a.join().expect("attacker"))
        .sum();
    assert!(probes >= 40, "{probes}");
    assert!(held >= 50, "{held}");
    // Each probe evicted at most one slow connection, and they were counted.
    let evicted =
        obs_tests::global_sample("obs_metrics_server_dropped_total", &[("reason", "evicted")])
            .expect("the counter");
    assert!(evicted >= f64::from(held.min(50) - 32), "{evicted}");
    eprintln!(
        "slow clients: {held} connections held open, {evicted} evicted, {probes} probes all 200 within 1 s"
    );
}

/// A readiness check that panics answers `500` and returns its slot: 40 of them (more
/// than the 32 slots) and the server still answers. They used to leave it answering `503`
/// forever.
#[test]
fn a_panicking_handler_answers_500_and_frees_its_slot() {
    let server = MetricsServer::start(ServerConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        ready: Arc::new(|| panic!("readiness check exploded")),
        ..ServerConfig::default()
    })
    .expect("bind");
    let addr = server.local_addr();
    for _ in 0..40 {
        assert_eq!(get(addr, "/health/ready", "").0, 500);
    }
    assert_eq!(get(addr, "/health/live", "").0, 200);
}

/// `HTTP/1.9` is not accepted as HTTP/1.1: `505`; a request trickled past the head
/// deadline gets `408`.
#[test]
fn unsupported_versions_and_head_timeouts() {
    use std::time::{Duration, Instant};
    let server = start(None, Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    assert_eq!(raw(addr, b"GET /metrics HTTP/1.9\r\n\r\n").0, 505);
    assert_eq!(raw(addr, b"GET /metrics HTTP/2.0\r\n\r\n").0, 505);
    assert_eq!(raw(addr, b"GET /metrics HTTP/1.0\r\n\r\n").0, 200);
    assert_eq!(raw(addr, b"GET /metrics HTTX/1.1\r\n\r\n").0, 400);
    let mut slow = TcpStream::connect(addr).expect("connect");
    let started = Instant::now();
    for byte in b"GET /metrics HTTP/1.1\r\nX: " {
        if slow.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(400));
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let mut response = String::new();
    let _ = slow.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 408 "), "{response:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(7), "{took:?}");
}

#[test]
fn dashboards_and_rules_are_served_for_the_service() {
    let server = MetricsServer::start(ServerConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        token: Some("s3cret-token".to_owned()),
        service: "checkout".to_owned(),
        ..ServerConfig::default()
    })
    .expect("bind loopback");
    let addr = server.local_addr();
    let auth = "Authorization: Bearer s3cret-token\r\n";
    assert_eq!(get(addr, "/dashboards/rules.yml", "").0, 401);
    assert_eq!(get(addr, "/dashboards/grafana.json", "").0, 401);
    let (status, head, body) = get(addr, "/dashboards/rules.yml", auth);
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: application/yaml"), "{head}");
    assert!(body.starts_with("groups:\n"), "{body}");
    assert!(
        body.contains("expr: \"up{job=\\\"checkout\\\"} == 0\""),
        "{body}"
    );
    let (status, head, body) = get(addr, "/dashboards/grafana.json", auth);
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert!(body.contains("\"uid\": \"obs-checkout\""), "{body}");
    assert_eq!(get(addr, "/dashboards/other.json", auth).0, 404);
}
