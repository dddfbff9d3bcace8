//! The builder `init()` returns.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::config::Config;
use super::env::Env;
use super::error::InitError;
use super::guard::{Guard, Telemetry};
use super::settings::{Metrics, Settings};
use crate::log::{LogFormat, LogWriter};
use crate::trace::{AttrValue, PipelineConfig, Protocol, Sampler, SpanExporter, TailSampling};

/// Configures and installs the runtime: a `tracing` subscriber with an env filter, the
/// trace layer with OTLP export, JSON logs and the embedded metrics server.
///
/// Settings made in code win over the environment. The environment is read by
/// [`build`](Self::build)/[`install`](Self::install):
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `OTEL_SDK_DISABLED` | `true` turns trace and log export off | `false` |
/// | `OTEL_SERVICE_NAME` | `service.name` | `unknown_service:<executable>` |
/// | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,…` resource attributes (percent-encoded) | |
/// | `OTEL_EXPORTER_OTLP_ENDPOINT` | collector base URL; HTTP appends `/v1/traces` | none: no export |
/// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | full traces URL, used as is | |
/// | `OTEL_EXPORTER_OTLP_PROTOCOL`, `…_TRACES_PROTOCOL` | `http/protobuf` or `grpc` | `http/protobuf` |
/// | `OTEL_EXPORTER_OTLP_HEADERS`, `…_TRACES_HEADERS` | `key=value,…` sent with every export | |
/// | `OTEL_EXPORTER_OTLP_TIMEOUT`, `…_TRACES_TIMEOUT` | export timeout, milliseconds | 10000 |
/// | `OTEL_EXPORTER_OTLP_CERTIFICATE`, `…_CLIENT_CERTIFICATE`, `…_CLIENT_KEY` (and `…_TRACES_…`) | PEM files: the collector's CA, and a client certificate and key for mTLS (feature `otlp-tls`) | the Mozilla roots, no client certificate |
/// | `OTEL_TRACES_EXPORTER` | `otlp` or `none` | `otlp` |
/// | `OTEL_LOGS_EXPORTER` | `otlp` (log records to the collector), `console` (log lines to the log output), both as `otlp,console`, or `none` | both: lines, and records when an endpoint is set |
/// | `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, `…_LOGS_PROTOCOL`, `…_LOGS_HEADERS`, `…_LOGS_TIMEOUT`, `…_LOGS_CERTIFICATE`, … | the logs' own OTLP settings, as for traces; HTTP appends `/v1/logs` to the shared endpoint | the shared settings |
/// | `OTEL_BLRP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BLRP_SCHEDULE_DELAY`; `OBS_BLRP_MAX_QUEUE_BYTES` | log record queue size, batch size, delay in ms; estimated bytes queued | 2048, 512, 1000; 16 MiB |
/// | `OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT` (else `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_ATTRIBUTE_COUNT_LIMIT`) | log record limits: value length, attributes per record; cuts counted in `obs_log_record_limits_total` | 4096 bytes, 128 |
/// | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` | `parentbased_always_on` |
/// | `OTEL_TRACES_SAMPLER_ARG` | the ratio, in `[0, 1]` | `1.0` |
/// | `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT` | span limits ([`SpanLimits`](crate::trace::SpanLimits)) | 4096 bytes, 128, 128 |
/// | `OBS_BSP_MAX_QUEUE_BYTES` | estimated bytes of spans waiting for export | 32 MiB |
/// | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_SCHEDULE_DELAY` | batch queue size (at most 1 048 576), batch size, delay in ms | 2048, 512, 5000 |
/// | `RUST_LOG` | `tracing` filter directives | `info` |
/// | `OBS_LOG_FORMAT` | `json`, `pretty` or `auto` | `auto`: pretty on a terminal |
/// | `OBS_LOG_SPAN_FIELDS` | span field names, comma-separated, that follow to every log line and record inside their span | none |
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
#[derive(Default)]
pub struct Builder {
    pub(super) settings: Settings,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("service_name", &self.settings.service_name)
            .field("endpoint", &self.settings.endpoint)
            .field("sampler", &self.settings.sampler)
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
        self.settings.env = Env::Map(Arc::new(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ));
        self
    }

    /// `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.settings.service_name = Some(name.into());
        self
    }

    /// `service.version`, typically `env!("CARGO_PKG_VERSION")`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.settings.service_version = Some(version.into());
        self
    }

    /// `deployment.environment.name` (`production`, `staging`, …).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.settings.environment = Some(environment.into());
        self
    }

    /// Another resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings
            .resource
            .push((key.into(), AttrValue::Str(Cow::Owned(value.into()))));
        self
    }

    /// The collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.settings.endpoint = Some(url.into());
        self
    }

    /// The OTLP transport.
    pub fn otlp_protocol(mut self, protocol: Protocol) -> Self {
        self.settings.protocol = Some(protocol);
        self
    }

    /// A header sent with every export (an API key, say).
    pub fn otlp_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.headers.push((key.into(), value.into()));
        self
    }

    /// Whether log records also go to the collector over OTLP when an endpoint is set
    /// (`OTEL_LOGS_EXPORTER` lists `otlp`, or is unset); `false` keeps them to the log
    /// output.
    pub fn otlp_logs(mut self, on: bool) -> Self {
        self.settings.otlp_logs = Some(on);
        self
    }

    /// Span fields that follow to every log line and log record inside their span (and
    /// its descendants), as if bound with [`log::bind`](crate::log::bind): the request's
    /// `order_id` on every line its handler writes, say. As `OBS_LOG_SPAN_FIELDS`.
    ///
    /// ```
    /// use obs_runtime::log::{LogFormat, LogWriter};
    ///
    /// let (writer, lines) = LogWriter::memory();
    /// let telemetry = obs_runtime::init()
    ///     .env([("OBS_METRICS_ADDR", "off")])
    ///     .log_span_fields(["order_id"])
    ///     .log_format(LogFormat::Json)
    ///     .log_writer(writer)
    ///     .build()
    ///     .unwrap();
    /// tracing::dispatcher::with_default(&telemetry.dispatch, || {
    ///     let span = tracing::info_span!("checkout", order_id = 42, user = "ann");
    ///     span.in_scope(|| tracing::info!("charged"));
    /// });
    /// let line = &lines.lines()[0];
    /// assert!(line.contains(r#""order_id":"42""#) && !line.contains("ann"));
    /// ```
    pub fn log_span_fields<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.settings.log_span_fields = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The export timeout.
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }

    /// The head sampler.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.settings.sampler = Some(sampler);
        self
    }

    /// Turns tail sampling on.
    pub fn tail_sampling(mut self, tail: TailSampling) -> Self {
        self.settings.tail = Some(tail);
        self
    }

    /// Queue and batch sizes.
    pub fn batch(mut self, config: PipelineConfig) -> Self {
        self.settings.pipeline = Some(config);
        self
    }

    /// Exports spans with `exporter` instead of OTLP.
    pub fn exporter(mut self, exporter: impl SpanExporter) -> Self {
        self.settings.exporter = Some(Box::new(exporter));
        self
    }

    /// Whether to install the log layer (default `true`); turn it off to add your own.
    pub fn logs(mut self, on: bool) -> Self {
        self.settings.logs = on;
        self
    }

    /// The log format.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.settings.log_format = Some(format);
        self
    }

    /// Filter directives, as `RUST_LOG`.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.settings.log_filter = Some(directives.into());
        self
    }

    /// Where log lines go (default standard output).
    pub fn log_writer(mut self, writer: LogWriter) -> Self {
        self.settings.log_writer = Some(writer);
        self
    }

    /// Logs `key`'s value although its name looks sensitive.
    pub fn allow_log_field(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.settings.log_allowed.push(key.into());
        self
    }

    /// The metrics server's address; `None` turns it off.
    pub fn metrics_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.settings.metrics = match addr {
            Some(addr) => Metrics::At(addr),
            None => Metrics::Off,
        };
        self
    }

    /// Requires `Authorization: Bearer <token>` on `/metrics`.
    pub fn metrics_token(mut self, token: impl Into<String>) -> Self {
        self.settings.metrics_token = Some(token.into());
        self
    }

    /// Exposes the stable metrics of the Tokio runtime of `handle` (feature
    /// `tokio-runtime`): `tokio_workers`, `tokio_alive_tasks`, `tokio_global_queue_depth`,
    /// and per worker `tokio_worker_busy_seconds_total` and `tokio_worker_parks_total`.
    ///
    /// ```
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let builder = obs_runtime::init().tokio_runtime(rt.handle().clone());
    /// # drop(builder);
    /// ```
    #[cfg(feature = "tokio-runtime")]
    pub fn tokio_runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.settings.tokio = Some(handle);
        self
    }

    /// What `/health/ready` reports.
    pub fn ready(mut self, check: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.settings.ready = Some(Arc::new(check));
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
        let config = Config::resolve(self.settings)?;
        config.start()
    }

    /// Builds and installs: the global `tracing` subscriber, a panic hook in front of the
    /// current one (it keeps a panic's message and, when `RUST_BACKTRACE` asks for one,
    /// its backtrace for the `exception` event, then calls the previous hook), (with the `log` feature) a
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
        if let Some(pipeline) = telemetry.guard.pipeline() {
            pipeline.reports_to_global();
        }
        if let Some(pipeline) = telemetry.guard.log_pipeline() {
            pipeline.reports_to_global();
        }
        // A panic's message and backtrace reach the `exception` event of the observed
        // call it unwinds through; the program's own hook still runs after.
        crate::observe::panic::install_hook();
        // Libraries that log through the `log` crate reach the same logs. Another `log`
        // logger already set wins; that is not an error here.
        #[cfg(feature = "log-bridge")]
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
