//! The OTLP transports, HTTP/protobuf (hyper) and gRPC (tonic, feature `otlp-grpc`), owned
//! by obs so that a failure keeps its whole cause: the connection error and its sources,
//! the collector's HTTP status with the start of its answer, or its gRPC status.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::trace::{ExportError, Protocol, TlsConfig};

/// How much of a failed answer's body is kept for the error (the collector's reason).
const BODY_EXCERPT: usize = 256;

/// What is known of whether an HTTP endpoint speaks HTTP/2 only.
const UNKNOWN: u8 = 0;
const HTTP2_ONLY: u8 = 1;
const NOT_HTTP2_ONLY: u8 = 2;

/// The HTTP statuses the OTLP specification calls retryable.
const RETRYABLE: [u16; 4] = [429, 502, 503, 504];

/// A connection to one collector endpoint.
pub(crate) enum Transport {
    /// `POST` protobuf bodies to `url`.
    Http {
        client: Box<HttpClient>,
        url: http::Uri,
        headers: http::HeaderMap,
        timeout: Duration,
        /// Whether the server was found to speak HTTP/2 only: asked once, on the first
        /// request that connected but got no answer (`UNKNOWN`, `HTTP2_ONLY` or
        /// `NOT_HTTP2_ONLY`).
        http2_only: AtomicU8,
    },
    /// Unary gRPC calls over `channel`.
    #[cfg(feature = "otlp-grpc")]
    Grpc {
        channel: tonic::transport::Channel,
        metadata: tonic::metadata::MetadataMap,
        timeout: Duration,
    },
}

/// The hyper client, over TCP or TLS.
pub(crate) enum HttpClient {
    Plain(Client<HttpConnector, Full<Bytes>>),
    #[cfg(feature = "otlp-tls")]
    Tls(Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>),
}

fn header_map(headers: &[(String, String)]) -> Result<http::HeaderMap, ExportError> {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| ExportError::with_source(format!("invalid header name {k:?}"), e))?;
        // The value may be a secret: its error says which header, not what it holds.
        let value = http::HeaderValue::from_str(v)
            .map_err(|_| ExportError::new(format!("invalid value of header {k:?}")))?;
        map.append(name, value);
    }
    Ok(map)
}

impl Transport {
    /// A transport to `endpoint` (the full URL for HTTP, the server for gRPC). Must be
    /// called inside the Tokio runtime that will drive it.
    pub(crate) fn new(
        protocol: Protocol,
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
        tls: &TlsConfig,
    ) -> Result<Self, ExportError> {
        let https = endpoint.starts_with("https://");
        let headers = header_map(headers)?;
        match protocol {
            Protocol::HttpProtobuf => {
                let url: http::Uri = endpoint.parse().map_err(|e| {
                    ExportError::with_source(format!("invalid OTLP endpoint {endpoint:?}"), e)
                })?;
                let mut connector = HttpConnector::new();
                connector.set_connect_timeout(Some(timeout));
                connector.set_nodelay(true);
                let builder = Client::builder(TokioExecutor::new());
                let client = if https {
                    #[cfg(feature = "otlp-tls")]
                    {
                        connector.enforce_http(false);
                        let connector = hyper_rustls::HttpsConnectorBuilder::new()
                            .with_tls_config(tls.client_config()?)
                            .https_only()
                            .enable_http1()
                            .wrap_connector(connector);
                        Box::new(HttpClient::Tls(builder.build(connector)))
                    }
                    #[cfg(not(feature = "otlp-tls"))]
                    {
                        let _ = (builder, tls);
                        return Err(ExportError::new(
                            "an https:// endpoint needs the `otlp-tls` feature of obs-runtime",
                        ));
                    }
                } else {
                    let _ = tls;
                    Box::new(HttpClient::Plain(builder.build(connector)))
                };
                Ok(Self::Http {
                    client,
                    url,
                    headers,
                    timeout,
                    http2_only: AtomicU8::new(UNKNOWN),
                })
            }
            #[cfg(not(feature = "otlp-grpc"))]
            Protocol::Grpc => {
                let _ = (https, headers, tls, timeout);
                Err(ExportError::new(
                    "OTLP over gRPC needs the `otlp-grpc` feature of obs-runtime",
                ))
            }
            #[cfg(feature = "otlp-grpc")]
            Protocol::Grpc => {
                let endpoint_config = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
                    .map_err(|e| {
                        ExportError::with_source(format!("invalid OTLP endpoint {endpoint:?}"), e)
                    })?
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .tcp_nodelay(true);
                let endpoint_config = if https {
                    #[cfg(feature = "otlp-grpc-tls")]
                    {
                        endpoint_config
                            .tls_config(grpc_tls(tls))
                            .map_err(|e| ExportError::with_source("cannot set up TLS", e))?
                    }
                    #[cfg(not(feature = "otlp-grpc-tls"))]
                    {
                        let _ = endpoint_config;
                        return Err(ExportError::new(
                            "OTLP over gRPC to an https:// endpoint needs the `otlp-grpc-tls` feature of obs-runtime",
                        ));
                    }
                } else {
                    let _ = tls;
                    endpoint_config
                };
                Ok(Self::Grpc {
                    channel: endpoint_config.connect_lazy(),
                    metadata: tonic::metadata::MetadataMap::from_headers(headers),
                    timeout,
                })
            }
        }
    }

    /// Sends one export request, `body` the encoded request message of `service`.
    pub(crate) async fn send(&self, body: Vec<u8>, service: Service) -> Result<(), ExportError> {
        match self {
            Self::Http {
                client,
                url,
                headers,
                timeout,
                http2_only,
            } => {
                let _ = service;
                post(client, url, headers, *timeout, http2_only, body).await
            }
            #[cfg(feature = "otlp-grpc")]
            Self::Grpc {
                channel,
                metadata,
                timeout,
            } => {
                let mut request = tonic::Request::new(Bytes::from(body));
                *request.metadata_mut() = metadata.clone();
                request.set_timeout(*timeout);
                super::grpc::call(channel.clone(), request, service)
                    .await
                    .map_err(|status| {
                        let mut text = format!(
                            "the collector answered gRPC status {:?}: {}",
                            status.code(),
                            status.message()
                        );
                        if let Some(source) = std::error::Error::source(&status) {
                            text.push_str(": ");
                            text.push_str(&super::super::trouble::cause_chain(source));
                        }
                        ExportError::new(text)
                    })
            }
        }
    }
}

/// The OTLP service a request is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Service {
    Traces,
    Logs,
}

/// `POST`s `body` to `url`, retrying the statuses the specification calls retryable
/// (honouring `Retry-After`) until `timeout` has passed since the first attempt.
async fn post(
    client: &HttpClient,
    url: &http::Uri,
    headers: &http::HeaderMap,
    timeout: Duration,
    http2_only: &AtomicU8,
    body: Vec<u8>,
) -> Result<(), ExportError> {
    let deadline = Instant::now() + timeout;
    let body = Bytes::from(body);
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut request = http::Request::post(url.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(Full::new(body.clone()))
            .map_err(|e| ExportError::with_source("cannot build the OTLP request", e))?;
        request.headers_mut().extend(headers.clone());
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = async {
            let response = match client {
                HttpClient::Plain(c) => c.request(request).await,
                #[cfg(feature = "otlp-tls")]
                HttpClient::Tls(c) => c.request(request).await,
            };
            let response = match response {
                Ok(response) => response,
                Err(e) => {
                    // A gRPC server answers an HTTP/1.1 request with HTTP/2 frames and
                    // a reset; which of them the client reads first varies ("connection
                    // reset", "closed", "unexpected message"). Whenever the connection
                    // opened but no answer came, ask the server once per endpoint,
                    // without a request, within what is left of the timeout.
                    let known = http2_only.load(Ordering::Relaxed);
                    let said_http2 = !e.is_connect()
                        && match known {
                            UNKNOWN => {
                                let left = deadline.saturating_duration_since(Instant::now());
                                let found = speaks_http2_only(url, left).await;
                                http2_only.store(
                                    if found { HTTP2_ONLY } else { NOT_HTTP2_ONLY },
                                    Ordering::Relaxed,
                                );
                                found
                            }
                            known => known == HTTP2_ONLY,
                        };
                    let context = if said_http2 {
                        "cannot send the OTLP request: the server speaks HTTP/2 only (it \
                         sends an http2 preface before any request)"
                    } else {
                        "cannot send the OTLP request"
                    };
                    return Err(ExportError::with_source(context, e));
                }
            };
            let (parts, body) = response.into_parts();
            // The answer is read whole (so the connection can be reused) up to 64 KiB;
            // of a longer one the start is kept (for the excerpt) and the rest left.
            let mut body = body;
            let mut bytes = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    let room = MAX_ANSWER - bytes.len();
                    bytes.extend_from_slice(&data[..data.len().min(room)]);
                    if bytes.len() >= MAX_ANSWER {
                        break;
                    }
                }
            }
            Ok::<_, ExportError>((parts, bytes))
        };
        let (parts, answer) = match tokio::time::timeout(left, attempt).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ExportError::new(format!(
                    "the collector did not answer within {timeout:?} (timed out)"
                )));
            }
        };
        let status = parts.status.as_u16();
        if parts.status.is_success() {
            return Ok(());
        }
        let retry_after = parts
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let wait = retry_after.unwrap_or(backoff);
        if RETRYABLE.contains(&status) && Instant::now() + wait < deadline {
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
            continue;
        }
        return Err(ExportError::new(format!(
            "the collector answered HTTP {}{}",
            parts.status,
            excerpt(&answer)
        )));
    }
}

/// Whether the plain `http://` server at `url` sends an HTTP/2 `SETTINGS` frame as soon
/// as a connection opens, before any request, as HTTP/2-only (gRPC) servers do; an
/// HTTP/1.1 server says nothing until asked. Waits at most half a second, and never
/// longer than `left`.
async fn speaks_http2_only(url: &http::Uri, left: Duration) -> bool {
    const WAIT: Duration = Duration::from_millis(500);
    if url.scheme_str() != Some("http") {
        return false;
    }
    let Some(host) = url.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_u16().unwrap_or(80);
    let probe = async {
        let stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        // A frame header: 3 bytes of length, then the type (4 = SETTINGS).
        let mut header = [0u8; 9];
        let mut read = 0;
        while read < 4 {
            stream.readable().await.ok()?;
            match stream.try_read(&mut header[read..]) {
                Ok(0) => return None,
                Ok(n) => read += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return None,
            }
        }
        Some(header[3] == 4)
    };
    // Within what is left of the export's own timeout, so the export's cause is kept.
    let wait = WAIT.min(left.saturating_sub(Duration::from_millis(50)));
    matches!(tokio::time::timeout(wait, probe).await, Ok(Some(true)))
}

/// The most of a collector's answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// `": <the start of the body>"` when the body is readable text, else nothing.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_EXCERPT)]);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else if body.len() > BODY_EXCERPT {
        format!(": {text}…")
    } else {
        format!(": {text}")
    }
}

/// The tonic TLS settings for `tls`: its CA (else the Mozilla roots) and client identity.
#[cfg(feature = "otlp-grpc-tls")]
fn grpc_tls(tls: &TlsConfig) -> tonic::transport::ClientTlsConfig {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let mut config = ClientTlsConfig::new();
    config = match &tls.ca_pem {
        Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
        None => config.with_webpki_roots(),
    };
    if let (Some(cert), Some(key)) = (&tls.client_cert_pem, &tls.client_key_pem) {
        config = config.identity(Identity::from_pem(cert, key));
    }
    config
}

#[cfg(test)]
mod tests;
