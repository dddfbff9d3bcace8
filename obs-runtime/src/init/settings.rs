//! The settings made in code, before the environment fills in the rest.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use super::env::Env;
use crate::http::server::ReadyCheck;
use crate::log::{LogFormat, LogWriter};
use crate::trace::{AttrValue, PipelineConfig, Protocol, Sampler, SpanExporter, TailSampling};

/// What the [`Builder`](super::Builder) was told in code.
pub(super) struct Settings {
    pub(super) env: Env,
    pub(super) service_name: Option<String>,
    pub(super) service_version: Option<String>,
    pub(super) environment: Option<String>,
    pub(super) resource: Vec<(String, AttrValue)>,
    pub(super) endpoint: Option<String>,
    pub(super) protocol: Option<Protocol>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) timeout: Option<Duration>,
    pub(super) sampler: Option<Sampler>,
    pub(super) tail: Option<TailSampling>,
    pub(super) pipeline: Option<PipelineConfig>,
    pub(super) exporter: Option<Box<dyn SpanExporter>>,
    pub(super) logs: bool,
    pub(super) otlp_logs: Option<bool>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) log_filter: Option<String>,
    pub(super) log_writer: Option<LogWriter>,
    pub(super) log_allowed: Vec<Cow<'static, str>>,
    pub(super) log_span_fields: Option<Vec<String>>,
    pub(super) metrics: Metrics,
    pub(super) metrics_token: Option<String>,
    pub(super) ready: Option<ReadyCheck>,
    #[cfg(feature = "tokio-runtime")]
    pub(super) tokio: Option<tokio::runtime::Handle>,
}

impl Default for Settings {
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
            otlp_logs: None,
            log_format: None,
            log_filter: None,
            log_writer: None,
            log_allowed: Vec::new(),
            log_span_fields: None,
            metrics: Metrics::FromEnv,
            metrics_token: None,
            ready: None,
            #[cfg(feature = "tokio-runtime")]
            tokio: None,
        }
    }
}

/// The metrics server setting.
#[derive(Clone, Copy)]
pub(super) enum Metrics {
    FromEnv,
    At(SocketAddr),
    Off,
}
