//! Log records on their way to a collector: the record, the exporter interface, and the
//! bounded batch queue between the layer and the exporter (the `OTEL_BLRP_*` settings).
//! Bounded by count and bytes like the span queue; what it drops is counted in
//! `obs_log_records_dropped_total{reason}`; the first failed export is said with its
//! cause, as for spans.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::Level;

use crate::metrics::self_metrics::{
    LOG_EXPORT_ERRORS, LOG_RECORDS_DROPPED, LOG_RECORDS_EXPORTED, LogDropReason,
};
use crate::trace::{AttrValue, ExportError, ExportTarget, Resource, SpanContext};
use crate::trace::{Trouble, mark_export_thread};

/// One log record, as exported: what the event said, where, and in which span.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LogRecord {
    /// When the event happened.
    pub(crate) time_unix_nanos: u64,
    pub(crate) level: Level,
    /// The event's target (a module path): the record's instrumentation scope.
    pub(crate) target: String,
    /// The message.
    pub(crate) body: String,
    /// The event's fields, then the fields bound to its span; secrets redacted.
    pub(crate) attributes: Vec<(&'static str, AttrValue)>,
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

enum Msg {
    Record(Box<LogRecord>),
    Flush(mpsc::Sender<()>),
    Shutdown(mpsc::Sender<()>),
}

#[derive(Default)]
struct Counters {
    exported: AtomicU64,
    queue_full: AtomicU64,
    export_failed: AtomicU64,
    export_errors: AtomicU64,
}

struct Shared {
    tx: mpsc::Sender<Msg>,
    queued: AtomicUsize,
    queued_bytes: AtomicUsize,
    config: LogBatchConfig,
    counters: Counters,
    worker: Mutex<Option<JoinHandle<()>>>,
    dispatch: OnceLock<tracing::dispatcher::WeakDispatch>,
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
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            tx,
            queued: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            config: LogBatchConfig {
                max_queue: config.max_queue.max(1),
                max_queue_bytes: config.max_queue_bytes.max(1),
                max_batch: config.max_batch.clamp(1, 4096),
                delay: config.delay,
            },
            counters: Counters::default(),
            worker: Mutex::new(None),
            dispatch: OnceLock::new(),
        });
        let worker_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("obs-log-export".into())
            .spawn(move || {
                mark_export_thread();
                let mut exporter = make().unwrap_or_else(|e| Box::new(Unavailable(e)));
                exporter.set_resource(&resource);
                Worker {
                    exporter,
                    batch: Vec::new(),
                    trouble: Trouble::new("logs", "log records"),
                    shared: worker_shared,
                }
                .run(&rx);
            });
        if let Ok(handle) = handle {
            *shared.worker.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        }
        Self { shared }
    }

    /// Queues a record; drops (and counts) it when the queue is full by count or bytes.
    pub(crate) fn push(&self, record: LogRecord) {
        let shared = &self.shared;
        let bytes = record.approx_bytes();
        let full = shared.queued.fetch_add(1, Ordering::Relaxed) >= shared.config.max_queue;
        let too_big = shared.queued_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes
            > shared.config.max_queue_bytes;
        let sent = !full && !too_big && shared.tx.send(Msg::Record(Box::new(record))).is_ok();
        if !sent {
            shared.queued.fetch_sub(1, Ordering::Relaxed);
            shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            shared.counters.queue_full.fetch_add(1, Ordering::Relaxed);
            LOG_RECORDS_DROPPED.with(LogDropReason::QueueFull).inc();
        }
    }

    /// Writes the lines about export trouble to `dispatch` instead of the global
    /// subscriber.
    pub(crate) fn report_to(&self, dispatch: &tracing::Dispatch) {
        let _ = self.shared.dispatch.set(dispatch.downgrade());
    }

    /// Exports everything queued so far; `false` if that did not finish within `timeout`.
    pub fn force_flush(&self, timeout: Duration) -> bool {
        self.request(Msg::Flush, timeout)
    }

    /// Exports everything queued and stops the thread; `false` if that did not finish
    /// within `timeout`.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let done = self.request(Msg::Shutdown, timeout);
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

    fn request(&self, make: fn(mpsc::Sender<()>) -> Msg, timeout: Duration) -> bool {
        let (ack_tx, ack_rx) = mpsc::channel();
        let sent = self.shared.tx.send(make(ack_tx)).is_ok();
        sent && ack_rx.recv_timeout(timeout).is_ok()
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

impl Worker {
    fn run(mut self, rx: &Receiver<Msg>) {
        let delay = self.shared.config.delay;
        let mut last_export = Instant::now();
        loop {
            let wait = delay
                .saturating_sub(last_export.elapsed())
                .max(Duration::from_millis(1));
            match rx.recv_timeout(wait) {
                Ok(Msg::Record(record)) => {
                    self.take(*record);
                    if self.batch.len() >= self.shared.config.max_batch {
                        self.export();
                        last_export = Instant::now();
                    }
                }
                Ok(Msg::Flush(ack)) => {
                    self.drain(rx);
                    self.export();
                    last_export = Instant::now();
                    let _ = ack.send(());
                }
                Ok(Msg::Shutdown(ack)) => {
                    self.drain(rx);
                    self.export();
                    let _ = ack.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.export();
                    last_export = Instant::now();
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.export();
                    return;
                }
            }
        }
    }

    fn drain(&mut self, rx: &Receiver<Msg>) {
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Record(record) => {
                    self.take(*record);
                    if self.batch.len() >= self.shared.config.max_batch {
                        self.export();
                    }
                }
                Msg::Flush(ack) | Msg::Shutdown(ack) => {
                    let _ = ack.send(());
                }
            }
        }
    }

    fn take(&mut self, record: LogRecord) {
        self.shared.queued.fetch_sub(1, Ordering::Relaxed);
        self.shared
            .queued_bytes
            .fetch_sub(record.approx_bytes(), Ordering::Relaxed);
        self.batch.push(record);
    }

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
            match self
                .shared
                .dispatch
                .get()
                .and_then(tracing::dispatcher::WeakDispatch::upgrade)
            {
                Some(dispatch) => {
                    tracing::dispatcher::with_default(&dispatch, || self.trouble.say(&said));
                }
                None => self.trouble.say(&said),
            }
        }
    }
}
