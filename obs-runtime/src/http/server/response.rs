//! Answers: the bearer token check, the metrics body, and writes bounded by a deadline.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::metrics::Registry;

/// Whether `given` equals `secret`, in time that depends only on the secret's length:
/// neither where the first difference is nor the given value's length shows.
pub(super) fn constant_time_eq(given: &[u8], secret: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != secret.len());
    for (i, s) in secret.iter().enumerate() {
        // Every byte of the secret is compared, against a zero past the given value.
        let g = given.get(i).copied().unwrap_or(0);
        diff |= g ^ s;
    }
    core::hint::black_box(diff) == 0
}

pub(super) fn authorized(token: Option<&str>, header: Option<&str>) -> bool {
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

pub(super) const TEXT: &str = "text/plain; charset=utf-8";
pub(super) const JSON: &str = "application/json";
pub(super) const YAML: &str = "application/yaml";

pub(super) fn write_response(
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
pub(super) fn write_until(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    deadline: Instant,
) -> io::Result<()> {
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

/// The whole response, and the polite close after it, must be done within this.
pub(super) const ANSWER_DEADLINE: Duration = Duration::from_secs(5);
