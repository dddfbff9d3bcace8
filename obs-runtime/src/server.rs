//! An embedded metrics server on `std` alone: `/metrics` (format negotiated from
//! `Accept`), `/health/live` and `/health/ready`, an optional bearer token.
//!
//! It needs no async runtime, so it works the same in a tokio service, a synchronous
//! worker or a CLI. Each connection is served on its own short-lived thread, with a cap on
//! concurrent connections, bounded request size and read/write timeouts, so a slow or
//! malformed client can neither block scrapes nor grow memory.

use core::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::registry::Registry;

/// The default listen address, the OpenTelemetry Prometheus exporter's port on loopback.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// Largest request head (request line and headers) accepted, in bytes.
const MAX_HEAD: usize = 16 * 1024;
/// Connections served at once; more get `503` straight away.
const MAX_CONNECTIONS: usize = 32;
/// Read and write timeout of one connection.
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
/// let server = obs_runtime::MetricsServer::start(obs_runtime::ServerConfig {
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
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                    let _ = reject_busy(stream);
                    continue;
                }
                active.fetch_add(1, Ordering::Relaxed);
                let config = config.clone();
                let active_in_thread = active.clone();
                let spawned = std::thread::Builder::new()
                    .name("obs-metrics-conn".to_owned())
                    .spawn(move || {
                        let _ = serve(stream, &config);
                        active_in_thread.fetch_sub(1, Ordering::Relaxed);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            // A connection that failed before we saw it (reset, aborted): keep serving.
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn reject_busy(mut stream: TcpStream) -> io::Result<()> {
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    write_response(
        &mut stream,
        503,
        "text/plain; charset=utf-8",
        &[],
        "busy\n",
        false,
    )
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

fn read_head(stream: &TcpStream) -> io::Result<Result<Request, BadRequest>> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD as u64 + 1));
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
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Ok(Err(BadRequest::Malformed));
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

/// Compares in time independent of where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(token: Option<&str>, header: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
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
/// use obs_runtime::{Registry, metrics_response};
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

fn serve(mut stream: TcpStream, config: &ServerConfig) -> io::Result<()> {
    let result = respond(&mut stream, config);
    // Close politely: half-close, then drain what the client still sends (briefly), so
    // that unread input does not turn the close into a reset that loses the response.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = io::copy(&mut (&stream).take(64 * 1024), &mut io::sink());
    result
}

fn respond(stream: &mut TcpStream, config: &ServerConfig) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let request = match read_head(stream)? {
        Ok(r) => r,
        Err(BadRequest::Malformed) => {
            return write_response(stream, 400, TEXT, &[], "bad request\n", false);
        }
        Err(BadRequest::TooLarge) => {
            return write_response(stream, 431, TEXT, &[], "request head too large\n", false);
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
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
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
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}
