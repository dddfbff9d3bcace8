//! The log filter and the log layer's settings.

use tracing_subscriber::EnvFilter;

use super::env::Env;
use super::error::{InitError, invalid};
use super::settings::Settings;
use crate::log::{DEFAULT_QUEUE_LINES, LogFormat, LogLayer, LogWriter};
use crate::trace::Resource;

/// The global filter: `Targets` when the directives are static (`info,my_crate=debug`),
/// which keeps no per-span state; `EnvFilter` when they filter on spans or fields
/// (`[request{id=1}]=trace`), whose per-span bookkeeping takes a lock on every enter,
/// exit and close.
pub(super) enum Filter {
    Static(tracing_subscriber::filter::Targets),
    Dynamic(Box<EnvFilter>),
}

/// The global filter: `log_filter` from code, else `RUST_LOG`, else `info`.
pub(super) fn filter(s: &mut Settings, env: &Env) -> Result<Filter, InitError> {
    // Logs.
    let (filter_name, directives) = match s.log_filter.take() {
        Some(d) => ("log_filter", d),
        None => (
            "RUST_LOG",
            env.get("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
        ),
    };
    // tracing-subscriber's directive parser panics on some non-ASCII input (it slices
    // inside a character); directives are ASCII, so anything else is refused here.
    let parsed = if directives.is_ascii() {
        std::panic::catch_unwind(|| EnvFilter::builder().parse(&directives)).ok()
    } else {
        None
    };
    let Some(parsed) = parsed else {
        return Err(if filter_name == "RUST_LOG" {
            invalid(
                "RUST_LOG",
                &directives,
                "tracing filter directives such as `info,my_crate=debug`, in ASCII",
            )
        } else {
            InitError::InvalidSetting {
                setting: "log_filter",
                message: "filter directives must be ASCII".to_owned(),
            }
        });
    };
    let filter = parsed.map_err(|e| {
        if filter_name == "RUST_LOG" {
            invalid(
                "RUST_LOG",
                &directives,
                format!("tracing filter directives such as `info,my_crate=debug` ({e})"),
            )
        } else {
            InitError::InvalidSetting {
                setting: "log_filter",
                message: e.to_string(),
            }
        }
    })?;
    let filter = if directives.contains('[') || directives.contains('{') {
        Filter::Dynamic(Box::new(filter))
    } else {
        match directives.parse::<tracing_subscriber::filter::Targets>() {
            Ok(targets) => Filter::Static(targets),
            Err(_) => Filter::Dynamic(Box::new(filter)),
        }
    };
    Ok(filter)
}

/// The log layer, unless code turned logs off: the format from code or `OBS_LOG_FORMAT`,
/// and the writer it writes to (standard output through a non-blocking queue by default).
/// Without `console` (`OTEL_LOGS_EXPORTER` without it), it writes only the lines about
/// export trouble.
pub(super) fn logs(
    s: &mut Settings,
    env: &Env,
    resource: &Resource,
    console: bool,
) -> Result<Option<(LogLayer, LogWriter)>, InitError> {
    let format = match s.log_format {
        Some(f) => f,
        None => match env
            .get("OBS_LOG_FORMAT")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("auto") => LogFormat::detect(),
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty {
                ansi: LogFormat::detect() != LogFormat::Json,
            },
            Some(other) => {
                return Err(invalid(
                    "OBS_LOG_FORMAT",
                    other,
                    "`json`, `pretty` or `auto`",
                ));
            }
        },
    };
    let logs = s.logs.then(|| {
        let writer = s
            .log_writer
            .take()
            .unwrap_or_else(|| LogWriter::non_blocking(LogWriter::stdout(), DEFAULT_QUEUE_LINES));
        let text = |key: &str| resource.get(key).map(ToString::to_string);
        let layer = std::mem::take(&mut s.log_allowed)
            .into_iter()
            .fold(LogLayer::new(format, writer.clone()), LogLayer::allow)
            .service(
                &text("service.name").unwrap_or_default(),
                text("service.version").as_deref(),
                text("deployment.environment.name").as_deref(),
            );
        let layer = if console {
            layer
        } else {
            layer.export_trouble_only()
        };
        (layer, writer)
    });
    Ok(logs)
}
