//! OTLP export through `opentelemetry-otlp`: HTTP/protobuf or gRPC.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext as OtelSpanContext, SpanId as OtelSpanId, SpanKind as OtelKind,
    Status as OtelStatus, TraceFlags, TraceId as OtelTraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
#[cfg(feature = "otlp-grpc")]
use opentelemetry_otlp::WithTonicConfig;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};

use super::{
    AttrValue, ExportError, ExportTarget, Protocol, Resource, SpanExporter, SpanKind, SpanRecord,
    Status, TlsConfig,
};

/// Exports spans over OTLP. Owns a single-threaded Tokio runtime for the transport, so it
/// works whether or not the application uses Tokio.
pub struct OtlpExporter {
    inner: opentelemetry_otlp::SpanExporter,
    runtime: tokio::runtime::Runtime,
    timeout: Duration,
    endpoint: String,
    protocol: Protocol,
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
    /// When the Tokio runtime cannot start, or a header is not a valid HTTP header.
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
        let https = endpoint.starts_with("https://");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("obs-otlp")
            .build()
            .map_err(|e| ExportError::with_source("cannot start the OTLP runtime", e))?;
        let inner = {
            let _entered = runtime.enter();
            match protocol {
                Protocol::HttpProtobuf => {
                    let builder = opentelemetry_otlp::SpanExporter::builder()
                        .with_http()
                        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                        .with_endpoint(endpoint)
                        .with_timeout(timeout)
                        .with_headers(headers.iter().cloned().collect::<HashMap<_, _>>());
                    if https {
                        #[cfg(feature = "otlp-tls")]
                        {
                            builder.with_http_client(https_client(timeout, tls)?).build()
                        }
                        #[cfg(not(feature = "otlp-tls"))]
                        {
                            let _ = (builder, tls);
                            return Err(ExportError::new(
                                "an https:// endpoint needs the `otlp-tls` feature of obs-runtime",
                            ));
                        }
                    } else {
                        builder.build()
                    }
                }
                #[cfg(not(feature = "otlp-grpc-tls"))]
                Protocol::Grpc if https => {
                    return Err(ExportError::new(
                        "OTLP over gRPC to an https:// endpoint needs the `otlp-grpc-tls` feature of obs-runtime",
                    ));
                }
                #[cfg(not(feature = "otlp-grpc"))]
                Protocol::Grpc => {
                    return Err(ExportError::new(
                        "OTLP over gRPC needs the `otlp-grpc` feature of obs-runtime",
                    ));
                }
                #[cfg(feature = "otlp-grpc")]
                Protocol::Grpc => {
                    let mut map = http::HeaderMap::new();
                    for (k, v) in headers {
                        let name = http::HeaderName::from_str(k).map_err(|e| {
                            ExportError::with_source(format!("invalid header name {k:?}"), e)
                        })?;
                        let value = http::HeaderValue::from_str(v).map_err(|e| {
                            ExportError::with_source(format!("invalid value of header {k:?}"), e)
                        })?;
                        map.insert(name, value);
                    }
                    let builder = opentelemetry_otlp::SpanExporter::builder()
                        .with_tonic()
                        .with_endpoint(endpoint)
                        .with_timeout(timeout)
                        .with_metadata(
                            opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(
                                map,
                            ),
                        );
                    #[cfg(feature = "otlp-grpc-tls")]
                    let builder = if https {
                        builder.with_tls_config(grpc_tls(tls))
                    } else {
                        builder
                    };
                    builder.build()
                }
            }
        }
        .map_err(|e| ExportError::with_source("cannot build the OTLP exporter", e))?;
        Ok(Self {
            inner,
            runtime,
            timeout,
            endpoint: endpoint.to_owned(),
            protocol,
        })
    }
}

impl SpanExporter for OtlpExporter {
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(&otel_resource(resource));
    }

    fn export(&mut self, batch: Vec<SpanRecord>) -> Result<(), ExportError> {
        let data: Vec<SpanData> = batch.into_iter().map(span_data).collect();
        let inner = &self.inner;
        // The exporter retries retryable failures within its own timeout; this bound
        // covers a transport that does not honour it.
        let limit = self.timeout + Duration::from_secs(1);
        self.runtime.block_on(async move {
            match tokio::time::timeout(limit, inner.export(data)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(ExportError::with_source("OTLP export failed", e)),
                Err(_) => Err(ExportError::new(format!(
                    "OTLP export timed out after {limit:?}"
                ))),
            }
        })
    }

    fn target(&self) -> Option<ExportTarget> {
        Some(ExportTarget::new(self.protocol, self.endpoint.clone()))
    }

    fn shutdown(&mut self) {
        let _entered = self.runtime.enter();
        let _ = self.inner.shutdown_with_timeout(self.timeout);
    }
}

/// The tonic TLS settings for `tls`: its CA (else the Mozilla roots) and client identity.
#[cfg(feature = "otlp-grpc-tls")]
fn grpc_tls(tls: &TlsConfig) -> opentelemetry_otlp::tonic_types::transport::ClientTlsConfig {
    use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
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

/// The HTTP client for an `https://` endpoint: hyper over rustls with `tls`.
#[cfg(feature = "otlp-tls")]
fn https_client(
    timeout: Duration,
    tls: &TlsConfig,
) -> Result<
    opentelemetry_http::hyper::HyperClient<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    >,
    ExportError,
> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.client_config()?)
        .https_only()
        .enable_http1()
        .build();
    Ok(opentelemetry_http::hyper::HyperClient::new(
        connector, timeout, None,
    ))
}

fn otel_resource(resource: &Resource) -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder_empty()
        .with_attributes(
            resource
                .attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), value(v.clone()))),
        )
        .build()
}

fn value(v: AttrValue) -> Value {
    match v {
        AttrValue::Str(s) => Value::String(s.into()),
        AttrValue::Int(n) => Value::I64(n),
        AttrValue::Float(x) => Value::F64(x),
        AttrValue::Bool(b) => Value::Bool(b),
    }
}

fn time(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn span_data(span: SpanRecord) -> SpanData {
    let trace_state = span
        .trace_state
        .as_deref()
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    let flags = if span.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanData {
        span_context: OtelSpanContext::new(
            OtelTraceId::from_bytes(span.trace_id.to_bytes()),
            OtelSpanId::from_bytes(span.span_id.to_bytes()),
            flags,
            false,
            trace_state,
        ),
        parent_span_id: span.parent_span_id.map_or(OtelSpanId::INVALID, |p| {
            OtelSpanId::from_bytes(p.to_bytes())
        }),
        parent_span_is_remote: span.parent_remote,
        span_kind: match span.kind {
            SpanKind::Internal => OtelKind::Internal,
            SpanKind::Server => OtelKind::Server,
            SpanKind::Client => OtelKind::Client,
            SpanKind::Producer => OtelKind::Producer,
            SpanKind::Consumer => OtelKind::Consumer,
        },
        name: span.name,
        start_time: time(span.start_unix_nanos),
        end_time: time(span.end_unix_nanos),
        attributes: span
            .attributes
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, value(v)))
            .collect(),
        dropped_attributes_count: span.dropped_attributes,
        events: {
            let mut events = SpanEvents::default();
            events.events = span
                .events
                .into_iter()
                .map(|e| {
                    opentelemetry::trace::Event::new(
                        e.name,
                        time(e.time_unix_nanos),
                        e.attributes
                            .into_iter()
                            .map(|(k, v)| KeyValue::new(k, value(v)))
                            .collect(),
                        0,
                    )
                })
                .collect();
            events.dropped_count = span.dropped_events;
            events
        },
        links: SpanLinks::default(),
        status: match span.status {
            Status::Unset => OtelStatus::Unset,
            Status::Ok => OtelStatus::Ok,
            Status::Error { description } => OtelStatus::Error { description },
        },
        instrumentation_scope: InstrumentationScope::builder(span.target).build(),
    }
}
