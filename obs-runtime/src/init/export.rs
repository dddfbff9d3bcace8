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

/// Where spans go: nowhere (`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER=none`, no endpoint),
/// a custom exporter, or OTLP with the protocol, endpoint, headers and timeout from code
/// and `OTEL_EXPORTER_OTLP_*`. Returns the exporter's factory and a line describing it.
pub(super) fn export(
    s: &mut Settings,
    env: &Env,
) -> Result<(Option<ExporterFactory>, String), InitError> {
    // Export.
    let disabled = match env
        .get("OTEL_SDK_DISABLED")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(v) => return Err(invalid("OTEL_SDK_DISABLED", &v, "`true` or `false`")),
    };
    let exporter_none = match env.get("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
        None | Some("otlp") => false,
        Some("none") => true,
        Some(other) => return Err(invalid("OTEL_TRACES_EXPORTER", other, "`otlp` or `none`")),
    };
    let protocol = if let Some(p) = s.protocol {
        p
    } else {
        let (name, raw) = match env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            Some(raw) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Some(raw)),
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
    let endpoint = match (&s.endpoint, env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        (Some(base), _) => {
            if !is_url(base) {
                return Err(InitError::InvalidSetting {
                    setting: "otlp_endpoint",
                    message: format!("{base:?} is not an http:// or https:// URL"),
                });
            }
            Some(signal_url(base, protocol))
        }
        (None, Some(full)) => {
            if !is_url(full.trim()) {
                return Err(invalid(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    &full,
                    "an http:// or https:// URL",
                ));
            }
            Some(full.trim().to_owned())
        }
        (None, None) => match env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(base) if is_url(base.trim()) => Some(signal_url(base.trim(), protocol)),
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
    let mut headers = std::mem::take(&mut s.headers);
    let header_var = if env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS").is_some() {
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
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
        let traces = parse_number::<u64>(
            env,
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "a timeout in milliseconds",
        )?;
        let all = parse_number::<u64>(
            env,
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "a timeout in milliseconds",
        )?;
        Duration::from_millis(traces.or(all).unwrap_or(10_000))
    };
    let (export, export_desc): (Option<ExporterFactory>, String) = if disabled || exporter_none {
        (None, "trace export off".to_owned())
    } else if let Some(exporter) = s.exporter.take() {
        let factory: ExporterFactory = Box::new(move || Ok(exporter));
        (Some(factory), "traces to a custom exporter".to_owned())
    } else if let Some(endpoint) = endpoint {
        otlp_exporter(protocol, &endpoint, &headers, timeout, tls_config(env)?)?
    } else {
        (None, "no OTLP endpoint: traces are not exported".to_owned())
    };
    Ok((export, export_desc))
}

/// The traces URL for a base endpoint: HTTP appends `/v1/traces`, gRPC uses it as is.
pub(super) fn signal_url(base: &str, protocol: Protocol) -> String {
    match protocol {
        Protocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
        Protocol::Grpc => base.to_owned(),
    }
}

/// Validates the OTLP settings here, and defers building the exporter (which owns a Tokio
/// runtime) to the export thread: creating or dropping a runtime inside the caller's async
/// context would panic.
#[cfg(feature = "otlp")]
fn otlp_exporter(
    protocol: Protocol,
    endpoint: &str,
    headers: &[(String, String)],
    timeout: Duration,
    tls: TlsConfig,
) -> Result<(Option<ExporterFactory>, String), InitError> {
    if endpoint.starts_with("https://") {
        if !cfg!(feature = "otlp-tls") {
            return Err(InitError::InvalidSetting {
                setting: "otlp_endpoint",
                message: "an https:// endpoint needs the `otlp-tls` feature of obs-runtime"
                    .to_owned(),
            });
        }
        if protocol == Protocol::Grpc && !cfg!(feature = "otlp-grpc-tls") {
            return Err(InitError::InvalidSetting {
                setting: "otlp_protocol",
                message: "OTLP over gRPC to an https:// endpoint needs the `otlp-grpc-tls` feature of obs-runtime".to_owned(),
            });
        }
        // Bad TLS material is an error now, naming its variable, not at the first export.
        #[cfg(feature = "otlp-tls")]
        tls.client_config().map_err(|e| InitError::InvalidSetting {
            setting: "otlp TLS",
            message: e.to_string(),
        })?;
    }
    if protocol == Protocol::Grpc && !cfg!(feature = "otlp-grpc") {
        return Err(InitError::InvalidSetting {
            setting: "otlp_protocol",
            message: "OTLP over gRPC needs the `otlp-grpc` feature of obs-runtime".to_owned(),
        });
    }
    if let Err(e) = endpoint.parse::<http::Uri>() {
        return Err(InitError::InvalidSetting {
            setting: "otlp_endpoint",
            message: format!(
                "{:?} is not a valid URL: {e}",
                crate::redact::scrub(endpoint)
            ),
        });
    }
    for (k, v) in headers {
        if http::HeaderName::from_bytes(k.as_bytes()).is_err()
            || http::HeaderValue::from_str(v).is_err()
        {
            return Err(invalid(
                "OTEL_EXPORTER_OTLP_HEADERS",
                &format!("{k}={v}"),
                "header names and values valid in HTTP",
            ));
        }
    }
    let endpoint_owned = endpoint.to_owned();
    let headers = headers.to_vec();
    let factory: ExporterFactory = Box::new(move || {
        crate::trace::OtlpExporter::with_tls(protocol, &endpoint_owned, &headers, timeout, &tls)
            .map(|e| Box::new(e) as Box<dyn SpanExporter>)
    });
    Ok((
        Some(factory),
        format!("traces over OTLP {} to {endpoint}", protocol.as_str()),
    ))
}

#[cfg(not(feature = "otlp"))]
fn otlp_exporter(
    _protocol: Protocol,
    _endpoint: &str,
    _headers: &[(String, String)],
    _timeout: Duration,
    _tls: TlsConfig,
) -> Result<(Option<ExporterFactory>, String), InitError> {
    Err(InitError::InvalidSetting {
        setting: "otlp_endpoint",
        message: "an OTLP endpoint is set but obs-runtime was built without its `otlp` feature"
            .into(),
    })
}

/// The TLS files named by `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`, `…_CLIENT_CERTIFICATE`
/// and `…_CLIENT_KEY`, read now (a missing file is an error naming its variable; the
/// contents are never echoed).
fn tls_config(env: &Env) -> Result<TlsConfig, InitError> {
    let read = |traces: &'static str, all: &'static str| -> Result<Option<Vec<u8>>, InitError> {
        let (name, path) = match (env.get(traces), env.get(all)) {
            (Some(p), _) => (traces, p),
            (None, Some(p)) => (all, p),
            (None, None) => return Ok(None),
        };
        std::fs::read(path.trim())
            .map(Some)
            .map_err(|e| invalid(name, &path, format!("a readable PEM file ({e})")))
    };
    Ok(TlsConfig {
        ca_pem: read(
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        )?,
        client_cert_pem: read(
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        )?,
        client_key_pem: read(
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        )?,
    })
}
