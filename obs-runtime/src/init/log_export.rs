//! Where log records go: `OTEL_LOGS_EXPORTER` (`otlp`, `console`, `none`, or a list),
//! the logs' OTLP destination, and the `OTEL_BLRP_*` batch settings.
//!
//! Unset, log lines keep going to standard output (`console`) and, when an OTLP endpoint
//! is configured, log records also go to the collector (`otlp`, the specification's
//! default): the lines stay the fallback a platform's log shipper reads while the
//! collector is down. `OTEL_LOGS_EXPORTER=otlp` sends records only to the collector,
//! `console` only writes lines, `none` does neither. Without `console`, the lines about
//! export trouble are still written: a failing exporter is never silent. `otlp` named
//! without any endpoint sends to the specification's default (`http://localhost:4318`).

use std::time::Duration;

use super::env::{Env, parse_number};
use super::error::{InitError, invalid};
use super::export::{LOGS, default_endpoint, destination, sdk_disabled, validate};
use super::settings::Settings;
use crate::log::{LogBatchConfig, LogExporterFactory, LogRecordLimits};

/// The log export settings resolved.
pub(super) struct LogExport {
    /// Builds the OTLP log exporter on the log pipeline's thread; `None`: no OTLP logs.
    pub(super) factory: Option<LogExporterFactory>,
    pub(super) batch: LogBatchConfig,
    /// Whether log lines are written to the log output (standard output by default).
    pub(super) console: bool,
    /// A line saying where log records go.
    pub(super) desc: String,
    /// What one record may hold.
    pub(super) limits: LogRecordLimits,
}

/// `OTEL_LOGS_EXPORTER`: (otlp, console, whether `otlp` was asked for by name).
fn exporters(env: &Env) -> Result<(bool, bool, bool), InitError> {
    let Some(raw) = env.get("OTEL_LOGS_EXPORTER") else {
        return Ok((true, true, false));
    };
    let expected = "`otlp`, `console`, `none`, or a comma-separated list of `otlp` and `console`";
    let (mut otlp, mut console) = (false, false);
    let names: Vec<String> = raw
        .split(',')
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    for name in &names {
        match name.as_str() {
            "otlp" => otlp = true,
            "console" => console = true,
            "none" if names.len() == 1 => {}
            _ => return Err(invalid("OTEL_LOGS_EXPORTER", &raw, expected)),
        }
    }
    Ok((otlp, console, otlp))
}

/// The batch settings: `OTEL_BLRP_*` and `OBS_BLRP_MAX_QUEUE_BYTES` over the defaults.
fn batch(env: &Env) -> Result<LogBatchConfig, InitError> {
    let mut batch = LogBatchConfig::default();
    let positive = |var: &'static str, expected: &'static str| {
        parse_number::<usize>(env, var, expected)?
            .map(|n| {
                if n >= 1 {
                    Ok(n)
                } else {
                    Err(invalid(var, &env.get(var).unwrap_or_default(), expected))
                }
            })
            .transpose()
    };
    if let Some(n) = positive(
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        "a positive number of log records",
    )? {
        batch.max_queue = n.min(crate::trace::MAX_QUEUE_SIZE);
    }
    if let Some(n) = positive("OBS_BLRP_MAX_QUEUE_BYTES", "a positive number of bytes")? {
        batch.max_queue_bytes = n;
    }
    if let Some(n) = positive(
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
        "a positive number of log records",
    )? {
        batch.max_batch = n;
    }
    if let Some(ms) =
        parse_number::<u64>(env, "OTEL_BLRP_SCHEDULE_DELAY", "a delay in milliseconds")?
    {
        batch.delay = Duration::from_millis(ms);
    }
    Ok(batch)
}

/// `OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT` and `OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT`,
/// else the general `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` and `OTEL_ATTRIBUTE_COUNT_LIMIT`,
/// over the defaults.
fn limits(env: &Env) -> Result<LogRecordLimits, InitError> {
    let mut limits = LogRecordLimits::default();
    for (vars, slot, what) in [
        (
            [
                "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            ],
            &mut limits.attribute_value_length,
            "a length in bytes",
        ),
        (
            [
                "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
                "OTEL_ATTRIBUTE_COUNT_LIMIT",
            ],
            &mut limits.attribute_count,
            "a number of attributes",
        ),
    ] {
        for var in vars {
            if let Some(n) = parse_number::<usize>(env, var, what)? {
                *slot = n;
                break;
            }
        }
    }
    Ok(limits)
}

/// Resolves where log records go.
pub(super) fn log_export(s: &Settings, env: &Env) -> Result<LogExport, InitError> {
    let (otlp, console, named) = exporters(env)?;
    let otlp = s.otlp_logs.unwrap_or(otlp) && !sdk_disabled(env)?;
    let batch = batch(env)?;
    let limits = limits(env)?;
    let mut destination = destination(s, env, &LOGS)?;
    // Asked for by name with no endpoint: the specification's default, so that records
    // are sent (and a failure said), never silently lost.
    if named && otlp && destination.endpoint.is_none() && cfg!(feature = "otlp") {
        destination.endpoint = Some(default_endpoint(destination.protocol, &LOGS));
    }
    let Some(endpoint) = destination.endpoint.clone().filter(|_| otlp) else {
        let desc = if console {
            "logs to standard output"
        } else {
            "no log lines or records (OTEL_LOGS_EXPORTER); export trouble still to standard output"
        };
        return Ok(LogExport {
            factory: None,
            batch,
            console,
            desc: desc.to_owned(),
            limits,
        });
    };
    validate(&destination, &endpoint)?;
    let desc = format!(
        "logs over OTLP {} to {}{}",
        destination.protocol.as_str(),
        crate::redact::scrub(&endpoint),
        if console {
            " and standard output"
        } else {
            "; export trouble to standard output"
        }
    );
    Ok(LogExport {
        factory: Some(factory(destination, endpoint)),
        batch,
        console,
        desc,
        limits,
    })
}

#[cfg(feature = "otlp")]
fn factory(d: super::export::Destination, endpoint: String) -> LogExporterFactory {
    Box::new(move || {
        crate::log::OtlpLogExporter::new(d.protocol, &endpoint, &d.headers, d.timeout, &d.tls)
            .map(|e| Box::new(e) as Box<dyn crate::log::LogExporter>)
    })
}

#[cfg(not(feature = "otlp"))]
fn factory(_d: super::export::Destination, _endpoint: String) -> LogExporterFactory {
    // `validate` refused the endpoint without the feature.
    Box::new(|| {
        Err(crate::trace::ExportError::new(
            "obs-runtime was built without `otlp`",
        ))
    })
}
