//! The OTLP transports.

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// Protobuf over HTTP POST to `…/v1/traces` (the OpenTelemetry default, port 4318).
    #[default]
    HttpProtobuf,
    /// gRPC (port 4317).
    Grpc,
}

impl Protocol {
    /// The environment variable's spelling: `http/protobuf` or `grpc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::Grpc => "grpc",
        }
    }
}
