//! An OTLP receiver of traces and logs on 127.0.0.1 that decodes the official protobuf
//! definitions (`opentelemetry-proto`), over HTTP/protobuf (a plain HTTP/1.1 server) or
//! gRPC (tonic).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::LogsServiceServer;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

mod decoded;
mod grpc;
pub use decoded::{Received, ReceivedLog, attr, by_request_id, hex, value_text};
use grpc::Grpc;

#[derive(Default)]
struct State {
    requests: Mutex<Vec<ExportTraceServiceRequest>>,
    log_requests: Mutex<Vec<ExportLogsServiceRequest>>,
    /// Headers (HTTP) or metadata (gRPC) of the latest export, names lowercased.
    headers: Mutex<Vec<(String, String)>>,
    /// HTTP status to answer with (0: 200 with a decoded body).
    status: AtomicU16,
    /// Bytes of padding after the failing answer's message.
    padding: std::sync::atomic::AtomicUsize,
    /// Milliseconds to wait before answering.
    delay_ms: AtomicU64,
    stop: AtomicBool,
    /// The accepted connections, shut down when the receiver stops (as a killed
    /// collector's would be), so no exporter keeps exporting over a kept-alive one.
    connections: Mutex<Vec<TcpStream>>,
    /// TLS handshakes that failed.
    handshake_failures: AtomicU64,
}

impl State {
    fn store(&self, request: ExportTraceServiceRequest) {
        self.requests.lock().unwrap().push(request);
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// An HTTP/protobuf receiver on a free loopback port (`POST /v1/traces`).
    pub fn http() -> Self {
        Self::http_on("127.0.0.1:0".parse().unwrap())
    }

    /// An HTTP/protobuf receiver on `addr` (to come back on the port of a stopped one).
    pub fn http_on(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).expect("bind the OTLP/HTTP receiver");
        Self::accepting(listener, serve_http)
    }

    /// Serves each connection `listener` accepts on a thread of its own with `serve`,
    /// until the receiver stops.
    fn accepting(
        listener: TcpListener,
        serve: impl Fn(TcpStream, &State) + Clone + Send + 'static,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let thread_state = Arc::clone(&state);
        listener.set_nonblocking(true).unwrap();
        let handle = std::thread::spawn(move || {
            while !thread_state.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Ok(clone) = stream.try_clone() {
                            thread_state.connections.lock().unwrap().push(clone);
                        }
                        let state = Arc::clone(&thread_state);
                        let serve = serve.clone();
                        std::thread::spawn(move || serve(stream, &state));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        let stop_state = Arc::clone(&state);
        Self {
            addr,
            state,
            stop: Some(Box::new(move || {
                stop_state.stop.store(true, Ordering::Relaxed);
                let _ = handle.join();
                for connection in stop_state.connections.lock().unwrap().drain(..) {
                    let _ = connection.shutdown(std::net::Shutdown::Both);
                }
            })),
        }
    }

    /// An HTTP/protobuf receiver over TLS on a free loopback port, presenting the
    /// certificate chain `cert_pem` with key `key_pem`; with `client_ca_pem`, it requires a
    /// client certificate signed by that CA (mTLS). Handshakes that fail are counted in
    /// [`handshake_failures`](Self::handshake_failures).
    pub fn https(cert_pem: &str, key_pem: &str, client_ca_pem: Option<&str>) -> Self {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca_pem {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                    roots.add(cert.unwrap()).unwrap();
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the OTLP/HTTPS receiver");
        Self::accepting(listener, move |stream, state| {
            stream.set_nonblocking(false).ok();
            stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
            let mut conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut stream = stream;
            while conn.is_handshaking() {
                if conn.complete_io(&mut stream).is_err() {
                    state.handshake_failures.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            serve_stream(rustls::StreamOwned::new(conn, stream), state);
        })
    }

    /// TLS handshakes that failed (an untrusted certificate on either side).
    pub fn handshake_failures(&self) -> u64 {
        self.state.handshake_failures.load(Ordering::Relaxed)
    }

    /// A gRPC receiver on a free loopback port.
    pub fn grpc() -> Self {
        Self::grpc_with(None)
    }

    /// A gRPC receiver over TLS on a free loopback port, presenting `cert_pem` with key
    /// `key_pem`.
    pub fn grpc_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::grpc_with(Some(tonic::transport::Identity::from_pem(
            cert_pem, key_pem,
        )))
    }

    fn grpc_with(identity: Option<tonic::transport::Identity>) -> Self {
        let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let service = Grpc(Arc::clone(&state));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = std::thread::spawn(move || {
            // The receiver stands in for a collector in another process: its own events
            // (tonic's and h2's) must not reach the test's subscriber.
            let _quiet =
                tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let mut server = tonic::transport::Server::builder();
                if let Some(identity) = identity {
                    server = server
                        .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                        .unwrap();
                }
                server
                    .add_service(TraceServiceServer::new(service.clone()))
                    .add_service(LogsServiceServer::new(service))
                    .serve_with_incoming_shutdown(
                        tokio_stream::wrappers::TcpListenerStream::new(listener),
                        async {
                            let _ = stop_rx.await;
                        },
                    )
                    .await
                    .unwrap();
            });
        });
        Self {
            addr,
            state,
            stop: Some(Box::new(move || {
                let _ = stop_tx.send(());
                let _ = handle.join();
            })),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give the exporter.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL over TLS, with the name the test certificates are issued for.
    pub fn https_endpoint(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// Answers every request with `status` (0 restores normal answers).
    pub fn fail_with(&self, status: u16) {
        self.state.status.store(status, Ordering::Relaxed);
    }

    /// Answers every request with `status` and a body of more than `bytes` bytes.
    pub fn fail_with_long_body(&self, status: u16, bytes: usize) {
        self.state.padding.store(bytes, Ordering::Relaxed);
        self.fail_with(status);
    }

    /// Waits `delay` before answering each request.
    pub fn delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(u64::try_from(delay.as_millis()).unwrap(), Ordering::Relaxed);
    }

    /// The value of header (or gRPC metadata) `name` on the latest export request.
    pub fn last_header(&self, name: &str) -> Option<String> {
        self.state
            .headers
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Export requests received.
    pub fn requests(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<Received> {
        let requests = self.state.requests.lock().unwrap();
        let mut out = Vec::new();
        for request in requests.iter() {
            for rs in &request.resource_spans {
                let resource: Vec<(String, String)> = rs
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .map(|kv| (kv.key.clone(), value_text(kv.value.as_ref())))
                    .collect();
                for ss in &rs.scope_spans {
                    let scope = ss
                        .scope
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    for span in &ss.spans {
                        out.push(Received {
                            resource: resource.clone(),
                            scope: scope.clone(),
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// How many spans arrived so far.
    pub fn span_count(&self) -> usize {
        let requests = self.state.requests.lock().unwrap();
        requests
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum()
    }

    /// Waits until at least `n` spans arrived (or `timeout`), then returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.len() >= n || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops listening now (the port is free when this returns).
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

/// Serves HTTP/1.1 keep-alive requests on one connection until it closes.
fn serve_http(stream: TcpStream, state: &State) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    serve_stream(stream, state);
}

/// Serves HTTP/1.1 requests on any byte stream (plain TCP, or TLS over it).
fn serve_stream(stream: impl Read + Write, state: &State) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        let mut chunked = false;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
            if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            if reader.read_exact(&mut body).is_err() {
                return;
            }
        }
        let delay = state.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        let status = state.status.load(Ordering::Relaxed);
        let response = if status != 0 {
            let padding = state.padding.load(Ordering::Relaxed);
            let body = format!(
                "the test receiver fails on purpose{}",
                " x".repeat(padding / 2)
            );
            format!(
                "HTTP/1.1 {status} Failing\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        } else if request_line.starts_with("POST /v1/logs ") {
            match ExportLogsServiceRequest::decode(body.as_slice()) {
                Ok(request) => {
                    state.log_requests.lock().unwrap().push(request);
                    let reply = ExportLogsServiceResponse {
                        partial_success: None,
                    }
                    .encode_to_vec();
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
                        reply.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&reply);
                    r
                }
                Err(_) => b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_vec(),
            }
        } else if !request_line.starts_with("POST /v1/traces ") {
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec()
        } else {
            match ExportTraceServiceRequest::decode(body.as_slice()) {
                Ok(request) => {
                    *state.headers.lock().unwrap() = headers;
                    state.store(request);
                    let reply = ExportTraceServiceResponse {
                        partial_success: None,
                    }
                    .encode_to_vec();
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
                        reply.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&reply);
                    r
                }
                Err(_) => b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_vec(),
            }
        };
        if reader.get_mut().write_all(&response).is_err() || reader.get_mut().flush().is_err() {
            return;
        }
    }
}
