//! Settings resolved one group at a time: each group reads what code set, then the
//! environment, and validates both.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use super::env::{Env, parse_number, parse_pairs};
use super::error::{InitError, invalid};
use super::settings::{Metrics, Settings};
use crate::http::server::ServerConfig;
use crate::trace::{AttrValue, PipelineConfig, Resource, Sampler, SpanLimits};

/// The resource: `OTEL_RESOURCE_ATTRIBUTES`, then the service name and attributes set in
/// code (which win), then what the SDK adds itself.
pub(super) fn resource(s: &mut Settings, env: &Env) -> Result<Resource, InitError> {
    // Resource.
    let mut resource = Resource::default();
    if let Some(raw) = env.get("OTEL_RESOURCE_ATTRIBUTES") {
        for (k, v) in parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &raw)? {
            resource.set(k, AttrValue::Str(Cow::Owned(v)));
        }
    }
    let service_name = s
        .service_name
        .take()
        .or_else(|| env.get("OTEL_SERVICE_NAME"))
        .or_else(|| resource.get("service.name").map(ToString::to_string))
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().ok();
            let exe = exe
                .as_deref()
                .and_then(|p| p.file_name())
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            format!("unknown_service:{exe}")
        });
    resource.set("service.name", AttrValue::Str(Cow::Owned(service_name)));
    if let Some(v) = s.service_version.take() {
        resource.set("service.version", AttrValue::Str(Cow::Owned(v)));
    }
    if let Some(v) = s.environment.take() {
        resource.set("deployment.environment.name", AttrValue::Str(Cow::Owned(v)));
    }
    for (k, v) in std::mem::take(&mut s.resource) {
        resource.set(k, v);
    }
    resource.set("telemetry.sdk.name", AttrValue::Str(Cow::Borrowed("obs")));
    resource.set(
        "telemetry.sdk.language",
        AttrValue::Str(Cow::Borrowed("rust")),
    );
    resource.set(
        "telemetry.sdk.version",
        AttrValue::Str(Cow::Borrowed(env!("CARGO_PKG_VERSION"))),
    );
    resource.set("process.pid", AttrValue::Int(i64::from(std::process::id())));
    Ok(resource)
}

/// The head sampler: the one set in code, else `OTEL_TRACES_SAMPLER` and its argument.
pub(super) fn sampler(code: Option<Sampler>, env: &Env) -> Result<Sampler, InitError> {
    // Sampler.
    let sampler = match code {
        Some(Sampler::TraceIdRatio(r)) if !(0.0..=1.0).contains(&r) => {
            return Err(InitError::InvalidSetting {
                setting: "sampler",
                message: format!("ratio {r} is outside [0, 1]"),
            });
        }
        Some(s) => s,
        None => {
            let arg = match env.get("OTEL_TRACES_SAMPLER_ARG") {
                None => 1.0,
                Some(raw) => match raw.trim().parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => r,
                    _ => {
                        return Err(invalid(
                            "OTEL_TRACES_SAMPLER_ARG",
                            &raw,
                            "a sampling ratio between 0 and 1",
                        ));
                    }
                },
            };
            match env.get("OTEL_TRACES_SAMPLER").as_deref().map(str::trim) {
                None | Some("parentbased_always_on") => Sampler::default(),
                Some("always_on") => Sampler::AlwaysOn,
                Some("always_off") => Sampler::AlwaysOff,
                Some("traceidratio") => Sampler::TraceIdRatio(arg),
                Some("parentbased_always_off") => Sampler::parent_based(Sampler::AlwaysOff),
                Some("parentbased_traceidratio") => {
                    Sampler::parent_based(Sampler::TraceIdRatio(arg))
                }
                Some(other) => {
                    return Err(invalid(
                        "OTEL_TRACES_SAMPLER",
                        other,
                        "one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio",
                    ));
                }
            }
        }
    };
    Ok(sampler)
}

/// Span limits from `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` and its siblings.
pub(super) fn span_limits(env: &Env) -> Result<SpanLimits, InitError> {
    // Span limits.
    let mut limits = SpanLimits::default();
    for (var, slot, what) in [
        (
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            &mut limits.attribute_value_length,
            "a length in bytes",
        ),
        (
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            &mut limits.attribute_count,
            "a number of attributes",
        ),
        (
            "OTEL_SPAN_EVENT_COUNT_LIMIT",
            &mut limits.event_count,
            "a number of events",
        ),
    ] {
        if let Some(n) = parse_number::<usize>(env, var, what)? {
            *slot = n;
        }
    }
    Ok(limits)
}

/// The batch settings: those set in code, with `OTEL_BSP_*` filling in.
pub(super) fn batch(code: Option<PipelineConfig>, env: &Env) -> Result<PipelineConfig, InitError> {
    // Batch pipeline.
    let mut pipeline = code.unwrap_or_default();
    // Zero is refused, not taken as one: a queue or batch that holds nothing is a typo.
    let positive = |var: &'static str, max: usize, expected: &'static str| {
        parse_number::<usize>(env, var, expected)?
            .map(|n| {
                if (1..=max).contains(&n) {
                    Ok(n)
                } else {
                    Err(invalid(var, &env.get(var).unwrap_or_default(), expected))
                }
            })
            .transpose()
    };
    if let Some(n) = positive(
        "OTEL_BSP_MAX_QUEUE_SIZE",
        crate::trace::MAX_QUEUE_SIZE,
        "a number of spans from 1 to 1048576",
    )? {
        pipeline.max_queue = n;
    }
    if let Some(n) = positive(
        "OBS_BSP_MAX_QUEUE_BYTES",
        usize::MAX,
        "a positive number of bytes",
    )? {
        pipeline.max_queue_bytes = n;
    }
    if let Some(n) = positive(
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        usize::MAX,
        "a positive number of spans",
    )? {
        pipeline.max_batch = n;
    }
    if let Some(ms) =
        parse_number::<u64>(env, "OTEL_BSP_SCHEDULE_DELAY", "a delay in milliseconds")?
    {
        pipeline.delay = Duration::from_millis(ms);
    }
    Ok(pipeline)
}

/// The metrics server, unless `OBS_METRICS_ADDR=off` or code turned it off.
pub(super) fn metrics_server(
    s: &mut Settings,
    env: &Env,
) -> Result<Option<ServerConfig>, InitError> {
    // Metrics server.
    let addr = match s.metrics {
        Metrics::At(addr) => Some(addr),
        Metrics::Off => None,
        Metrics::FromEnv => match env.get("OBS_METRICS_ADDR") {
            None => Some(ServerConfig::default().addr),
            Some(raw) if matches!(raw.trim(), "off" | "none" | "false" | "0") => None,
            Some(raw) => Some(raw.trim().parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "OBS_METRICS_ADDR",
                    &raw,
                    "a socket address such as `127.0.0.1:9464` or `0.0.0.0:9464`, or `off`",
                )
            })?),
        },
    };
    let token = s
        .metrics_token
        .take()
        .or_else(|| env.get("OBS_METRICS_TOKEN"));
    let metrics = addr.map(|addr| ServerConfig {
        addr,
        token,
        ready: s
            .ready
            .take()
            .unwrap_or_else(|| ServerConfig::default().ready),
        ..ServerConfig::default()
    });
    Ok(metrics)
}
