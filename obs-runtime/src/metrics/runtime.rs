//! What the process runs on: `target_info` (the OpenTelemetry resource as labels) and,
//! with the `tokio-runtime` feature, the stable metrics of a Tokio runtime. Both join the
//! global registry only when `init()` asks for them.

use std::sync::{Once, PoisonError, RwLock};

use super::encoding::{FamilyHeader, MetricEncoder};
use super::{Collect, MetricKind, Registry};

/// `target_info{service_name=..,service_version=..,..} 1`: the resource's identifying
/// attributes, as the OpenTelemetry–Prometheus compatibility spec names them.
struct TargetInfo {
    labels: RwLock<Vec<(String, String)>>,
}

static TARGET_INFO: TargetInfo = TargetInfo {
    labels: RwLock::new(Vec::new()),
};

impl Collect for TargetInfo {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "target",
            help: "Target metadata: the service's OpenTelemetry resource.",
            unit: None,
            kind: MetricKind::Info,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        let labels = self.labels.read().unwrap_or_else(PoisonError::into_inner);
        if labels.is_empty() {
            return;
        }
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        encoder.info(&pairs);
    }
}

/// Sets `target_info`'s labels from resource attributes (`service.name` becomes
/// `service_name`), and exposes it in the global registry from now on.
pub(crate) fn set_target_info(attributes: &[(&str, String)]) {
    static REGISTER: Once = Once::new();
    let mut labels: Vec<(String, String)> = attributes
        .iter()
        .map(|(k, v)| (k.replace(['.', '-'], "_"), v.clone()))
        .collect();
    labels.sort();
    *TARGET_INFO
        .labels
        .write()
        .unwrap_or_else(PoisonError::into_inner) = labels;
    REGISTER.call_once(|| {
        // Only fails when a `metric!` family is already named `target`: then that one
        // stays, and this one is not exposed.
        let _ = Registry::global().register(&TARGET_INFO);
    });
}

#[cfg(feature = "tokio-runtime")]
pub(crate) use tokio_metrics::observe_tokio;

#[cfg(feature = "tokio-runtime")]
mod tokio_metrics {
    use std::sync::{Once, PoisonError, RwLock};

    use tokio::runtime::{Handle, RuntimeMetrics};

    use crate::metrics::encoding::{FamilyHeader, MetricEncoder, Number};
    use crate::metrics::{Collect, MetricKind, Registry};

    /// The runtime observed (the latest one `init()` was given).
    static RUNTIME: RwLock<Option<Handle>> = RwLock::new(None);

    fn metrics() -> Option<RuntimeMetrics> {
        RUNTIME
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(Handle::metrics)
    }

    /// A gauge read from the runtime at each scrape.
    struct Gauge {
        name: &'static str,
        help: &'static str,
        read: fn(&RuntimeMetrics) -> usize,
    }

    impl Collect for Gauge {
        fn header(&self) -> FamilyHeader<'_> {
            FamilyHeader {
                name: self.name,
                help: self.help,
                unit: None,
                kind: MetricKind::Gauge,
            }
        }

        fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
            if let Some(m) = metrics() {
                let value = u64::try_from((self.read)(&m)).unwrap_or(u64::MAX);
                encoder.gauge(&[], Number::Int(value));
            }
        }
    }

    /// A per-worker counter read from the runtime at each scrape.
    #[cfg(target_has_atomic = "64")]
    struct WorkerCounter {
        name: &'static str,
        help: &'static str,
        unit: Option<&'static str>,
        read: fn(&RuntimeMetrics, usize) -> f64,
    }

    #[cfg(target_has_atomic = "64")]
    impl Collect for WorkerCounter {
        fn header(&self) -> FamilyHeader<'_> {
            FamilyHeader {
                name: self.name,
                help: self.help,
                unit: self.unit,
                kind: MetricKind::Counter,
            }
        }

        fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
            if let Some(m) = metrics() {
                for worker in 0..m.num_workers() {
                    let label = worker.to_string();
                    encoder.counter(
                        &[("worker", &label)],
                        Number::Float((self.read)(&m, worker)),
                        None,
                        None,
                    );
                }
            }
        }
    }

    static WORKERS: Gauge = Gauge {
        name: "tokio_workers",
        help: "Worker threads of the Tokio runtime.",
        read: RuntimeMetrics::num_workers,
    };
    static ALIVE_TASKS: Gauge = Gauge {
        name: "tokio_alive_tasks",
        help: "Tasks alive in the Tokio runtime (spawned, not yet finished).",
        read: RuntimeMetrics::num_alive_tasks,
    };
    static GLOBAL_QUEUE: Gauge = Gauge {
        name: "tokio_global_queue_depth",
        help: "Tasks waiting in the Tokio runtime's global (injection) queue.",
        read: RuntimeMetrics::global_queue_depth,
    };
    #[cfg(target_has_atomic = "64")]
    static BUSY: WorkerCounter = WorkerCounter {
        name: "tokio_worker_busy_seconds_total",
        help: "Time each Tokio worker spent busy, in seconds.",
        unit: Some("seconds"),
        read: |m, w| m.worker_total_busy_duration(w).as_secs_f64(),
    };
    #[cfg(target_has_atomic = "64")]
    static PARKS: WorkerCounter = WorkerCounter {
        name: "tokio_worker_parks_total",
        help: "Times each Tokio worker parked (went idle).",
        unit: None,
        #[allow(clippy::cast_precision_loss, reason = "a count below 2^53")]
        read: |m, w| m.worker_park_count(w) as f64,
    };

    /// Exposes the stable metrics of the runtime of `handle` in the global registry.
    pub(crate) fn observe_tokio(handle: Handle) {
        static REGISTER: Once = Once::new();
        *RUNTIME.write().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        REGISTER.call_once(|| {
            let registry = Registry::global();
            let mut families: Vec<&'static dyn Collect> =
                vec![&WORKERS, &ALIVE_TASKS, &GLOBAL_QUEUE];
            #[cfg(target_has_atomic = "64")]
            families.extend([&BUSY as &'static dyn Collect, &PARKS]);
            for family in families {
                let _ = registry.register(family);
            }
        });
    }
}
