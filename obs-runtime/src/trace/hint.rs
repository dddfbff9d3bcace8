//! Hints for failed exports: what to change when the cause is a known misconfiguration
//! (the other protocol's port, a signal endpoint without its path, TLS, credentials).

use super::{ExportTarget, Protocol};

/// The port of an endpoint URL, written or implied by its scheme.
fn port(endpoint: &str) -> Option<u16> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    // An IPv6 host is bracketed: its colons are not the port's.
    let after_host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.1,
        None => host_port,
    };
    match after_host.rsplit_once(':') {
        Some((_, port)) => port.parse().ok(),
        None => match scheme {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        },
    }
}

/// What to change, when the failure has a known cause in the configuration.
pub(crate) fn hint(target: &ExportTarget, signal: &str, cause: &str) -> Option<String> {
    let lower = cause.to_ascii_lowercase();
    let port = port(&target.endpoint);
    // An HTTP/1.1 client gets an HTTP/2 frame back from a gRPC server, and a gRPC client
    // gets an HTTP/1.1 answer back from an HTTP server: either is the other port.
    let grpc_answered = lower.contains("invalid http version") || lower.contains("http2 preface");
    // (Not any "h2 protocol error": a gRPC server's oversized status headers are one too.)
    let http_answered =
        lower.contains("frame with invalid size") || lower.contains("invalid http/2");
    match target.protocol {
        Protocol::HttpProtobuf if port == Some(4317) || grpc_answered => {
            return Some(format!(
                "{}; http/protobuf (obs's default protocol) is served on 4318: point \
                 OTEL_EXPORTER_OTLP_ENDPOINT at port 4318, or set \
                 OTEL_EXPORTER_OTLP_PROTOCOL=grpc (feature `otlp-grpc`)",
                if port == Some(4317) {
                    "4317 is the OTLP/gRPC port"
                } else {
                    "the server answered in HTTP/2 only, as an OTLP/gRPC port (4317) does"
                }
            ));
        }
        Protocol::Grpc if port == Some(4318) || http_answered => {
            return Some(format!(
                "{}; gRPC is served on 4317: point OTEL_EXPORTER_OTLP_ENDPOINT at port \
                 4317, or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
                if port == Some(4318) {
                    "4318 is the OTLP/HTTP port"
                } else {
                    "the server does not speak HTTP/2, as an OTLP/HTTP port (4318) does not"
                }
            ));
        }
        _ => {}
    }
    let path = format!("/v1/{signal}");
    if target.protocol == Protocol::HttpProtobuf
        && lower.contains("404")
        && target.endpoint.ends_with(&format!("{path}/"))
    {
        return Some(format!(
            "the endpoint ends in `{path}/`: a collector serves {path} without the trailing slash"
        ));
    }
    if target.protocol == Protocol::HttpProtobuf
        && lower.contains("404")
        && !target.endpoint.trim_end_matches('/').ends_with(&path)
    {
        return Some(format!(
            "the collector has no {path} at this URL: a signal-specific endpoint \
             (OTEL_EXPORTER_OTLP_{}_ENDPOINT) is used as written and needs the path {path}; \
             OTEL_EXPORTER_OTLP_ENDPOINT gets it appended",
            signal.to_ascii_uppercase()
        ));
    }
    if lower.contains("connection refused") || lower.contains("tcp connect error") {
        return Some(
            "nothing accepts connections there: is the collector running, and on this \
             address?"
                .to_owned(),
        );
    }
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        return Some(
            "the TLS handshake failed: OTEL_EXPORTER_OTLP_CERTIFICATE names the CA that \
             signed the collector's certificate"
                .to_owned(),
        );
    }
    if lower.contains("401") || lower.contains("403") || lower.contains("unauthenticated") {
        return Some(
            "the collector refused the credentials: check OTEL_EXPORTER_OTLP_HEADERS".to_owned(),
        );
    }
    if lower.contains("timed out") || lower.contains("deadline") {
        return Some(
            "the collector did not answer in time (OTEL_EXPORTER_OTLP_TIMEOUT)".to_owned(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(protocol: Protocol, endpoint: &str) -> ExportTarget {
        ExportTarget::new(protocol, endpoint)
    }

    #[test]
    fn ports_written_or_implied() {
        assert_eq!(port("http://127.0.0.1:4317/v1/traces"), Some(4317));
        assert_eq!(port("https://collector/v1/traces"), Some(443));
        assert_eq!(port("http://collector"), Some(80));
        assert_eq!(port("http://user:pw@[::1]:4318"), Some(4318));
        assert_eq!(port("http://[::1]/v1/traces"), Some(80));
        assert_eq!(port("collector:4317"), None);
    }

    #[test]
    fn hints_for_known_misconfigurations() {
        let http = |e: &str| target(Protocol::HttpProtobuf, e);
        let grpc = |e: &str| target(Protocol::Grpc, e);
        let of = |t: &ExportTarget, cause: &str| hint(t, "traces", cause).unwrap_or_default();
        assert!(
            of(&http("http://c:4318/v1/traces/"), "HTTP 404 Not Found")
                .starts_with("the endpoint ends in `/v1/traces/`")
        );
        // A gRPC server's oversized status is an h2 protocol error too, not another port.
        assert_eq!(
            hint(
                &grpc("http://c:7000"),
                "logs",
                "gRPC status ResourceExhausted: h2 protocol error: http2 error: header_list_way_too_large"
            ),
            None
        );
        assert!(
            of(&http("http://c:4317/v1/traces"), "whatever")
                .starts_with("4317 is the OTLP/gRPC port")
        );
        assert!(of(&grpc("http://c:4318"), "whatever").starts_with("4318 is the OTLP/HTTP port"));
        // The other protocol's answer, on any port.
        assert!(
            of(
                &http("http://c:9999/v1/traces"),
                "client error (SendRequest): invalid HTTP version parsed"
            )
            .starts_with("the server answered in HTTP/2 only")
        );
        assert!(
            of(
                &grpc("http://c:9999"),
                "transport error: http2 error: connection error detected: frame with invalid size"
            )
            .starts_with("the server does not speak HTTP/2")
        );
        assert!(of(&http("http://c:4318"), "status 404 Not Found").contains(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is used as written and needs the path /v1/traces"
        ));
        assert_eq!(
            hint(&http("http://c:4318/v1/traces"), "traces", "status 404"),
            None
        );
        assert!(
            hint(&http("http://c:4318/v1/logs"), "logs", "404").is_none(),
            "the logs path is right for logs"
        );
        assert!(
            of(
                &http("http://c:4318/v1/traces"),
                "tcp connect error: Connection refused (os error 111)"
            )
            .starts_with("nothing accepts connections there")
        );
        assert!(
            of(
                &http("https://c/v1/traces"),
                "invalid peer certificate: UnknownIssuer"
            )
            .starts_with("the TLS handshake failed")
        );
        assert!(
            of(&http("http://c:4318/v1/traces"), "status 401")
                .contains("OTEL_EXPORTER_OTLP_HEADERS")
        );
        assert!(
            of(
                &http("http://c:4318/v1/traces"),
                "OTLP export timed out after 11s"
            )
            .contains("OTEL_EXPORTER_OTLP_TIMEOUT")
        );
        assert_eq!(
            hint(&http("http://c:4318/v1/traces"), "traces", "status 500"),
            None
        );
    }
}
