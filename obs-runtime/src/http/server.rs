//! An embedded metrics server on `std` alone: `/metrics` (format negotiated from
//! `Accept`), `/health/live` and `/health/ready`, an optional bearer token.
//!
//! It needs no async runtime, so it works the same in a tokio service, a synchronous
//! worker or a CLI. Each connection is served on its own short-lived thread. A slow or
//! malformed client can neither block probes and scrapes nor grow memory:
//!
//! - the whole request head must arrive within 5 s, however it trickles in (else `408`);
//! - at most 32 connections are served at once; when all are taken, the oldest one still
//!   sending its request after 0.5 s is closed to make room, so slow clients cannot keep
//!   probes out (and a flood of new connections cannot push out one that just arrived);
//! - the answer and the close after it must be done within 5 s and 1 s;
//! - when every slot is busy answering, a newcomer's request is read and answered `503`;
//! - a handler that panics (a readiness check) answers `500` and frees its slot;
//! - versions other than HTTP/1.0 and 1.1 get `505`;
//! - the bearer token is compared in time that depends only on its own length.
//!
//! Connections closed without being served are counted in
//! `obs_metrics_server_dropped_total{reason}` (`evicted`, `busy`, `timeout`, `panic`).

use core::fmt;
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metrics::Registry;
use crate::metrics::self_metrics::{ConnectionDrop, SERVER_DROPPED};

/// The default listen address, the OpenTelemetry Prometheus exporter's port on loopback.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// Largest request head (request line and headers) accepted, in bytes.
const MAX_HEAD: usize = 16 * 1024;
/// Connections served at once. When all are taken, the oldest one still sending its
/// request is closed to make room, so slow or idle clients cannot starve probes.
const MAX_CONNECTIONS: usize = 32;
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

/// A connection being served, as the acceptor sees it.
struct Conn {
    id: u64,
    /// A handle on the same socket, to close it from the acceptor.
    stream: TcpStream,
    /// Still reading its request head: may be evicted.
    reading: AtomicBool,
    /// When it was accepted: only connections older than [`EVICTABLE_AFTER`] are evicted,
    /// so a flood of new connections cannot push out a probe that just arrived.
    since: Instant,
}

/// How long a connection may send its request before it may be evicted for a newcomer.
const EVICTABLE_AFTER: Duration = Duration::from_millis(500);
/// The whole response, and the polite close after it, must be done within this.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// The connections being served, oldest first.
#[derive(Default)]
struct Slots {
    conns: Mutex<VecDeque<Arc<Conn>>>,
    rejecting: AtomicUsize,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Frees a connection's slot however its thread ends (a panic included).
struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.lock().retain(|c| c.id != self.id);
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
        reading: AtomicBool::new(true),
        since: Instant::now(),
    });
    {
        let mut conns = slots.lock();
        if conns.len() >= MAX_CONNECTIONS {
            let Some(oldest) = conns.iter().position(|c| {
                c.reading.load(Ordering::Relaxed) && c.since.elapsed() >= EVICTABLE_AFTER
            }) else {
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

/// A parsed request head: what the server looks at.
struct Request {
    method: String,
    path: String,
    accept: Option<String>,
    authorization: Option<String>,
}

/// Why a request head was refused.
enum BadRequest {
    /// Unparseable request line or header.
    Malformed,
    /// Longer than [`MAX_HEAD`].
    TooLarge,
    /// An HTTP version other than 1.0 and 1.1.
    Version,
    /// Not all there by the deadline.
    Timeout,
}

/// Reads from the stream until `deadline`, however the bytes trickle in: each read waits
/// at most for the time left.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut stream = self.stream;
        stream.read(buf)
    }
}

/// Reads one line; `None` when it is not UTF-8. Adds its length to `total`.
fn read_line(
    reader: &mut impl BufRead,
    line: &mut String,
    total: &mut usize,
) -> io::Result<Option<usize>> {
    line.clear();
    let n = match reader.read_line(line) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
        Err(e) => return Err(e),
    };
    *total += n;
    Ok(Some(n))
}

fn read_head(stream: &TcpStream, deadline: Instant) -> io::Result<Result<Request, BadRequest>> {
    match read_head_until(stream, deadline) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            Ok(Err(BadRequest::Timeout))
        }
        other => other,
    }
}

fn read_head_until(
    stream: &TcpStream,
    deadline: Instant,
) -> io::Result<Result<Request, BadRequest>> {
    let mut reader = BufReader::new(DeadlineReader { stream, deadline }.take(MAX_HEAD as u64 + 1));
    let mut line = String::new();
    let mut total = 0usize;
    let Some(n) = read_line(&mut reader, &mut line, &mut total)? else {
        return Ok(Err(BadRequest::Malformed));
    };
    if n == 0 || !line.ends_with('\n') {
        return Ok(Err(if total > MAX_HEAD {
            BadRequest::TooLarge
        } else {
            BadRequest::Malformed
        }));
    }
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(Err(BadRequest::Malformed));
    };
    if method.is_empty() || !target.starts_with('/') {
        return Ok(Err(BadRequest::Malformed));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        let well_formed = version.strip_prefix("HTTP/").is_some_and(|v| {
            let mut digits = v.split('.');
            matches!(
                (digits.next(), digits.next(), digits.next()),
                (Some(a), Some(b), None)
                    if !a.is_empty() && !b.is_empty()
                        && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
            )
        });
        return Ok(Err(if well_formed {
            BadRequest::Version
        } else {
            BadRequest::Malformed
        }));
    }
    let mut request = Request {
        method: method.to_owned(),
        // The query string does not select anything here.
        path: target.split('?').next().unwrap_or("/").to_owned(),
        accept: None,
        authorization: None,
    };
    loop {
        let Some(n) = read_line(&mut reader, &mut line, &mut total)? else {
            return Ok(Err(BadRequest::Malformed));
        };
        if total > MAX_HEAD {
            return Ok(Err(BadRequest::TooLarge));
        }
        if n == 0 || !line.ends_with('\n') {
            return Ok(Err(BadRequest::Malformed));
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            return Ok(Ok(request));
        }
        let Some((name, value)) = header.split_once(':') else {
            return Ok(Err(BadRequest::Malformed));
        };
        let value = value.trim().to_owned();
        if name.eq_ignore_ascii_case("accept") {
            request.accept = Some(value);
        } else if name.eq_ignore_ascii_case("authorization") {
            request.authorization = Some(value);
        }
    }
}

/// Whether `given` equals `secret`, in time that depends only on the secret's length:
/// neither where the first difference is nor the given value's length shows.
fn constant_time_eq(given: &[u8], secret: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != secret.len());
    for (i, s) in secret.iter().enumerate() {
        // Every byte of the secret is compared, against a zero past the given value.
        let g = given.get(i).copied().unwrap_or(0);
        diff |= g ^ s;
    }
    core::hint::black_box(diff) == 0
}

fn authorized(token: Option<&str>, header: Option<&str>) -> bool {
    token.is_none_or(|token| bearer_matches(token, header))
}

/// Whether an `Authorization` header carries `Bearer <token>` (compared in constant time).
pub(crate) fn bearer_matches(token: &str, header: Option<&str>) -> bool {
    let Some(header) = header else {
        return false;
    };
    let Some((scheme, given)) = header.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

/// The answer to a `/metrics` request, for serving it from your own HTTP stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsResponse {
    /// `200`, or `401` when a token is required and the request lacks it.
    pub status: u16,
    /// The negotiated exposition format's content type.
    pub content_type: &'static str,
    /// Extra headers, names in lowercase (`www-authenticate` on a `401`).
    pub headers: Vec<(&'static str, &'static str)>,
    /// The exposition, or a short error text.
    pub body: String,
}

/// Answers a `/metrics` request: checks `Authorization: Bearer <token>` when `token` is
/// set (in constant time), then renders `registry` in the format the `Accept` header
/// prefers.
///
/// ```
/// use obs_runtime::{Registry, server::metrics_response};
///
/// let denied = metrics_response(Registry::global(), Some("s3cret"), None, None);
/// assert_eq!(denied.status, 401);
/// let ok = metrics_response(
///     Registry::global(),
///     Some("s3cret"),
///     Some("application/openmetrics-text"),
///     Some("Bearer s3cret"),
/// );
/// assert_eq!(ok.status, 200);
/// assert!(ok.body.ends_with("# EOF\n"));
/// ```
pub fn metrics_response(
    registry: &Registry,
    token: Option<&str>,
    accept: Option<&str>,
    authorization: Option<&str>,
) -> MetricsResponse {
    if !authorized(token, authorization) {
        return MetricsResponse {
            status: 401,
            content_type: TEXT,
            headers: vec![("www-authenticate", "Bearer realm=\"metrics\"")],
            body: "unauthorized\n".to_owned(),
        };
    }
    let exposition = registry.render(accept);
    MetricsResponse {
        status: 200,
        content_type: exposition.content_type,
        headers: Vec::new(),
        body: exposition.body,
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
    conn.reading.store(false, Ordering::Relaxed);
    let request = match head {
        Ok(r) => r,
        Err(BadRequest::Malformed) => {
            return write_response(stream, 400, TEXT, &[], "bad request\n", false);
        }
        Err(BadRequest::TooLarge) => {
            return write_response(stream, 431, TEXT, &[], "request head too large\n", false);
        }
        Err(BadRequest::Version) => {
            return write_response(stream, 505, TEXT, &[], "HTTP/1.1 only\n", false);
        }
        Err(BadRequest::Timeout) => {
            SERVER_DROPPED.with(ConnectionDrop::Timeout).inc();
            return write_response(stream, 408, TEXT, &[], "request timeout\n", false);
        }
    };
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        return write_response(
            stream,
            405,
            TEXT,
            &[("Allow", "GET, HEAD")],
            "method not allowed\n",
            false,
        );
    }
    match request.path.as_str() {
        "/metrics" => {
            let response = metrics_response(
                config.registry,
                config.token.as_deref(),
                request.accept.as_deref(),
                request.authorization.as_deref(),
            );
            write_response(
                stream,
                response.status,
                response.content_type,
                &response.headers,
                &response.body,
                head_only,
            )
        }
        "/health/live" => {
            write_response(stream, 200, JSON, &[], "{\"status\":\"ok\"}\n", head_only)
        }
        "/health/ready" => {
            if (config.ready)() {
                write_response(
                    stream,
                    200,
                    JSON,
                    &[],
                    "{\"status\":\"ready\"}\n",
                    head_only,
                )
            } else {
                write_response(
                    stream,
                    503,
                    JSON,
                    &[],
                    "{\"status\":\"not ready\"}\n",
                    head_only,
                )
            }
        }
        _ => write_response(stream, 404, TEXT, &[], "not found\n", head_only),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

fn write_response(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &str,
    head_only: bool,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    // The whole answer within one deadline, however slowly the client reads.
    let deadline = Instant::now() + ANSWER_DEADLINE;
    write_until(stream, head.as_bytes(), deadline)?;
    if !head_only {
        write_until(stream, body.as_bytes(), deadline)?;
    }
    stream.flush()
}

/// Writes all of `bytes` before `deadline`: each write waits at most for the time left.
fn write_until(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
