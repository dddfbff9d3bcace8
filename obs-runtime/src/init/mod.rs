//! `init()`: one call that installs traces, logs and the metrics endpoint.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

use crate::http::server::{MetricsServer, ServerConfig};
use crate::log::{LogFormat, LogLayer, LogWriter};
use crate::trace::propagation::percent_decode;
use crate::trace::{
    AttrValue, ExportError, Pipeline, PipelineConfig, Resource, Sampler, SpanExporter, SpanLimits,
    TailSampling, TraceLayer,
};

/// Starts configuring the runtime: see [`Builder`].
///
/// ```no_run
/// fn main() -> Result<(), obs_runtime::init::InitError> {
///     let _telemetry = obs_runtime::init()
///         .service_name("orders")
///         .service_version(env!("CARGO_PKG_VERSION"))
///         .install()?;
///     tracing::info!("listening");
///     Ok(()) // dropping the guard flushes the spans still queued
/// }
/// ```
pub fn init() -> Builder {
    Builder::default()
}

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[cfg(feature = "otlp")]
pub use crate::trace::Protocol;

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`); export needs the `otlp` feature.
#[cfg(not(feature = "otlp"))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// Protobuf over HTTP.
    #[default]
    HttpProtobuf,
    /// gRPC.
    Grpc,
}

/// Why [`Builder::install`] failed. Nothing is installed when it fails.
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

/// Where settings not made in code come from.
#[derive(Clone)]
enum Env {
    Process,
    Map(Arc<HashMap<String, String>>),
}

impl Env {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            Self::Process => std::env::var(name).ok(),
            Self::Map(map) => map.get(name).cloned(),
        }
        .filter(|v| !v.trim().is_empty())
    }
}

/// Configures and installs the runtime: a `tracing` subscriber with an env filter, the
/// trace layer with OTLP export, JSON logs and the embedded metrics server.
///
/// Settings made in code win over the environment. The environment is read by
/// [`build`](Self::build)/[`install`](Self::install):
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `OTEL_SDK_DISABLED` | `true` turns trace export off | `false` |
/// | `OTEL_SERVICE_NAME` | `service.name` | `unknown_service:<executable>` |
/// | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,…` resource attributes (percent-encoded) | |
/// | `OTEL_EXPORTER_OTLP_ENDPOINT` | collector base URL; HTTP appends `/v1/traces` | none: no export |
/// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | full traces URL, used as is | |
/// | `OTEL_EXPORTER_OTLP_PROTOCOL`, `…_TRACES_PROTOCOL` | `http/protobuf` or `grpc` | `http/protobuf` |
/// | `OTEL_EXPORTER_OTLP_HEADERS`, `…_TRACES_HEADERS` | `key=value,…` sent with every export | |
/// | `OTEL_EXPORTER_OTLP_TIMEOUT`, `…_TRACES_TIMEOUT` | export timeout, milliseconds | 10000 |
/// | `OTEL_TRACES_EXPORTER` | `otlp` or `none` | `otlp` |
/// | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` | `parentbased_always_on` |
/// | `OTEL_TRACES_SAMPLER_ARG` | the ratio, in `[0, 1]` | `1.0` |
/// | `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT` | span limits ([`SpanLimits`](crate::trace::SpanLimits)) | 4096 bytes, 128, 128 |
/// | `OBS_BSP_MAX_QUEUE_BYTES` | estimated bytes of spans waiting for export | 32 MiB |
/// | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_SCHEDULE_DELAY` | batch queue size (at most 1 048 576), batch size, delay in ms | 2048, 512, 5000 |
/// | `RUST_LOG` | `tracing` filter directives | `info` |
/// | `OBS_LOG_FORMAT` | `json`, `pretty` or `auto` | `auto`: pretty on a terminal |
/// | `OBS_METRICS_ADDR` | metrics server address, or `off` | `127.0.0.1:9464` |
/// | `OBS_METRICS_TOKEN` | bearer token required by `/metrics` | none |
///
/// An invalid value is an [`InitError`] naming the variable and what it accepts.
///
/// ```
/// let error = obs_runtime::init()
///     .env([("OTEL_TRACES_SAMPLER", "sometimes")])
///     .build()
///     .unwrap_err();
/// assert!(error.to_string().starts_with("invalid OTEL_TRACES_SAMPLER=\"sometimes\": expected one of"));
/// ```
#[must_use = "call `install()` (or `build()`) to apply the configuration"]
pub struct Builder {
    env: Env,
    service_name: Option<String>,
    service_version: Option<String>,
    environment: Option<String>,
    resource: Vec<(String, AttrValue)>,
    endpoint: Option<String>,
    protocol: Option<Protocol>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    sampler: Option<Sampler>,
    tail: Option<TailSampling>,
    pipeline: Option<PipelineConfig>,
    exporter: Option<Box<dyn SpanExporter>>,
    logs: bool,
    log_format: Option<LogFormat>,
    log_filter: Option<String>,
    log_writer: Option<LogWriter>,
    log_allowed: Vec<Cow<'static, str>>,
    metrics: Metrics,
    metrics_token: Option<String>,
    ready: Option<crate::http::server::ReadyCheck>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            env: Env::Process,
            service_name: None,
            service_version: None,
            environment: None,
            resource: Vec::new(),
            endpoint: None,
            protocol: None,
            headers: Vec::new(),
            timeout: None,
            sampler: None,
            tail: None,
            pipeline: None,
            exporter: None,
            logs: true,
            log_format: None,
            log_filter: None,
            log_writer: None,
            log_allowed: Vec::new(),
            metrics: Metrics::FromEnv,
            metrics_token: None,
            ready: None,
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("service_name", &self.service_name)
            .field("endpoint", &self.endpoint)
            .field("sampler", &self.sampler)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Reads settings from `vars` instead of the process environment (for tests, and for
    /// programs that load their configuration elsewhere).
    pub fn env<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env = Env::Map(Arc::new(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ));
        self
    }

    /// `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// `service.version`, typically `env!("CARGO_PKG_VERSION")`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// `deployment.environment.name` (`production`, `staging`, …).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Another resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource
            .push((key.into(), AttrValue::Str(Cow::Owned(value.into()))));
        self
    }

    /// The collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The OTLP transport.
    pub fn otlp_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// A header sent with every export (an API key, say).
    pub fn otlp_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// The export timeout.
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The head sampler.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// Turns tail sampling on.
    pub fn tail_sampling(mut self, tail: TailSampling) -> Self {
        self.tail = Some(tail);
        self
    }

    /// Queue and batch sizes (its `tail` and `resource` are replaced by the builder's).
    pub fn batch(mut self, config: PipelineConfig) -> Self {
        self.pipeline = Some(config);
        self
    }

    /// Exports spans with `exporter` instead of OTLP.
    pub fn exporter(mut self, exporter: impl SpanExporter) -> Self {
        self.exporter = Some(Box::new(exporter));
        self
    }

    /// Whether to install the log layer (default `true`); turn it off to add your own.
    pub fn logs(mut self, on: bool) -> Self {
        self.logs = on;
        self
    }

    /// The log format.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = Some(format);
        self
    }

    /// Filter directives, as `RUST_LOG`.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = Some(directives.into());
        self
    }

    /// Where log lines go (default standard output).
    pub fn log_writer(mut self, writer: LogWriter) -> Self {
        self.log_writer = Some(writer);
        self
    }

    /// Logs `key`'s value although its name looks sensitive.
    pub fn allow_log_field(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.log_allowed.push(key.into());
        self
    }

    /// The metrics server's address; `None` turns it off.
    pub fn metrics_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.metrics = match addr {
            Some(addr) => Metrics::At(addr),
            None => Metrics::Off,
        };
        self
    }

    /// Requires `Authorization: Bearer <token>` on `/metrics`.
    pub fn metrics_token(mut self, token: impl Into<String>) -> Self {
        self.metrics_token = Some(token.into());
        self
    }

    /// What `/health/ready` reports.
    pub fn ready(mut self, check: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.ready = Some(Arc::new(check));
        self
    }

    /// Builds everything without touching global state: the returned [`Telemetry`] holds
    /// the dispatcher to install (or to use with `tracing::dispatcher::with_default`).
    /// The metrics server, if on, is already listening.
    ///
    /// # Errors
    ///
    /// An invalid setting or environment value, a metrics address that cannot be bound,
    /// an exporter that cannot be built, or [`InitError::Catalogue`] when two `metric!`
    /// declarations share a name (the error names both places).
    pub fn build(self) -> Result<Telemetry, InitError> {
        crate::metrics::Registry::global()
            .check()
            .map_err(InitError::Catalogue)?;
        let config = Config::resolve(self)?;
        config.start()
    }

    /// Builds and installs: the global `tracing` subscriber, (with the `log` feature) a
    /// `log` crate logger that forwards records to it, and (with the `otlp` feature) the
    /// W3C trace-context and baggage propagators in `opentelemetry::global`. Keep the guard alive; dropping it flushes spans and
    /// stops the metrics server.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), and [`InitError::AlreadyInstalled`] when a global
    /// subscriber is already set.
    pub fn install(self) -> Result<Guard, InitError> {
        let telemetry = self.build()?;
        tracing::dispatcher::set_global_default(telemetry.dispatch.clone())
            .map_err(|_| InitError::AlreadyInstalled)?;
        // Libraries that log through the `log` crate reach the same logs. Another `log`
        // logger already set wins; that is not an error here.
        #[cfg(feature = "log")]
        let _ = tracing_log::LogTracer::init();
        #[cfg(feature = "otlp")]
        opentelemetry::global::set_text_map_propagator(
            opentelemetry::propagation::TextMapCompositePropagator::new(vec![
                Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new()),
                Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new()),
            ]),
        );
        Ok(telemetry.guard)
    }
}

/// A built runtime: the dispatcher and the guard that owns the pipeline and server.
#[derive(Debug)]
pub struct Telemetry {
    /// The subscriber, ready to install.
    pub dispatch: tracing::Dispatch,
    /// Flushes and stops on drop.
    pub guard: Guard,
}

/// Keeps the runtime's background work alive; on drop, exports the spans still queued
/// (waiting up to 5 s) and stops the metrics server.
///
/// ```
/// let telemetry = obs_runtime::init()
///     .env([("OBS_METRICS_ADDR", "127.0.0.1:0")])
///     .build()
///     .unwrap();
/// let guard = telemetry.guard;
/// let addr = guard.metrics_addr().unwrap();
/// assert!(guard.summary().contains(&format!("metrics on http://{addr}/metrics")));
/// assert!(guard.flush(std::time::Duration::from_secs(1)));
/// drop(guard); // the metrics server stops
/// ```
#[must_use = "dropping the guard stops export and the metrics server"]
pub struct Guard {
    pipeline: Option<Pipeline>,
    server: Option<MetricsServer>,
    summary: String,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// The span pipeline, when spans are exported.
    pub fn pipeline(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }

    /// Where the metrics server listens, when on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(MetricsServer::local_addr)
    }

    /// One line saying what was installed, for a startup log.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// Exports what is queued, waiting at most `timeout`; `false` on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.pipeline
            .as_ref()
            .is_none_or(|p| p.force_flush(timeout))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.shutdown(Duration::from_secs(5));
        }
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}

/// The global filter: `Targets` when the directives are static (`info,my_crate=debug`),
/// which keeps no per-span state; `EnvFilter` when they filter on spans or fields
/// (`[request{id=1}]=trace`), whose per-span bookkeeping takes a lock on every enter,
/// exit and close.
enum Filter {
    Static(tracing_subscriber::filter::Targets),
    Dynamic(Box<EnvFilter>),
}

/// The metrics server setting.
#[derive(Clone, Copy)]
enum Metrics {
    FromEnv,
    At(SocketAddr),
    Off,
}

/// Builds the exporter on the pipeline's own thread (see [`Pipeline::start_with`]).
type ExporterFactory =
    Box<dyn FnOnce() -> Result<Box<dyn SpanExporter>, ExportError> + Send + 'static>;

/// Every setting resolved and validated.
struct Config {
    resource: Resource,
    export: Option<ExporterFactory>,
    export_desc: String,
    sampler: Sampler,
    pipeline: PipelineConfig,
    limits: SpanLimits,
    filter: Filter,
    logs: Option<LogLayer>,
    metrics: Option<ServerConfig>,
}

/// Variables whose values carry credentials although their names do not say so.
const SECRET_VARS: [&str; 3] = [
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OBS_METRICS_TOKEN",
];

/// An invalid variable. The value is kept only where it cannot hold a secret: the value
/// of a secret-bearing variable is never echoed, and credentials in a URL are masked.
fn invalid(name: &'static str, value: &str, expected: impl Into<Cow<'static, str>>) -> InitError {
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

/// Parses `key=value,…` with percent-encoded values.
fn parse_pairs(name: &'static str, raw: &str) -> Result<Vec<(String, String)>, InitError> {
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| invalid(name, raw, "a comma-separated list of key=value pairs"))?;
        let v = percent_decode(v.trim())
            .ok_or_else(|| invalid(name, raw, "percent-encoded values (`%20` for a space)"))?;
        out.push((k.trim().to_owned(), v));
    }
    Ok(out)
}

fn parse_number<T: std::str::FromStr>(
    env: &Env,
    name: &'static str,
    expected: &'static str,
) -> Result<Option<T>, InitError> {
    env.get(name)
        .map(|raw| {
            raw.trim()
                .parse()
                .map_err(|_| invalid(name, &raw, expected))
        })
        .transpose()
}

fn is_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://")) && s.len() > "https://".len()
}

impl Config {
    #[allow(
        clippy::too_many_lines,
        reason = "one pass over every setting, in table order"
    )]
    fn resolve(b: Builder) -> Result<Self, InitError> {
        let env = b.env.clone();

        // Resource.
        let mut resource = Resource::default();
        if let Some(raw) = env.get("OTEL_RESOURCE_ATTRIBUTES") {
            for (k, v) in parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &raw)? {
                resource.set(k, AttrValue::Str(Cow::Owned(v)));
            }
        }
        let service_name = b
            .service_name
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
        if let Some(v) = b.service_version {
            resource.set("service.version", AttrValue::Str(Cow::Owned(v)));
        }
        if let Some(v) = b.environment {
            resource.set("deployment.environment.name", AttrValue::Str(Cow::Owned(v)));
        }
        for (k, v) in b.resource {
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

        // Sampler.
        let sampler = match b.sampler {
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
            if let Some(n) = parse_number::<usize>(&env, var, what)? {
                *slot = n;
            }
        }

        // Batch pipeline.
        let mut pipeline = b.pipeline.unwrap_or_default();
        if let Some(n) = parse_number::<usize>(
            &env,
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "a number of spans from 1 to 1048576",
        )? {
            if n > crate::trace::MAX_QUEUE_SIZE {
                let raw = env.get("OTEL_BSP_MAX_QUEUE_SIZE").unwrap_or_default();
                return Err(invalid(
                    "OTEL_BSP_MAX_QUEUE_SIZE",
                    &raw,
                    "a number of spans from 1 to 1048576",
                ));
            }
            pipeline.max_queue = n.max(1);
        }
        if let Some(n) =
            parse_number::<usize>(&env, "OBS_BSP_MAX_QUEUE_BYTES", "a number of bytes")?
        {
            pipeline.max_queue_bytes = n.max(1);
        }
        if let Some(n) = parse_number::<usize>(
            &env,
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            "a positive number of spans",
        )? {
            pipeline.max_batch = n.max(1);
        }
        if let Some(ms) =
            parse_number::<u64>(&env, "OTEL_BSP_SCHEDULE_DELAY", "a delay in milliseconds")?
        {
            pipeline.delay = Duration::from_millis(ms);
        }
        pipeline.tail = b.tail;
        pipeline.resource = resource.clone();

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
        let protocol = if let Some(p) = b.protocol {
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
                Some("grpc") => Protocol::Grpc,
                Some(other) => {
                    return Err(invalid(
                        name,
                        other,
                        "`http/protobuf` or `grpc` (`http/json` is not supported)",
                    ));
                }
            }
        };
        let endpoint = match (&b.endpoint, env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
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
        let mut headers = b.headers;
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
        let timeout = if let Some(t) = b.timeout {
            t
        } else {
            let traces = parse_number::<u64>(
                &env,
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "a timeout in milliseconds",
            )?;
            let all = parse_number::<u64>(
                &env,
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "a timeout in milliseconds",
            )?;
            Duration::from_millis(traces.or(all).unwrap_or(10_000))
        };
        let (export, export_desc): (Option<ExporterFactory>, String) = if disabled || exporter_none
        {
            (None, "trace export off".to_owned())
        } else if let Some(exporter) = b.exporter {
            let factory: ExporterFactory = Box::new(move || Ok(exporter));
            (Some(factory), "traces to a custom exporter".to_owned())
        } else if let Some(endpoint) = endpoint {
            otlp_exporter(protocol, &endpoint, &headers, timeout)?
        } else {
            (None, "no OTLP endpoint: traces are not exported".to_owned())
        };

        // Logs.
        let (filter_name, directives) = match b.log_filter {
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
        let format = match b.log_format {
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
        let logs = b.logs.then(|| {
            b.log_allowed.into_iter().fold(
                LogLayer::new(format, b.log_writer.unwrap_or_else(LogWriter::stdout)),
                LogLayer::allow,
            )
        });

        // Metrics server.
        let addr = match b.metrics {
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
        let token = b.metrics_token.or_else(|| env.get("OBS_METRICS_TOKEN"));
        let metrics = addr.map(|addr| ServerConfig {
            addr,
            token,
            ready: b.ready.unwrap_or_else(|| ServerConfig::default().ready),
            ..ServerConfig::default()
        });

        Ok(Self {
            resource,
            export,
            export_desc,
            sampler,
            pipeline,
            limits,
            filter,
            logs,
            metrics,
        })
    }

    fn start(self) -> Result<Telemetry, InitError> {
        let server = match self.metrics {
            Some(config) => {
                let addr = config.addr;
                Some(
                    MetricsServer::start(config)
                        .map_err(|source| InitError::MetricsServer { addr, source })?,
                )
            }
            None => None,
        };
        let pipeline = self
            .export
            .map(|make| Pipeline::start_with(make, self.pipeline));
        let mut traces = TraceLayer::new(self.sampler).with_limits(self.limits);
        if let Some(p) = &pipeline {
            traces = traces.with_pipeline(p);
        }
        let (targets, env_filter) = match self.filter {
            Filter::Static(targets) => (Some(targets), None),
            Filter::Dynamic(filter) => (None, Some(*filter)),
        };
        let subscriber = tracing_subscriber::registry()
            .with(targets)
            .with(env_filter)
            .with(traces)
            .with(self.logs);
        let service = self
            .resource
            .get("service.name")
            .map(ToString::to_string)
            .unwrap_or_default();
        let summary = format!(
            "{service}: {}; metrics {}",
            self.export_desc,
            server.as_ref().map_or_else(
                || "server off".to_owned(),
                |s| format!("on http://{}/metrics", s.local_addr())
            ),
        );
        Ok(Telemetry {
            dispatch: tracing::Dispatch::new(subscriber),
            guard: Guard {
                pipeline,
                server,
                summary,
            },
        })
    }
}

/// The traces URL for a base endpoint: HTTP appends `/v1/traces`, gRPC uses it as is.
fn signal_url(base: &str, protocol: Protocol) -> String {
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
) -> Result<(Option<ExporterFactory>, String), InitError> {
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
        crate::trace::OtlpExporter::new(protocol, &endpoint_owned, &headers, timeout)
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
) -> Result<(Option<ExporterFactory>, String), InitError> {
    Err(InitError::InvalidSetting {
        setting: "otlp_endpoint",
        message: "an OTLP endpoint is set but obs-runtime was built without its `otlp` feature"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variable obs reads, for the property test below.
    const VARS: &[&str] = &[
        "OBS_BSP_MAX_QUEUE_BYTES",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_SPAN_EVENT_COUNT_LIMIT",
        "OBS_LOG_FORMAT",
        "OBS_METRICS_ADDR",
        "OBS_METRICS_TOKEN",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_TRACES_EXPORTER",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "RUST_LOG",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: std::env::var("OBS_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Any value of any variable is a working setup or an `InitError`: never a panic
        /// or an abort (a queue size of 10^12 used to be allocated up front).
        #[test]
        fn arbitrary_environment_values(
            var in proptest::sample::select(VARS),
            value in proptest::prelude::prop_oneof![
                "\\PC{0,80}",
                "[0-9]{1,25}",
                "(http|https)://[a-z0-9.:/]{0,30}",
                "([a-z_.]{0,10}=[^,]{0,10},?){0,5}",
            ],
        ) {
            // The metrics server stays off unless the value under test turns it on.
            let mut vars = vec![(var.to_owned(), value.clone())];
            if var != "OBS_METRICS_ADDR" {
                vars.push(("OBS_METRICS_ADDR".to_owned(), "off".to_owned()));
            }
            let _ = init().env(vars).build().map(drop);
        }
    }

    /// No error message echoes a secret: the headers variable (API keys), the token, or
    /// credentials in an endpoint URL.
    #[test]
    fn errors_never_echo_secrets() {
        for vars in [
            &[(
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer SECRET-123,broken",
            )][..],
            &[(
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "x-api-key=SECRET-123,\u{7f}=x",
            )][..],
            &[(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "ftp://collector:SECRET-123@example.com:4318",
            )][..],
            &[("OBS_METRICS_TOKEN", "SECRET-123\u{0}")][..],
        ] {
            let message = init()
                .env(vars.iter().copied())
                .metrics_addr(None)
                .build()
                .map(|_| ())
                .map_or_else(|e| e.to_string(), |()| String::new());
            assert!(!message.contains("SECRET-123"), "{message}");
        }
    }

    #[test]
    fn queue_size_beyond_the_maximum_is_an_error() {
        assert_eq!(
            error(&[("OTEL_BSP_MAX_QUEUE_SIZE", "1000000000000")]),
            "invalid OTEL_BSP_MAX_QUEUE_SIZE=\"1000000000000\": expected a number of spans from 1 to 1048576"
        );
        let ok = init()
            .env([("OTEL_BSP_MAX_QUEUE_SIZE", "1048576")])
            .metrics_addr(None)
            .build();
        assert!(ok.is_ok());
    }

    fn error(vars: &[(&str, &str)]) -> String {
        init()
            .env(vars.iter().copied())
            .metrics_addr(None)
            .build()
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn invalid_values_name_the_variable() {
        assert_eq!(
            error(&[("OTEL_TRACES_SAMPLER", "sometimes")]),
            "invalid OTEL_TRACES_SAMPLER=\"sometimes\": expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio"
        );
        assert_eq!(
            error(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "1.5")
            ]),
            "invalid OTEL_TRACES_SAMPLER_ARG=\"1.5\": expected a sampling ratio between 0 and 1"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]),
            "invalid OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\": expected `http/protobuf` or `grpc` (`http/json` is not supported)"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")]),
            "invalid OTEL_EXPORTER_OTLP_ENDPOINT=\"localhost:4317\": expected an http:// or https:// URL"
        );
        assert_eq!(
            error(&[("OTEL_EXPORTER_OTLP_HEADERS", "api-key")]),
            "invalid OTEL_EXPORTER_OTLP_HEADERS=\"[REDACTED]\": expected a comma-separated list of key=value pairs"
        );
        assert_eq!(
            error(&[("OTEL_SDK_DISABLED", "yes")]),
            "invalid OTEL_SDK_DISABLED=\"yes\": expected `true` or `false`"
        );
        assert_eq!(
            error(&[("OBS_LOG_FORMAT", "xml")]),
            "invalid OBS_LOG_FORMAT=\"xml\": expected `json`, `pretty` or `auto`"
        );
        assert!(
            error(&[("RUST_LOG", "info,[[[")])
                .starts_with("invalid RUST_LOG=\"info,[[[\": expected tracing filter directives")
        );
        // A multibyte character used to panic inside tracing-subscriber's parser.
        assert!(
            error(&[("RUST_LOG", "a=𖬙{b")])
                .starts_with("invalid RUST_LOG=\"a=𖬙{b\": expected tracing filter directives")
        );
        assert_eq!(
            init()
                .env([("OBS_METRICS_ADDR", "localhost")])
                .build()
                .map(|_| ())
                .unwrap_err()
                .to_string(),
            "invalid OBS_METRICS_ADDR=\"localhost\": expected a socket address such as `127.0.0.1:9464` or `0.0.0.0:9464`, or `off`"
        );
        assert_eq!(
            error(&[("OTEL_BSP_SCHEDULE_DELAY", "soon")]),
            "invalid OTEL_BSP_SCHEDULE_DELAY=\"soon\": expected a delay in milliseconds"
        );
    }

    #[test]
    fn resource_from_env_and_code() {
        let config = Config::resolve(
            init()
                .env([
                    (
                        "OTEL_RESOURCE_ATTRIBUTES",
                        "service.name=from-attrs,team=pay%20ments",
                    ),
                    ("OTEL_SERVICE_NAME", "from-env"),
                ])
                .service_version("1.2.3")
                .metrics_addr(None),
        )
        .map_err(|e| e.to_string())
        .unwrap();
        let get = |k: &str| config.resource.get(k).map(ToString::to_string);
        assert_eq!(get("service.name").as_deref(), Some("from-env"));
        assert_eq!(get("team").as_deref(), Some("pay ments"));
        assert_eq!(get("service.version").as_deref(), Some("1.2.3"));
        assert_eq!(get("telemetry.sdk.name").as_deref(), Some("obs"));
        assert!(config.export.is_none());
        assert_eq!(
            signal_url("http://c:4318/", Protocol::HttpProtobuf),
            "http://c:4318/v1/traces"
        );
        assert_eq!(signal_url("http://c:4317", Protocol::Grpc), "http://c:4317");
    }
}
