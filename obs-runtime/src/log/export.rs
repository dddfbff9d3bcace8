//! Log records on their way to a collector: the record, the exporter interface, and the
//! bounded batch queue between the layer and the exporter (the `OTEL_BLRP_*` settings).
//! Bounded by count and bytes like the span queue; what it drops is counted in
//! `obs_log_records_dropped_total{reason}`; the first failed export is said with its
//! cause, as for spans.

use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::Level;

use crate::metrics::self_metrics::{
    LOG_EXPORT_ERRORS, LOG_RECORDS_DROPPED, LOG_RECORDS_EXPORTED, LogDropReason,
};
use crate::trace::queue::{BatchQueue, Batcher, CloseOnDrop};
use crate::trace::{AttrValue, ExportError, ExportTarget, Resource, SpanContext};
use crate::trace::{Trouble, mark_export_thread};

/// One log record, as exported: what the event said, where, and in which span.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LogRecord {
    /// When the event happened.
    pub(crate) time_unix_nanos: u64,
    pub(crate) level: Level,
    /// The event's target (a module path): the record's instrumentation scope.
    pub(crate) target: Cow<'static, str>,
    /// The message.
    pub(crate) body: String,
    /// The event's fields; secrets redacted.
    pub(crate) attributes: Vec<(&'static str, AttrValue)>,
    /// The fields bound to its span that the event does not set itself; secrets
    /// redacted.
    pub(crate) bound: Vec<(&'static str, Arc<str>)>,
    /// Attributes the count limit dropped.
    pub(crate) dropped_attributes: u32,
    /// The span it was written in.
    pub(crate) context: Option<SpanContext>,
}

impl LogRecord {
    /// Bytes it holds, estimated, for the queue's byte bound.
    pub(crate) fn approx_bytes(&self) -> usize {
        core::mem::size_of::<Self>()
            + self.target.len()
            + self.body.len()
            + self
                .attributes
                .iter()
                .map(|(_, v)| {
                    core::mem::size_of::<(&str, AttrValue)>()
                        + match v {
                            AttrValue::Str(s) => s.len(),
                            _ => 0,
                        }
                })
                .sum::<usize>()
            + self
                .bound
                .iter()
                .map(|(_, v)| core::mem::size_of::<(&str, Arc<str>)>() + v.len())
                .sum::<usize>()
    }
}

/// Sends batches of log records somewhere, from the pipeline's own thread.
pub(crate) trait LogExporter: Send + 'static {
    /// Exports one batch; an error drops it (counted, not retried).
    fn export(&mut self, batch: Vec<LogRecord>) -> Result<(), ExportError>;

    /// The resource of every record that follows; called before the first batch.
    fn set_resource(&mut self, resource: &Resource);

    /// Where it sends, for the lines about its trouble.
    fn target(&self) -> Option<ExportTarget>;
}

/// Stands in for an exporter that could not be built: every batch fails with why.
struct Unavailable(ExportError);

impl LogExporter for Unavailable {
    fn export(&mut self, _batch: Vec<LogRecord>) -> Result<(), ExportError> {
        Err(self.0.clone())
    }

    fn set_resource(&mut self, _resource: &Resource) {}

    fn target(&self) -> Option<ExportTarget> {
        None
    }
}

/// What one exported record may hold (`OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT` and
/// `…_COUNT_LIMIT`, else the general `OTEL_ATTRIBUTE_*`): as for spans, values are cut at
/// 4 096 bytes by default (the specification sets no limit; fields often carry what
/// clients sent) and at most 128 attributes are kept. What they cut is counted in
/// `obs_log_record_limits_total{limit}` and in the record's `dropped_attributes_count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogRecordLimits {
    pub(crate) attribute_value_length: usize,
    pub(crate) attribute_count: usize,
}

impl Default for LogRecordLimits {
    fn default() -> Self {
        Self {
            attribute_value_length: 4096,
            attribute_count: 128,
        }
    }
}

/// Sizes and timing of the log batch queue (`OTEL_BLRP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogBatchConfig {
    /// Records waiting for the exporter (`OTEL_BLRP_MAX_QUEUE_SIZE`, default 2048).
    pub(crate) max_queue: usize,
    /// Their estimated bytes (`OBS_BLRP_MAX_QUEUE_BYTES`, default 16 MiB).
    pub(crate) max_queue_bytes: usize,
    /// Records per export (`OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`, default 512).
    pub(crate) max_batch: usize,
    /// Longest a record waits before its batch is exported (`OTEL_BLRP_SCHEDULE_DELAY`,
    /// default 1 s).
    pub(crate) delay: Duration,
}

impl Default for LogBatchConfig {
    fn default() -> Self {
        Self {
            max_queue: 2048,
            max_queue_bytes: 16 << 20,
            max_batch: 512,
            delay: Duration::from_secs(1),
        }
    }
}

#[derive(Default)]
struct Counters {
    exported: AtomicU64,
    queue_full: AtomicU64,
    export_failed: AtomicU64,
    export_errors: AtomicU64,
}

struct Shared {
    queue: BatchQueue<LogRecord>,
    counters: Counters,
    worker: Mutex<Option<JoinHandle<()>>>,
    dispatch: OnceLock<tracing::dispatcher::WeakDispatch>,
    /// That subscriber is the global default: the lines are written without a scoped
    /// default, which would put every thread's `tracing` calls on the slow path while
    /// set (and hand a nested dispatch the no-op subscriber).
    global: AtomicBool,
}

/// Counts of one log pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogPipelineStats {
    /// Records an exporter accepted.
    pub exported: u64,
    /// Records dropped because the queue was full.
    pub queue_full: u64,
    /// Records lost with a failed export.
    pub export_failed: u64,
    /// Failed export calls.
    pub export_errors: u64,
}

/// A running log pipeline: a bounded queue and the thread that exports from it. Clones
/// share it.
#[derive(Clone)]
pub struct LogPipeline {
    shared: Arc<Shared>,
}

impl fmt::Debug for LogPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogPipeline")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Builds a log exporter on the pipeline's thread.
pub(crate) type LogExporterFactory =
    Box<dyn FnOnce() -> Result<Box<dyn LogExporter>, ExportError> + Send + 'static>;

impl LogPipeline {
    /// Starts the export thread, building the exporter on it with `make`, and giving it
    /// `resource`.
    pub(crate) fn start(
        make: LogExporterFactory,
        config: LogBatchConfig,
        resource: Resource,
    ) -> Self {
        let max_batch = config.max_batch.clamp(1, 4096);
        let shared = Arc::new(Shared {
            queue: BatchQueue::new(config.max_queue, config.max_queue_bytes, max_batch),
            counters: Counters::default(),
            worker: Mutex::new(None),
            dispatch: OnceLock::new(),
            global: AtomicBool::new(false),
        });
        let worker_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("obs-log-export".into())
            .spawn(move || {
                mark_export_thread();
                let _close = CloseOnDrop(&worker_shared.queue);
                let mut exporter = make().unwrap_or_else(|e| Box::new(Unavailable(e)));
                exporter.set_resource(&resource);
                let mut worker = Worker {
                    exporter,
                    batch: Vec::new(),
                    trouble: Trouble::new("logs", "log records"),
                    shared: Arc::clone(&worker_shared),
                };
                crate::trace::queue::run(
                    &worker_shared.queue,
                    &mut worker,
                    max_batch,
                    config.delay,
                );
            });
        if let Ok(handle) = handle {
            *shared.worker.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        }
        Self { shared }
    }

    /// Queues a record; drops (and counts) it when the queue is full by count or bytes.
    pub(crate) fn push(&self, record: LogRecord) {
        let bytes = record.approx_bytes();
        if self.shared.queue.push(record, bytes).is_err() {
            self.shared
                .counters
                .queue_full
                .fetch_add(1, Ordering::Relaxed);
            LOG_RECORDS_DROPPED.with(LogDropReason::QueueFull).inc();
        }
    }

    /// Writes the lines about export trouble to `dispatch` instead of the global
    /// subscriber.
    pub(crate) fn report_to(&self, dispatch: &tracing::Dispatch) {
        let _ = self.shared.dispatch.set(dispatch.downgrade());
    }

    /// Says that the subscriber given to `report_to` is now the global default
    /// ([`crate::init::Builder::install`]).
    pub(crate) fn reports_to_global(&self) {
        self.shared.global.store(true, Ordering::Release);
    }

    /// Exports everything queued so far; `false` if that did not finish within `timeout`.
    pub fn force_flush(&self, timeout: Duration) -> bool {
        self.shared.queue.flush(timeout)
    }

    /// Exports everything queued and stops the thread; `false` if that did not finish
    /// within `timeout`.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let done = self.shared.queue.shutdown(timeout);
        if done {
            let handle = self
                .shared
                .worker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(handle) = handle {
                let _ = handle.join();
            }
        }
        done
    }

    /// This pipeline's counts.
    pub fn stats(&self) -> LogPipelineStats {
        let c = &self.shared.counters;
        LogPipelineStats {
            exported: c.exported.load(Ordering::Relaxed),
            queue_full: c.queue_full.load(Ordering::Relaxed),
            export_failed: c.export_failed.load(Ordering::Relaxed),
            export_errors: c.export_errors.load(Ordering::Relaxed),
        }
    }
}

struct Worker {
    exporter: Box<dyn LogExporter>,
    batch: Vec<LogRecord>,
    trouble: Trouble,
    shared: Arc<Shared>,
}

impl Batcher<LogRecord> for Worker {
    fn accept(&mut self, record: LogRecord) {
        self.batch.push(record);
    }

    fn len(&self) -> usize {
        self.batch.len()
    }

    fn export(&mut self) {
        Worker::export(self);
    }

    fn finish(&mut self) {
        Worker::export(self);
    }
}

impl Worker {
    fn export(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        let exporter = &mut self.exporter;
        let result = catch_unwind(AssertUnwindSafe(|| exporter.export(batch)))
            .unwrap_or_else(|_| Err(ExportError::new("the exporter panicked")));
        let counters = &self.shared.counters;
        let said = match &result {
            Ok(()) => {
                LOG_RECORDS_EXPORTED.inc_by(n);
                counters.exported.fetch_add(n, Ordering::Relaxed);
                self.trouble.succeeded(Instant::now())
            }
            Err(error) => {
                LOG_EXPORT_ERRORS.inc();
                LOG_RECORDS_DROPPED
                    .with(LogDropReason::ExportFailed)
                    .inc_by(n);
                counters.export_errors.fetch_add(1, Ordering::Relaxed);
                counters.export_failed.fetch_add(n, Ordering::Relaxed);
                let target = self.exporter.target();
                self.trouble
                    .failed(error, n, target.as_ref(), Instant::now())
            }
        };
        if let Some(said) = said {
            let scoped = if self.shared.global.load(Ordering::Acquire) {
                None
            } else {
                self.shared
                    .dispatch
                    .get()
                    .and_then(tracing::dispatcher::WeakDispatch::upgrade)
            };
            match scoped {
                Some(dispatch) => {
                    tracing::dispatcher::with_default(&dispatch, || self.trouble.say(&said));
                }
                None => self.trouble.say(&said),
            }
        }
    }
}
