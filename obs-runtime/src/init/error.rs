//! Why `init()` failed: errors that name the variable or setting and never echo a secret.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

/// Why [`Builder::install`](super::Builder::install) failed. Nothing is installed when it fails.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// An environment variable holds a value obs cannot use.
    InvalidVar {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it accepts.
        expected: Cow<'static, str>,
    },
    /// A value set in code is invalid.
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The metrics server could not listen.
    MetricsServer {
        /// The address it tried.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// A global `tracing` subscriber is already set.
    AlreadyInstalled,
    /// The program declares one metric name twice (`metric!` in two places): exposition
    /// could show only one of them.
    Catalogue(crate::metrics::RegistryError),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidVar {
                name,
                value,
                expected,
            } => write!(f, "invalid {name}={value:?}: expected {expected}"),
            Self::InvalidSetting { setting, message } => write!(f, "invalid `{setting}`: {message}"),
            Self::MetricsServer { addr, source } => write!(
                f,
                "cannot serve metrics on {addr}: {source} (set OBS_METRICS_ADDR to another address, or `off`)"
            ),
            Self::AlreadyInstalled => f.write_str(
                "a global tracing subscriber is already installed; call `install()` once, or use `build()` and install the dispatcher yourself",
            ),
            Self::Catalogue(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::MetricsServer { source, .. } => Some(source),
            Self::Catalogue(e) => Some(e),
            _ => None,
        }
    }
}

/// Variables whose values carry credentials although their names do not say so.
const SECRET_VARS: [&str; 5] = [
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OBS_METRICS_TOKEN",
];

/// An invalid variable. The value is kept only where it cannot hold a secret: the value
/// of a secret-bearing variable is never echoed, and credentials in a URL are masked.
pub(super) fn invalid(
    name: &'static str,
    value: &str,
    expected: impl Into<Cow<'static, str>>,
) -> InitError {
    let value = if SECRET_VARS.contains(&name) || crate::metrics::name::looks_sensitive(name) {
        crate::redact::REDACTED.to_owned()
    } else {
        crate::redact::scrub(value).into_owned()
    };
    InitError::InvalidVar {
        name,
        value,
        expected: expected.into(),
    }
}
