//! OTLP export: HTTP/protobuf, or gRPC with the `otlp-grpc` feature, over obs's own
//! transports (`transport.rs`) from obs's own records (`encode.rs`), so that a failed
//! export keeps its whole cause.
//!
//! Why not `opentelemetry-otlp` (which the design names for trace export): its 0.33
//! HTTP exporter reports a refused connection as "HTTP export failed: network error" and
//! a failing collector as "status code: 503" without the collector's answer, so the
//! first-failure line could name neither cause nor hint (`tests/tests/export_trouble.rs`
//! measured both); and its log exporter takes only records made by its own SDK, while
//! obs's log records come from `tracing` events. The messages are still the official
//! protobuf definitions (`opentelemetry-proto`).

mod encode;
#[cfg(feature = "otlp-grpc")]
mod grpc;
mod transport;
pub(crate) mod wire;

use std::fmt;
use std::time::Duration;

use super::{ExportError, ExportTarget, Protocol, Resource, SpanExporter, SpanRecord, TlsConfig};
pub(crate) use transport::{Service, Transport};

/// One signal's transport and the single-threaded Tokio runtime that drives it, so that
/// exporting works whether or not the application uses Tokio.
pub(crate) struct Sender {
    transport: Transport,
    runtime: tokio::runtime::Runtime,
    timeout: Duration,
}

impl Sender {
    /// A sender to `endpoint`; `name` names the runtime's thread.
    pub(crate) fn new(
        name: &str,
        protocol: Protocol,
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
        tls: &TlsConfig,
    ) -> Result<Self, ExportError> {
        let runtime = export_runtime(name)?;
        let transport = {
            let _entered = runtime.enter();
            Transport::new(protocol, endpoint, headers, timeout, tls)?
        };
        Ok(Self {
            transport,
            runtime,
            timeout,
        })
    }

    /// Sends `body`, an encoded request of `service`, waiting at most the timeout (and a
    /// second for a transport that does not honour it).
    pub(crate) fn send(&self, body: Vec<u8>, service: Service) -> Result<(), ExportError> {
        let limit = self.timeout + Duration::from_secs(1);
        let transport = &self.transport;
        self.runtime.block_on(async move {
            match tokio::time::timeout(limit, transport.send(body, service)).await {
                Ok(result) => result,
                Err(_) => Err(ExportError::new(format!(
                    "OTLP export timed out after {limit:?}"
                ))),
            }
        })
    }
}

/// Exports spans over OTLP. Owns a single-threaded Tokio runtime for the transport, so it
/// works whether or not the application uses Tokio.
pub struct OtlpExporter {
    sender: Sender,
    timeout: Duration,
    endpoint: String,
    protocol: Protocol,
    /// The `Resource` message body, encoded once.
    resource: Vec<u8>,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("protocol", &self.protocol)
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A single-threaded Tokio runtime for one exporter's transport.
pub(crate) fn export_runtime(name: &str) -> Result<tokio::runtime::Runtime, ExportError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(name)
        .build()
        .map_err(|e| ExportError::with_source("cannot start the OTLP runtime", e))
}

impl OtlpExporter {
    /// An exporter sending to `endpoint`: the full URL (`http://host:4318/v1/traces`) for
    /// HTTP, the server's address (`http://host:4317`) for gRPC. `headers` go with every
    /// request (HTTP headers or gRPC metadata); one export gives up after `timeout`.
    ///
    /// No connection is made here: an unreachable collector shows up as export errors.
    /// The exporter owns a single-threaded Tokio runtime, so create and drop it outside
    /// async code (or build it on the export thread with [`Pipeline::start_with`], as
    /// [`crate::init()`] does).
    ///
    /// [`Pipeline::start_with`]: super::Pipeline::start_with
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use obs_runtime::trace::{OtlpExporter, Pipeline, PipelineConfig, Protocol, SpanExporter};
    ///
    /// let pipeline = Pipeline::start_with(
    ///     || {
    ///         let headers = [("x-api-key".to_owned(), "secret".to_owned())];
    ///         OtlpExporter::new(Protocol::HttpProtobuf, "http://collector:4318/v1/traces", &headers, Duration::from_secs(5))
    ///             .map(|e| Box::new(e) as Box<dyn SpanExporter>)
    ///     },
    ///     PipelineConfig::default(),
    ///     None, // no tail sampling
    /// );
    /// # drop(pipeline);
    /// ```
    ///
    /// # Errors
    ///
    /// When the Tokio runtime cannot start, the endpoint is not a URL, or a header is not
    /// a valid HTTP header.
    pub fn new(
        protocol: Protocol,
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, ExportError> {
        Self::with_tls(protocol, endpoint, headers, timeout, &TlsConfig::default())
    }

    /// As [`new`](Self::new), with the TLS material for an `https://` endpoint (feature
    /// `otlp-tls`; `otlp-grpc-tls` for gRPC).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and when `https://` cannot be served: the feature for the
    /// protocol is off, or the TLS material is not usable.
    pub fn with_tls(
        protocol: Protocol,
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
        tls: &TlsConfig,
    ) -> Result<Self, ExportError> {
        Ok(Self {
            sender: Sender::new("obs-otlp", protocol, endpoint, headers, timeout, tls)?,
            timeout,
            endpoint: endpoint.to_owned(),
            protocol,
            resource: Vec::new(),
        })
    }
}

impl SpanExporter for OtlpExporter {
    fn set_resource(&mut self, resource: &Resource) {
        self.resource = wire::resource(&resource.attributes);
    }

    fn export(&mut self, batch: Vec<SpanRecord>) -> Result<(), ExportError> {
        let body = encode::traces_request(&batch, &self.resource);
        drop(batch);
        self.sender.send(body, Service::Traces)
    }

    fn target(&self) -> Option<ExportTarget> {
        Some(ExportTarget::new(self.protocol, self.endpoint.clone()))
    }

    fn shutdown(&mut self) {}
}
