//! An embedded metrics server on `std` alone: `/metrics` (format negotiated from
//! `Accept`), `/health/live` and `/health/ready`, the generated Grafana dashboard and
//! Prometheus rules at `/dashboards/grafana.json` and `/dashboards/rules.yml` (see
//! [`dashboards`](crate::dashboards)), and an optional bearer token for all but health.
//!
//! It needs no async runtime, so it works the same in a tokio service, a synchronous
//! worker or a CLI. Each connection is served on its own short-lived thread. A slow or
//! malformed client can neither block probes and scrapes nor grow memory:
//!
//! - the whole request head must arrive within 5 s, however it trickles in (else `408`);
//! - at most 128 connections are served at once; when all are taken, the oldest one
//!   still sending its request after 0.5 s, else the oldest still being written its
//!   answer 1 s after it arrived, is closed to make room, so slow clients cannot keep
//!   probes out (a flood of new connections cannot push out one that just arrived, and a
//!   connection whose handler is running is never closed, so no thread outlives its
//!   slot);
//! - the answer and the close after it must be done within 5 s and 1 s;
//! - when every slot is busy answering, a newcomer's request is read and answered `503`;
//! - a handler that panics (a readiness check) answers `500` and frees its slot;
//! - versions other than HTTP/1.0 and 1.1 get `505`;
//! - the bearer token is compared in time that depends only on its own length.
//!
//! Connections closed without being served are counted in
//! `obs_metrics_server_dropped_total{reason}` (`evicted`, `busy`, `timeout`, `panic`).

use core::fmt;
use std::borrow::Cow;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::dashboards::{DashboardOptions, RuleOptions, grafana_dashboard, prometheus_rules};
use crate::metrics::Registry;
use crate::metrics::self_metrics::{ConnectionDrop, SERVER_DROPPED};

mod request;
mod response;
mod slots;

use request::{BadRequest, DeadlineReader, read_head};
/// The bearer token check, shared with the axum health endpoint.
#[cfg(feature = "axum")]
pub(crate) use response::bearer_matches;
use response::{JSON, TEXT, YAML, authorized, write_response};
pub use response::{MetricsResponse, metrics_response};
use slots::{Conn, HANDLING, READING, SlotGuard, Slots, WRITING};

/// The default listen address, the OpenTelemetry Prometheus exporter's port on loopback.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// Connections served at once. When all are taken, the oldest one still sending its
/// request after 0.5 s, else the oldest still being written its answer 1 s after it
/// arrived, is closed to make room, so slow or idle clients
/// cannot starve probes. 128, so that 50 clients both sending and reading very slowly,
/// and reconnecting at once when closed (too young to be evicted), still leave room for
/// Prometheus and the probes.
const MAX_CONNECTIONS: usize = 128;
/// Connections being answered `503` at once (every slot busy writing); more are closed.
const MAX_REJECTING: usize = 8;
/// The whole request head must arrive within this, however it trickles in.
const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Write timeout of one connection.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Readiness check of `/health/ready`.
pub type ReadyCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// How to run the server.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where to listen (default [`DEFAULT_ADDR`]; port 0 picks a free one).
    pub addr: SocketAddr,
    /// If set, `/metrics` requires `Authorization: Bearer <token>`; health endpoints stay
    /// open for orchestrator probes.
    pub token: Option<String>,
    /// The registry to expose (default [`Registry::global`]).
    pub registry: &'static Registry,
    /// Whether the service is ready (default: always).
    pub ready: ReadyCheck,
    /// The service's name (its Prometheus `job`): `/dashboards/grafana.json` and
    /// `/dashboards/rules.yml` are generated for it (default `"service"`; [`init`] sets
    /// the `service.name` of the resource).
    ///
    /// [`init`]: crate::init()
    pub service: String,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9464))),
            token: None,
            registry: Registry::global(),
            ready: Arc::new(|| true),
            service: "service".to_owned(),
        }
    }
}

/// A running metrics server; stops (and releases its port) when dropped.
///
/// ```
/// use std::io::{Read, Write};
///
/// let server = obs_runtime::server::MetricsServer::start(obs_runtime::server::ServerConfig {
///     addr: "127.0.0.1:0".parse().unwrap(),
///     ..Default::default()
/// })
/// .unwrap();
/// let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
/// stream.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
/// let mut response = String::new();
/// stream.read_to_string(&mut response).unwrap();
/// assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
/// ```
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Binds and starts serving on a background thread.
    ///
    /// # Errors
    ///
    /// The address cannot be bound (in use, not local, no permission).
    pub fn start(config: ServerConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(config.addr)?;
        // Non-blocking accept polled every few milliseconds, so that shutdown needs no
        // self-connection trick and never hangs.
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("obs-metrics-server".to_owned())
            .spawn({
                let stop = stop.clone();
                move || accept_loop(&listener, &config, &stop)
            })?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the accept thread to end.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn accept_loop(listener: &TcpListener, config: &ServerConfig, stop: &AtomicBool) {
    let slots = Arc::new(Slots::default());
    let mut next_id = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                next_id += 1;
                admit(stream, next_id, config, &slots);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            // A connection that failed before we saw it (reset, aborted): keep serving.
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Serves `stream` on its own thread, making room first when every slot is taken.
fn admit(stream: TcpStream, id: u64, config: &ServerConfig, slots: &Arc<Slots>) {
    let Ok(handle) = stream.try_clone() else {
        return;
    };
    let conn = Arc::new(Conn {
        id,
        stream: handle,
        phase: AtomicU8::new(READING),
        since: Instant::now(),
    });
    {
        let mut conns = slots.lock();
        if conns.len() >= MAX_CONNECTIONS {
            let victim = slots::victim(&conns, Instant::now());
            let Some(oldest) = victim else {
                drop(conns);
                reject_busy(stream, slots);
                return;
            };
            if let Some(victim) = conns.remove(oldest) {
                let _ = victim.stream.shutdown(std::net::Shutdown::Both);
                SERVER_DROPPED.with(ConnectionDrop::Evicted).inc();
            }
        }
        conns.push_back(Arc::clone(&conn));
    }
    let config = config.clone();
    let guard = SlotGuard {
        slots: Arc::clone(slots),
        id,
    };
    let spawned = std::thread::Builder::new()
        .name("obs-metrics-conn".to_owned())
        .spawn(move || {
            let _guard = guard;
            let _ = serve(stream, &config, &conn);
        });
    // Without a thread the guard was dropped with the closure: the slot is free again.
    drop(spawned);
}

/// Answers `503` once the request has been read (so the client sees the answer, not a
/// reset), on a thread of its own; past [`MAX_REJECTING`] of those, just closes.
fn reject_busy(stream: TcpStream, slots: &Arc<Slots>) {
    SERVER_DROPPED.with(ConnectionDrop::Busy).inc();
    if slots.rejecting.fetch_add(1, Ordering::Relaxed) >= MAX_REJECTING {
        slots.rejecting.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let inner = Arc::clone(slots);
    let spawned = std::thread::Builder::new()
        .name("obs-metrics-busy".to_owned())
        .spawn(move || {
            let mut stream = stream;
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
            let _ = read_head(&stream, Instant::now() + Duration::from_secs(1));
            let _ = write_response(&mut stream, 503, TEXT, &[], "busy\n", false);
            close_politely(&stream);
            inner.rejecting.fetch_sub(1, Ordering::Relaxed);
        });
    if spawned.is_err() {
        // The stream closed with the closure; the count is all that is left to undo.
        slots.rejecting.fetch_sub(1, Ordering::Relaxed);
    }
}

fn serve(mut stream: TcpStream, config: &ServerConfig, conn: &Conn) -> io::Result<()> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        respond(&mut stream, config, conn)
    }));
    let result = result.unwrap_or_else(|_| {
        // A handler (a readiness check) panicked: the client gets an answer, the slot is
        // freed by the caller's guard.
        SERVER_DROPPED.with(ConnectionDrop::Panic).inc();
        write_response(&mut stream, 500, TEXT, &[], "internal error\n", false)
    });
    close_politely(&stream);
    result
}

/// Half-closes, then drains what the client still sends (briefly), so that unread input
/// does not turn the close into a reset that loses the response.
fn close_politely(stream: &TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // At most 1 s in all, however slowly the client trickles.
    let mut drain = DeadlineReader {
        stream,
        deadline: Instant::now() + Duration::from_secs(1),
    };
    let _ = io::copy(&mut (&mut drain).take(64 * 1024), &mut io::sink());
}

fn respond(stream: &mut TcpStream, config: &ServerConfig, conn: &Conn) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = read_head(stream, Instant::now() + HEAD_DEADLINE)?;
    conn.phase.store(HANDLING, Ordering::Relaxed);
    let (answer, head_only) = handle(config, head);
    // The handler is done: from here the connection may be evicted.
    conn.phase.store(WRITING, Ordering::Relaxed);
    write_response(
        stream,
        answer.status,
        answer.content_type,
        &answer.headers,
        &answer.body,
        head_only,
    )
}

/// What a request is answered, before it is written.
struct Answer {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Cow<'static, str>,
}

impl Answer {
    fn new(status: u16, content_type: &'static str, body: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// The answer to a request head, and whether it is for a `HEAD` request.
fn handle(config: &ServerConfig, head: Result<request::Request, BadRequest>) -> (Answer, bool) {
    let request = match head {
        Ok(r) => r,
        Err(BadRequest::Malformed) => return (Answer::new(400, TEXT, "bad request\n"), false),
        Err(BadRequest::TooLarge) => {
            return (Answer::new(431, TEXT, "request head too large\n"), false);
        }
        Err(BadRequest::Version) => return (Answer::new(505, TEXT, "HTTP/1.1 only\n"), false),
        Err(BadRequest::Timeout) => {
            SERVER_DROPPED.with(ConnectionDrop::Timeout).inc();
            return (Answer::new(408, TEXT, "request timeout\n"), false);
        }
    };
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        let answer = Answer::new(405, TEXT, "method not allowed\n").header("Allow", "GET, HEAD");
        return (answer, false);
    }
    let answer = match request.path.as_str() {
        "/metrics" => {
            let response = metrics_response(
                config.registry,
                config.token.as_deref(),
                request.accept.as_deref(),
                request.authorization.as_deref(),
            );
            Answer {
                status: response.status,
                content_type: response.content_type,
                headers: response.headers,
                body: response.body.into(),
            }
        }
        "/dashboards/grafana.json" | "/dashboards/rules.yml" => {
            if !authorized(config.token.as_deref(), request.authorization.as_deref()) {
                Answer::new(401, TEXT, "unauthorized\n")
                    .header("www-authenticate", "Bearer realm=\"metrics\"")
            } else if request.path == "/dashboards/grafana.json" {
                let body = grafana_dashboard(&DashboardOptions::new(&config.service));
                Answer::new(200, JSON, body)
            } else {
                Answer::new(
                    200,
                    YAML,
                    prometheus_rules(&RuleOptions::new(&config.service)),
                )
            }
        }
        "/health/live" => Answer::new(200, JSON, "{\"status\":\"ok\"}\n"),
        "/health/ready" if (config.ready)() => Answer::new(200, JSON, "{\"status\":\"ready\"}\n"),
        "/health/ready" => Answer::new(503, JSON, "{\"status\":\"not ready\"}\n"),
        _ => Answer::new(404, TEXT, "not found\n"),
    };
    (answer, head_only)
}
