//! The embedded metrics server, over real loopback sockets: format negotiation, health,
//! bearer token, and bad input that never takes it down.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use obs_runtime::{
    metric,
    server::{MetricsServer, ServerConfig},
};
use obs_tests::Sample;
use obs_tests::lines_of;

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

/// Connections the server serves at once (`MAX_CONNECTIONS` in obs-runtime's server): the
/// tests that fill every slot go past it.
const SLOTS: u32 = 128;

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const WWW_AUTHENTICATE: &str = "\r\nwww-authenticate: Bearer realm=\"metrics\"";

/// The head the server writes (without the blank line): `status` is code and reason,
/// `extra` the further header lines, each after a `\r\n`.
fn head(status: &str, content_type: &str, length: usize, extra: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close{extra}"
    )
}

/// The whole answer `raw` returns for a fixed body.
fn answer(status: &str, content_type: &str, extra: &str, body: &str) -> (u16, String, String) {
    (
        status[..3].parse().expect("status code"),
        head(status, content_type, body.len(), extra),
        body.to_owned(),
    )
}

/// Asserts a `200` with the exposition of the global registry in `content_type` (its
/// content varies with the process: only the head is known in full).
fn assert_exposition((status, written, body): &(u16, String, String), content_type: &str) {
    assert_eq!(*status, 200, "{written}");
    assert_eq!(*written, head("200 OK", content_type, body.len(), ""));
}

#[test]
fn metrics_in_both_formats_and_health() {
    let ready = Arc::new(AtomicBool::new(false));
    let server = start(None, ready.clone());
    let addr = server.local_addr();
    SERVED.inc_by(4);

    let scrape = get(addr, "/metrics", "");
    assert_exposition(&scrape, PROMETHEUS);
    assert_eq!(
        lines_of(&scrape.2, "server_test_"),
        [
            "# HELP server_test_events_total Requests seen by the server test.",
            "# TYPE server_test_events_total counter",
            "server_test_events_total 4",
        ],
        "{}",
        scrape.2
    );

    let prometheus_accept =
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n";
    let scrape = get(addr, "/metrics?debug=1", prometheus_accept);
    assert_exposition(&scrape, OPENMETRICS);
    let body = &scrape.2;
    assert!(body.ends_with("\n# EOF\n"), "{body}");
    assert_eq!(body.matches("# EOF").count(), 1, "{body}");
    let parsed = obs_tests::samples(&obs_tests::python_parse("openmetrics", body));
    let events: Vec<&Sample> = parsed
        .iter()
        .filter(|s| s.name.starts_with("server_test_"))
        .collect();
    assert_eq!(
        events,
        [&Sample {
            name: "server_test_events_total".to_owned(),
            labels: BTreeMap::new(),
            value: 4.0,
            exemplar: None,
        }]
    );

    assert_eq!(
        get(addr, "/health/live", ""),
        answer("200 OK", JSON, "", "{\"status\":\"ok\"}\n")
    );
    assert_eq!(
        get(addr, "/health/ready", ""),
        answer(
            "503 Service Unavailable",
            JSON,
            "",
            "{\"status\":\"not ready\"}\n"
        )
    );
    ready.store(true, Ordering::Relaxed);
    assert_eq!(
        get(addr, "/health/ready", ""),
        answer("200 OK", JSON, "", "{\"status\":\"ready\"}\n")
    );

    // The length of an exposition of this moment (process metrics move): only its form.
    let (status, written, body) = raw(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));
    let length: usize = written
        .strip_prefix(&format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {PROMETHEUS}\r\nContent-Length: "
        ))
        .and_then(|rest| rest.strip_suffix("\r\nConnection: close"))
        .unwrap_or_else(|| panic!("{written:?}"))
        .parse()
        .expect("a length");
    assert_ne!(length, 0);
}

#[test]
fn bearer_token_guards_metrics_only() {
    let server = start(Some("s3cret-token"), Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    let unauthorized = answer("401 Unauthorized", TEXT, WWW_AUTHENTICATE, "unauthorized\n");
    assert_eq!(get(addr, "/metrics", ""), unauthorized);
    assert_eq!(
        get(addr, "/metrics", "Authorization: Bearer wrong-token\r\n"),
        unauthorized
    );
    assert_eq!(
        get(addr, "/metrics", "Authorization: Basic s3cret-token\r\n"),
        unauthorized
    );
    assert_exposition(
        &get(addr, "/metrics", "Authorization: Bearer s3cret-token\r\n"),
        PROMETHEUS,
    );
    assert_exposition(
        &get(addr, "/metrics", "authorization: bearer s3cret-token\r\n"),
        PROMETHEUS,
    );
    // Probes carry no token.
    assert_eq!(
        get(addr, "/health/live", ""),
        answer("200 OK", JSON, "", "{\"status\":\"ok\"}\n")
    );
}

#[test]
fn bad_input_gets_an_error_and_the_server_keeps_serving() {
    let server = start(None, Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    let bad_request = answer("400 Bad Request", TEXT, "", "bad request\n");
    assert_eq!(raw(addr, b"NONSENSE\r\n\r\n"), bad_request);
    assert_eq!(
        raw(addr, b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n"),
        bad_request
    );
    assert_eq!(
        raw(addr, b"GET /metrics HTTP/1.1\r\nX: \xff\xfe\r\n\r\n"),
        bad_request
    );
    assert_eq!(
        raw(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
        answer(
            "405 Method Not Allowed",
            TEXT,
            "\r\nAllow: GET, HEAD",
            "method not allowed\n"
        )
    );
    assert_eq!(
        get(addr, "/nope", ""),
        answer("404 Not Found", TEXT, "", "not found\n")
    );
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    assert_eq!(
        raw(addr, huge.as_bytes()),
        answer(
            "431 Request Header Fields Too Large",
            TEXT,
            "",
            "request head too large\n"
        )
    );
    // A client that connects and says nothing, and one that leaves mid-header.
    let idle = TcpStream::connect(addr).expect("connect");
    let mut partial = TcpStream::connect(addr).expect("connect");
    partial.write_all(b"GET /metr").expect("send");
    drop(partial);
    assert_exposition(&get(addr, "/metrics", ""), PROMETHEUS);
    drop(idle);

    // Concurrent scrapes all succeed.
    let scrapes: Vec<(u16, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(move || get(addr, "/metrics", "")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scrape thread"))
            .collect()
    });
    assert_eq!(scrapes.len(), 16);
    for scrape in &scrapes {
        assert_exposition(scrape, PROMETHEUS);
    }
}

#[test]
fn shutdown_releases_the_port() {
    let server = start(None, Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/health/live", ""),
        answer("200 OK", JSON, "", "{\"status\":\"ok\"}\n")
    );
    server.shutdown();
    let refused = TcpStream::connect(addr).map(|_| "connected");
    assert_eq!(
        refused.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
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

/// `SLOTS + 32` connections trickling one byte every 4.5 s (each read alone would beat a
/// per-read timeout) for 20 s: `/health/live` and `/metrics` answer within 1 s, every
/// time. They used to get resets once such clients held every slot.
#[test]
fn slow_clients_never_starve_probes() {
    use std::time::{Duration, Instant};
    let server = start(None, Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = b"GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
    let attackers: Vec<_> = (0..SLOTS + 32)
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
    // Let the attackers take every slot first, and grow old enough (0.5 s) to be evicted.
    std::thread::sleep(Duration::from_secs(1));
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
    // How many probes fit in 20 s, how often the attackers got in, and so how many were
    // evicted depend on the scheduling: bounds, not values.
    assert!(probes >= 40, "{probes}");
    assert!(held >= SLOTS + 32, "{held}");
    // Each probe evicted at most one slow connection, and they were counted. Only this
    // server ever fills all its slots, so every eviction in the process closed one of the
    // connections made here (each at most once).
    let evicted =
        obs_tests::global_sample("obs_metrics_server_dropped_total", &[("reason", "evicted")])
            .expect("the counter");
    assert!(
        evicted >= f64::from(held.min(SLOTS + 32) - SLOTS),
        "{evicted}"
    );
    assert!(
        evicted <= f64::from(held + probes),
        "{evicted} > {held} + {probes}"
    );
    eprintln!(
        "slow clients: {held} connections held open, {evicted} evicted, {probes} probes all 200 within 1 s"
    );
}

/// A readiness check that panics answers `500` and returns its slot: `SLOTS + 32` of them
/// (more than the slots) and the server still answers. They used to leave it answering
/// `503` forever.
#[test]
fn a_panicking_handler_answers_500_and_frees_its_slot() {
    let server = MetricsServer::start(ServerConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        ready: Arc::new(|| panic!("readiness check exploded")),
        ..ServerConfig::default()
    })
    .expect("bind");
    let addr = server.local_addr();
    let internal_error = answer("500 Internal Server Error", TEXT, "", "internal error\n");
    for _ in 0..SLOTS + 32 {
        assert_eq!(get(addr, "/health/ready", ""), internal_error);
    }
    assert_eq!(
        get(addr, "/health/live", ""),
        answer("200 OK", JSON, "", "{\"status\":\"ok\"}\n")
    );
    // Counted before each `500` was written; no other test here makes a handler panic.
    assert_eq!(
        obs_tests::global_sample("obs_metrics_server_dropped_total", &[("reason", "panic")]),
        Some(f64::from(SLOTS + 32))
    );
}

/// `HTTP/1.9` is not accepted as HTTP/1.1: `505`; a request trickled past the head
/// deadline gets `408`.
#[test]
fn unsupported_versions_and_head_timeouts() {
    use std::time::{Duration, Instant};
    let server = start(None, Arc::new(AtomicBool::new(true)));
    let addr = server.local_addr();
    let unsupported = answer(
        "505 HTTP Version Not Supported",
        TEXT,
        "",
        "HTTP/1.1 only\n",
    );
    assert_eq!(raw(addr, b"GET /metrics HTTP/1.9\r\n\r\n"), unsupported);
    assert_eq!(raw(addr, b"GET /metrics HTTP/2.0\r\n\r\n"), unsupported);
    assert_exposition(&raw(addr, b"GET /metrics HTTP/1.0\r\n\r\n"), PROMETHEUS);
    assert_eq!(
        raw(addr, b"GET /metrics HTTX/1.1\r\n\r\n"),
        answer("400 Bad Request", TEXT, "", "bad request\n")
    );
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
    assert_eq!(
        response,
        format!(
            "{}\r\n\r\nrequest timeout\n",
            head("408 Request Timeout", TEXT, 16, "")
        )
    );
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
    let unauthorized = answer("401 Unauthorized", TEXT, WWW_AUTHENTICATE, "unauthorized\n");
    assert_eq!(get(addr, "/dashboards/rules.yml", ""), unauthorized);
    assert_eq!(get(addr, "/dashboards/grafana.json", ""), unauthorized);
    // Exactly what the generators make for the configured service.
    let rules = obs_runtime::dashboards::prometheus_rules(
        &obs_runtime::dashboards::RuleOptions::new("checkout"),
    );
    assert_eq!(
        get(addr, "/dashboards/rules.yml", auth),
        answer("200 OK", "application/yaml", "", &rules)
    );
    assert!(rules.starts_with("groups:\n"), "{rules}");
    let target_down: Vec<&str> = rules
        .lines()
        .skip_while(|l| *l != "      - alert: \"ObsTargetDown\"")
        .take(2)
        .collect();
    assert_eq!(
        target_down,
        [
            "      - alert: \"ObsTargetDown\"",
            "        expr: \"up{job=\\\"checkout\\\"} == 0\"",
        ],
        "{rules}"
    );
    let dashboard = obs_runtime::dashboards::grafana_dashboard(
        &obs_runtime::dashboards::DashboardOptions::new("checkout"),
    );
    assert_eq!(
        get(addr, "/dashboards/grafana.json", auth),
        answer("200 OK", JSON, "", &dashboard)
    );
    let uids: Vec<&str> = dashboard
        .lines()
        .filter(|l| l.contains("\"uid\": \"obs-"))
        .collect();
    assert_eq!(uids, ["  \"uid\": \"obs-checkout\","], "{dashboard}");
    assert_eq!(
        get(addr, "/dashboards/other.json", auth),
        answer("404 Not Found", TEXT, "", "not found\n")
    );
}
