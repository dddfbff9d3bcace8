//! Where spans are exported: the OTLP settings of the environment, validated here; the
//! exporter itself is built later, on the export thread.

use std::time::Duration;

use super::env::{Env, is_url, parse_number, parse_pairs};
use super::error::{InitError, invalid};
use super::settings::Settings;
use crate::trace::{ExportError, Protocol, SpanExporter, TlsConfig};

/// Builds the exporter on the pipeline's own thread (see [`Pipeline::start_with`]).
pub(super) type ExporterFactory =
    Box<dyn FnOnce() -> Result<Box<dyn SpanExporter>, ExportError> + Send + 'static>;

/// The environment variables of one OTLP signal: the specification's per-signal
/// overrides of the shared `OTEL_EXPORTER_OTLP_*` variables.
pub(super) struct Signal {
    /// The path an HTTP endpoint gets appended: `/v1/traces`.
    pub(super) path: &'static str,
    endpoint: &'static str,
    protocol: &'static str,
    headers: &'static str,
    timeout: &'static str,
    certificate: &'static str,
    client_certificate: &'static str,
    client_key: &'static str,
}

/// Spans.
pub(super) const TRACES: Signal = Signal {
    path: "/v1/traces",
    endpoint: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    protocol: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    headers: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    certificate: "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    client_certificate: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    client_key: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
};

/// Log records.
pub(super) const LOGS: Signal = Signal {
    path: "/v1/logs",
    endpoint: "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    protocol: "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    headers: "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    certificate: "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
    client_certificate: "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
    client_key: "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
};

/// Where one signal is sent over OTLP, from code and the environment.
#[cfg_attr(
    not(feature = "otlp"),
    allow(dead_code, reason = "read by the OTLP exporters")
)]
pub(super) struct Destination {
    pub(super) protocol: Protocol,
    /// The full URL (HTTP) or the server (gRPC); `None` when no endpoint is configured.
    pub(super) endpoint: Option<String>,
    pub(super) headers: Vec<(String, String)>,
    /// The variable the headers came from, for an error about them.
    pub(super) headers_var: &'static str,
    pub(super) timeout: Duration,
    pub(super) tls: TlsConfig,
}

/// Whether the SDK is disabled (`OTEL_SDK_DISABLED=true`): nothing is exported.
pub(super) fn sdk_disabled(env: &Env) -> Result<bool, InitError> {
    match env
        .get("OTEL_SDK_DISABLED")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(invalid("OTEL_SDK_DISABLED", &v, "`true` or `false`")),
    }
}

/// The protocol, endpoint, headers, timeout and TLS files of `signal`: code first, then
/// the signal's variables, then the shared ones.
pub(super) fn destination(
    s: &Settings,
    env: &Env,
    signal: &Signal,
) -> Result<Destination, InitError> {
    let protocol = if let Some(p) = s.protocol {
        p
    } else {
        let (name, raw) = match env.get(signal.protocol) {
            Some(raw) => (signal.protocol, Some(raw)),
            None => (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                env.get("OTEL_EXPORTER_OTLP_PROTOCOL"),
            ),
        };
        match raw.as_deref().map(str::trim) {
            None | Some("http/protobuf") => Protocol::HttpProtobuf,
            Some("grpc") if cfg!(feature = "otlp-grpc") => Protocol::Grpc,
            Some("grpc") => {
                return Err(invalid(
                    name,
                    "grpc",
                    "`http/protobuf` (`grpc` needs the `otlp-grpc` feature of obs-runtime)",
                ));
            }
            Some(other) => {
                return Err(invalid(
                    name,
                    other,
                    "`http/protobuf` or `grpc` (`http/json` is not supported)",
                ));
            }
        }
    };
    let endpoint = match (&s.endpoint, env.get(signal.endpoint)) {
        (Some(base), _) => {
            if !is_url(base) {
                return Err(InitError::InvalidSetting {
                    setting: "otlp_endpoint",
                    message: format!("{base:?} is not an http:// or https:// URL"),
                });
            }
            Some(signal_url(base, protocol, signal))
        }
        (None, Some(full)) => {
            if !is_url(full.trim()) {
                return Err(invalid(
                    signal.endpoint,
                    &full,
                    "an http:// or https:// URL",
                ));
            }
            Some(full.trim().to_owned())
        }
        (None, None) => match env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(base) if is_url(base.trim()) => Some(signal_url(base.trim(), protocol, signal)),
            Some(base) => {
                return Err(invalid(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    &base,
                    "an http:// or https:// URL",
                ));
            }
            None => None,
        },
    };
    let mut headers = s.headers.clone();
    let header_var = if env.get(signal.headers).is_some() {
        signal.headers
    } else {
        "OTEL_EXPORTER_OTLP_HEADERS"
    };
    if let Some(raw) = env.get(header_var) {
        for (k, v) in parse_pairs(header_var, &raw)? {
            if !headers.iter().any(|(key, _)| key.eq_ignore_ascii_case(&k)) {
                headers.push((k, v));
            }
        }
    }
    let timeout = if let Some(t) = s.timeout {
        t
    } else {
        let own = parse_number::<u64>(env, signal.timeout, "a timeout in milliseconds")?;
        let all = parse_number::<u64>(
            env,
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "a timeout in milliseconds",
        )?;
        Duration::from_millis(own.or(all).unwrap_or(10_000))
    };
    let tls = if endpoint.is_some() {
        tls_config(env, signal)?
    } else {
        TlsConfig::default()
    };
    Ok(Destination {
        protocol,
        endpoint,
        headers,
        headers_var: header_var,
        timeout,
        tls,
    })
}

/// Where spans go: nowhere (`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER=none`, no endpoint),
/// a custom exporter, or OTLP with the protocol, endpoint, headers and timeout from code
/// and `OTEL_EXPORTER_OTLP_*`. Returns the exporter's factory and a line describing it.
pub(super) fn export(
    s: &mut Settings,
    env: &Env,
) -> Result<(Option<ExporterFactory>, String), InitError> {
    let disabled = sdk_disabled(env)?;
    let (exporter_none, named) = match env.get("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
        None => (false, false),
        Some("otlp") => (false, true),
        Some("none") => (true, false),
        Some(other) => return Err(invalid("OTEL_TRACES_EXPORTER", other, "`otlp` or `none`")),
    };
    let mut destination = destination(s, env, &TRACES)?;
    if named && destination.endpoint.is_none() && cfg!(feature = "otlp") {
        destination.endpoint = Some(default_endpoint(destination.protocol, &TRACES));
    }
    let (export, export_desc): (Option<ExporterFactory>, String) = if disabled || exporter_none {
        (None, "trace export off".to_owned())
    } else if let Some(exporter) = s.exporter.take() {
        let factory: ExporterFactory = Box::new(move || Ok(exporter));
        (Some(factory), "traces to a custom exporter".to_owned())
    } else if let Some(endpoint) = &destination.endpoint {
        validate(&destination, endpoint)?;
        otlp_exporter(destination)
    } else {
        (None, "no OTLP endpoint: traces are not exported".to_owned())
    };
    Ok((export, export_desc))
}

/// The specification's default endpoint of `signal`, used when an exporter is asked for
/// by name (`OTEL_TRACES_EXPORTER=otlp`) but no endpoint is configured:
/// `http://localhost:4318` for http/protobuf, `http://localhost:4317` for gRPC.
pub(super) fn default_endpoint(protocol: Protocol, signal: &Signal) -> String {
    match protocol {
        Protocol::HttpProtobuf => signal_url("http://localhost:4318", protocol, signal),
        Protocol::Grpc => "http://localhost:4317".to_owned(),
    }
}

/// The URL of `signal` for a base endpoint: HTTP appends the signal's path
/// (`/v1/traces`), gRPC uses it as is.
pub(super) fn signal_url(base: &str, protocol: Protocol, signal: &Signal) -> String {
    match protocol {
        Protocol::HttpProtobuf => format!("{}{}", base.trim_end_matches('/'), signal.path),
        Protocol::Grpc => base.to_owned(),
    }
}

/// Checks what can be checked before the first export: the features an `https://` or
/// gRPC endpoint needs, the TLS material, the URL and the headers.
pub(super) fn validate(d: &Destination, endpoint: &str) -> Result<(), InitError> {
    if !cfg!(feature = "otlp") {
        return Err(InitError::InvalidSetting {
            setting: "otlp_endpoint",
            message: "an OTLP endpoint is set but obs-runtime was built without its `otlp` feature"
                .into(),
        });
    }
    if endpoint.starts_with("https://") {
        if !cfg!(feature = "otlp-tls") {
            return Err(InitError::InvalidSetting {
                setting: "otlp_endpoint",
                message: "an https:// endpoint needs the `otlp-tls` feature of obs-runtime"
                    .to_owned(),
            });
        }
        if d.protocol == Protocol::Grpc && !cfg!(feature = "otlp-grpc-tls") {
            return Err(InitError::InvalidSetting {
                setting: "otlp_protocol",
                message: "OTLP over gRPC to an https:// endpoint needs the `otlp-grpc-tls` feature of obs-runtime".to_owned(),
            });
        }
        // Bad TLS material is an error now, naming its variable, not at the first export.
        #[cfg(feature = "otlp-tls")]
        d.tls
            .client_config()
            .map_err(|e| InitError::InvalidSetting {
                setting: "otlp TLS",
                message: e.to_string(),
            })?;
    }
    if d.protocol == Protocol::Grpc && !cfg!(feature = "otlp-grpc") {
        return Err(InitError::InvalidSetting {
            setting: "otlp_protocol",
            message: "OTLP over gRPC needs the `otlp-grpc` feature of obs-runtime".to_owned(),
        });
    }
    #[cfg(feature = "otlp")]
    if let Err(e) = endpoint.parse::<http::Uri>() {
        return Err(InitError::InvalidSetting {
            setting: "otlp_endpoint",
            message: format!(
                "{:?} is not a valid URL: {e}",
                crate::redact::scrub(endpoint)
            ),
        });
    }
    #[cfg(feature = "otlp")]
    for (k, v) in &d.headers {
        if http::HeaderName::from_bytes(k.as_bytes()).is_err()
            || http::HeaderValue::from_str(v).is_err()
        {
            return Err(invalid(
                d.headers_var,
                &format!("{k}={v}"),
                "header names and values valid in HTTP",
            ));
        }
    }
    Ok(())
}

/// Defers building the span exporter (which owns a Tokio runtime) to the export thread:
/// creating or dropping a runtime inside the caller's async context would panic.
#[cfg(feature = "otlp")]
fn otlp_exporter(d: Destination) -> (Option<ExporterFactory>, String) {
    let endpoint = d.endpoint.unwrap_or_default();
    let desc = format!(
        "traces over OTLP {} to {}",
        d.protocol.as_str(),
        crate::redact::scrub(&endpoint)
    );
    let factory: ExporterFactory = Box::new(move || {
        crate::trace::OtlpExporter::with_tls(d.protocol, &endpoint, &d.headers, d.timeout, &d.tls)
            .map(|e| Box::new(e) as Box<dyn SpanExporter>)
    });
    (Some(factory), desc)
}

/// Not reached: [`validate`] refuses an endpoint without the feature.
#[cfg(not(feature = "otlp"))]
fn otlp_exporter(_d: Destination) -> (Option<ExporterFactory>, String) {
    (None, "obs-runtime was built without `otlp`".to_owned())
}

/// The TLS files named by `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`, `…_CLIENT_CERTIFICATE`
/// and `…_CLIENT_KEY`, read now (a missing file is an error naming its variable; the
/// contents are never echoed).
fn tls_config(env: &Env, signal: &Signal) -> Result<TlsConfig, InitError> {
    let read = |own: &'static str, all: &'static str| -> Result<Option<Vec<u8>>, InitError> {
        let (name, path) = match (env.get(own), env.get(all)) {
            (Some(p), _) => (own, p),
            (None, Some(p)) => (all, p),
            (None, None) => return Ok(None),
        };
        std::fs::read(path.trim())
            .map(Some)
            .map_err(|e| invalid(name, &path, format!("a readable PEM file ({e})")))
    };
    Ok(TlsConfig {
        ca_pem: read(signal.certificate, "OTEL_EXPORTER_OTLP_CERTIFICATE")?,
        client_cert_pem: read(
            signal.client_certificate,
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        )?,
        client_key_pem: read(signal.client_key, "OTEL_EXPORTER_OTLP_CLIENT_KEY")?,
    })
}
