//! Every setting resolved, and the runtime assembled from them.

use tracing_subscriber::layer::SubscriberExt;

use super::error::InitError;
use super::export::{self, ExporterFactory};
use super::guard::{Guard, Telemetry};
use super::log_export::{LogExport, log_export};
use super::logs::{self, Filter};
use super::resolve;
use super::settings::Settings;
use crate::http::server::{MetricsServer, ServerConfig};
use crate::log::{LogExportLayer, LogLayer, LogPipeline, LogWriter, SpanFieldsLayer};
use crate::trace::{
    Pipeline, PipelineConfig, Resource, Sampler, SpanLimits, TailSampling, TraceLayer,
};

/// Every setting resolved and validated.
pub(super) struct Config {
    pub(super) resource: Resource,
    pub(super) export: Option<ExporterFactory>,
    pub(super) export_desc: String,
    pub(super) sampler: Sampler,
    pub(super) pipeline: PipelineConfig,
    pub(super) tail: Option<TailSampling>,
    pub(super) limits: SpanLimits,
    pub(super) filter: Filter,
    pub(super) logs: Option<LogLayer>,
    pub(super) log_writer: Option<LogWriter>,
    pub(super) log_export: LogExport,
    /// Keys exported even though they look secret.
    pub(super) log_allowed: Vec<std::borrow::Cow<'static, str>>,
    /// Span fields bound to the lines and records inside their span.
    pub(super) log_span_fields: Vec<String>,
    pub(super) metrics: Option<ServerConfig>,
    #[cfg(feature = "tokio-runtime")]
    pub(super) tokio: Option<tokio::runtime::Handle>,
}

impl Config {
    /// Resolves every group of settings, code first, then the environment.
    pub(super) fn resolve(mut s: Settings) -> Result<Self, InitError> {
        let env = s.env.clone();
        let resource = resolve::resource(&mut s, &env)?;
        let sampler = resolve::sampler(s.sampler.take(), &env)?;
        let limits = resolve::span_limits(&env)?;
        let pipeline = resolve::batch(s.pipeline.take(), &env)?;
        let tail = s.tail.take();
        let (export, export_desc) = export::export(&mut s, &env)?;
        let filter = logs::filter(&mut s, &env)?;
        let log_export = log_export(&s, &env)?;
        let log_allowed = s.log_allowed.clone();
        let log_span_fields = match s.log_span_fields.take() {
            Some(names) => names,
            None => env
                .get("OBS_LOG_SPAN_FIELDS")
                .map(|raw| {
                    raw.split(',')
                        .map(|n| n.trim().to_owned())
                        .filter(|n| !n.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        };
        let (logs, log_writer) = logs::logs(&mut s, &env, &resource, log_export.console)?.unzip();
        let mut metrics = resolve::metrics_server(&mut s, &env)?;
        if let (Some(server), Some(name)) = (&mut metrics, resource.get("service.name")) {
            // The generated dashboard and rules select the service's Prometheus job.
            server.service = name.to_string();
        }
        Ok(Self {
            resource,
            export,
            export_desc,
            sampler,
            pipeline,
            tail,
            limits,
            filter,
            logs,
            log_writer,
            log_export,
            log_allowed,
            log_span_fields,
            metrics,
            #[cfg(feature = "tokio-runtime")]
            tokio: s.tokio.take(),
        })
    }

    pub(super) fn start(self) -> Result<Telemetry, InitError> {
        // `target_info`: the resource's identity, on a constant 1.
        let identity: Vec<(&str, String)> = [
            "service.name",
            "service.namespace",
            "service.version",
            "service.instance.id",
            "deployment.environment.name",
        ]
        .into_iter()
        .filter_map(|k| self.resource.get(k).map(|v| (k, v.to_string())))
        .collect();
        crate::metrics::runtime::set_target_info(&identity);
        #[cfg(feature = "tokio-runtime")]
        if let Some(handle) = self.tokio.clone() {
            crate::metrics::runtime::observe_tokio(handle);
        }
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
        let resource = self.resource.clone();
        let pipeline = self.export.map(|make| {
            // The exporter learns the resource on the export thread, where it is built.
            let make = move || {
                make().map(|mut exporter| {
                    exporter.set_resource(&resource);
                    exporter
                })
            };
            Pipeline::start_with(make, self.pipeline, self.tail)
        });
        let mut traces = TraceLayer::new(self.sampler).with_limits(self.limits);
        if let Some(p) = &pipeline {
            traces = traces.with_pipeline(p);
        }
        let (targets, env_filter) = match self.filter {
            Filter::Static(targets) => (Some(targets), None),
            Filter::Dynamic(filter) => (None, Some(*filter)),
        };
        let log_pipeline = self
            .log_export
            .factory
            .map(|make| LogPipeline::start(make, self.log_export.batch, self.resource.clone()));
        let log_records = log_pipeline
            .as_ref()
            .map(|p| LogExportLayer::new(p.clone(), self.log_allowed, self.log_export.limits));
        let span_fields =
            (!self.log_span_fields.is_empty()).then(|| SpanFieldsLayer::new(self.log_span_fields));
        let subscriber = tracing_subscriber::registry()
            .with(targets)
            .with(env_filter)
            .with(traces)
            .with(span_fields)
            .with(self.logs)
            .with(log_records);
        let service = self
            .resource
            .get("service.name")
            .map(ToString::to_string)
            .unwrap_or_default();
        let summary = format!(
            "{service}: {}; {}; metrics {}",
            self.export_desc,
            self.log_export.desc,
            server.as_ref().map_or_else(
                || "server off".to_owned(),
                |s| format!("on http://{}/metrics", s.local_addr())
            ),
        );
        let dispatch = tracing::Dispatch::new(subscriber);
        if let Some(p) = &pipeline {
            p.report_to(&dispatch);
        }
        if let Some(p) = &log_pipeline {
            p.report_to(&dispatch);
        }
        Ok(Telemetry {
            dispatch,
            guard: Guard {
                pipeline,
                log_pipeline,
                server,
                summary,
                log_writer: self.log_writer,
            },
        })
    }
}
