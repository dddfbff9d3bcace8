//! The access log: one line per request, when it completes.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::header::USER_AGENT;
use axum::http::{HeaderValue, Request, Uri};
use tracing::Level;

/// Longest user agent and path kept in an access log line, in bytes (longer ones are cut
/// at a character boundary and end in `…`).
pub const MAX_ACCESS_FIELD_LEN: usize = 256;

/// Whether [`ObsLayer`](super::ObsLayer) writes an access log line per request, and at
/// which level for each outcome.
///
/// The line is a `tracing` event (target `obs::access`, message `request completed`) in
/// the request's span, so the JSON log line also carries its `trace_id`, `span_id` and
/// `request_id`. Its fields: `http.request.method`, `http.route` (the template, absent
/// when no route matched), `url.path` (never the query string), `http.response.status_code`
/// (`499` when the client went away first), `duration_ms`, `client.address` and
/// `client.port` (the connection's IP and port, as the semantic conventions split them,
/// when the server was started with `into_make_service_with_connect_info`) and
/// `user_agent.original`, both length-capped.
///
/// The successful answers of obs's own `/metrics` handler ([`metrics_handler`]) and health
/// routes ([`Health::router`]) are written at `debug` at most: a scrape every 15 s and a
/// probe every few seconds would otherwise be most of the log (and of the log records
/// shipped to a collector). Their failures keep the levels above.
///
/// [`metrics_handler`]: super::metrics_handler
/// [`Health::router`]: super::Health::router
///
/// ```
/// use obs_runtime::axum::{AccessLog, ObsLayer};
/// use obs_runtime::tracing::Level;
///
/// let quiet = ObsLayer::new().access_log(AccessLog::levels(Level::DEBUG, Level::INFO, Level::ERROR));
/// let off = ObsLayer::new().access_log(AccessLog::OFF);
/// # drop((quiet, off));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessLog {
    levels: Option<[Level; 3]>,
}

impl AccessLog {
    /// On: `info` for success, `warn` for 4xx (and 499), `error` for 5xx.
    pub const DEFAULT: AccessLog = AccessLog {
        levels: Some([Level::INFO, Level::WARN, Level::ERROR]),
    };

    /// No access log lines.
    pub const OFF: AccessLog = AccessLog { levels: None };

    /// On, with these levels for success (below 400), client errors (4xx) and server
    /// errors (5xx).
    pub const fn levels(ok: Level, client_error: Level, server_error: Level) -> Self {
        Self {
            levels: Some([ok, client_error, server_error]),
        }
    }

    /// The level of a request's line; `routine`: answered by obs's own `/metrics`
    /// handler or health routes, whose successes are logged at `debug` at most.
    fn level(self, status: u16, routine: bool) -> Option<Level> {
        let [ok, client, server] = self.levels?;
        Some(match status {
            500.. => server,
            400..500 => client,
            // More verbose levels compare greater: the quieter of the two.
            _ if routine => ok.max(Level::DEBUG),
            _ => ok,
        })
    }
}

impl Default for AccessLog {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Marks a response of obs's own `/metrics` handler or health routes: a scrape every
/// 15 s and probes every few seconds would otherwise be most of the access log.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Routine;

/// What the line needs from the request, taken when it arrives.
#[derive(Debug)]
pub(super) struct RequestLine {
    method: &'static str,
    route: Option<Arc<str>>,
    /// The request's URI and user agent share the bytes hyper read (a clone is a
    /// reference count); they are capped when the line is written.
    uri: Uri,
    client: Option<SocketAddr>,
    user_agent: Option<HeaderValue>,
}

/// `s` cut to at most [`MAX_ACCESS_FIELD_LEN`] bytes, at a character boundary.
fn capped(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_ACCESS_FIELD_LEN {
        return Cow::Borrowed(s);
    }
    let mut end = MAX_ACCESS_FIELD_LEN - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

impl RequestLine {
    /// The request's parts for the line, or `None` when the log is off.
    pub(super) fn new<B>(
        config: AccessLog,
        request: &Request<B>,
        method: &'static str,
        route: Option<&Arc<str>>,
    ) -> Option<Box<Self>> {
        config.levels?;
        Some(Box::new(Self {
            method,
            route: route.cloned(),
            uri: request.uri().clone(),
            client: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            user_agent: request.headers().get(USER_AGENT).cloned(),
        }))
    }

    /// Writes the line (inside the request's span).
    pub(super) fn write(&self, config: AccessLog, status: u16, duration_ms: f64, routine: bool) {
        let Some(level) = config.level(status, routine) else {
            return;
        };
        let path = capped(self.uri.path());
        let user_agent = self
            .user_agent
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(capped);
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: crate::trace::ACCESS_TARGET,
                    $level,
                    http.request.method = self.method,
                    http.route = self.route.as_deref(),
                    url.path = &*path,
                    http.response.status_code = status,
                    duration_ms,
                    client.address = self.client.map(|c| tracing::field::display(c.ip())),
                    client.port = self.client.map(|c| c.port()),
                    user_agent.original = user_agent.as_deref(),
                    "request completed"
                )
            };
        }
        match level {
            Level::ERROR => line!(Level::ERROR),
            Level::WARN => line!(Level::WARN),
            Level::INFO => line!(Level::INFO),
            Level::DEBUG => line!(Level::DEBUG),
            _ => line!(Level::TRACE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_by_outcome_and_caps() {
        let log = AccessLog::DEFAULT;
        assert_eq!(log.level(200, false), Some(Level::INFO));
        assert_eq!(log.level(404, false), Some(Level::WARN));
        assert_eq!(log.level(499, false), Some(Level::WARN));
        assert_eq!(log.level(503, false), Some(Level::ERROR));
        assert_eq!(AccessLog::OFF.level(500, false), None);
        // Scrapes and probes: successes at debug at most, failures as any request's.
        assert_eq!(log.level(200, true), Some(Level::DEBUG));
        assert_eq!(log.level(401, true), Some(Level::WARN));
        assert_eq!(log.level(503, true), Some(Level::ERROR));
        let chatty = AccessLog::levels(Level::TRACE, Level::INFO, Level::ERROR);
        assert_eq!(chatty.level(200, true), Some(Level::TRACE));
        assert_eq!(AccessLog::OFF.level(200, true), None);
        let agent = "é".repeat(300);
        let cut = capped(&agent);
        assert!(
            cut.len() <= MAX_ACCESS_FIELD_LEN && cut.ends_with('…'),
            "{}",
            cut.len()
        );
        assert_eq!(capped("curl/8"), "curl/8");
    }
}
