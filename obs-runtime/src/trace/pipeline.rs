//! The bounded batch queue between the trace layer and an exporter.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::export::{ExportError, SpanExporter, Unavailable};
use super::queue::{BatchQueue, Batcher, CloseOnDrop};
use super::sampler::tail::{DropSink, Tail};
use super::trouble::Trouble;
use super::{SpanRecord, TailSampling};
use crate::metrics::self_metrics::{DropReason, EXPORT_ERRORS, SPANS_DROPPED, SPANS_EXPORTED};

/// Sizes and timing of the batch pipeline (the `OTEL_BSP_*` settings).
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::trace::PipelineConfig;
///
/// let builder = obs_runtime::init().batch(PipelineConfig {
///     max_queue: 8192,
///     delay: Duration::from_secs(1),
///     ..PipelineConfig::default()
/// });
/// # drop(builder);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PipelineConfig {
    /// Finished spans waiting for the exporter; beyond this they are dropped (default 2048,
    /// at most [`MAX_QUEUE_SIZE`]; the queue allocates as it fills).
    pub max_queue: usize,
    /// Bytes of finished spans waiting for the exporter (their strings, attributes and
    /// events, estimated); beyond this they are dropped and counted like a full queue
    /// (default 32 MiB, `OBS_BSP_MAX_QUEUE_BYTES`). With the count alone, 2 048 spans
    /// of large attributes could hold gigabytes while the collector is stalled.
    pub max_queue_bytes: usize,
    /// Spans per export call (default 512).
    pub max_batch: usize,
    /// Longest a span waits before its batch is exported (default 5 s).
    pub delay: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_queue: 2048,
            max_queue_bytes: 32 << 20,
            max_batch: 512,
            delay: Duration::from_secs(5),
        }
    }
}

/// Counts of one pipeline (the global self-metrics add up every pipeline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Spans an exporter accepted.
    pub exported: u64,
    /// Spans dropped because the queue was full.
    pub queue_full: u64,
    /// Spans lost with a failed export.
    pub export_failed: u64,
    /// Failed export calls.
    pub export_errors: u64,
    /// Spans of traces the tail sampler decided against.
    pub sampled_out: u64,
    /// Spans evicted from the tail sampler's bounded memory.
    pub tail_evicted: u64,
}

/// The counts of one pipeline.
#[derive(Default)]
struct Counters {
    exported: AtomicU64,
    queue_full: AtomicU64,
    export_failed: AtomicU64,
    export_errors: AtomicU64,
    sampled_out: AtomicU64,
    tail_evicted: AtomicU64,
}

impl DropSink for Counters {
    fn dropped(&self, reason: DropReason, n: u64) {
        if n == 0 {
            return;
        }
        SPANS_DROPPED.with(reason).inc_by(n);
        let counter = match reason {
            DropReason::QueueFull => &self.queue_full,
            DropReason::ExportFailed => &self.export_failed,
            DropReason::SampledOut => &self.sampled_out,
            DropReason::TailEvicted => &self.tail_evicted,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

struct Shared {
    /// Bounded by count and bytes; allocates as it fills, never up front.
    queue: BatchQueue<Box<SpanRecord>>,
    tail: bool,
    counters: Counters,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// The subscriber the lines about export trouble go to (the global one if unset).
    /// Weak: that subscriber holds this pipeline.
    dispatch: OnceLock<tracing::dispatcher::WeakDispatch>,
    /// That subscriber is the global default: the lines are written without a scoped
    /// default, which would put every thread's `tracing` calls on the slow path while
    /// set (and hand a nested dispatch the no-op subscriber).
    global: AtomicBool,
}

/// The largest `max_queue` (and `OTEL_BSP_MAX_QUEUE_SIZE`) accepted: about a million
/// spans. The queue allocates as it fills, never up front.
pub const MAX_QUEUE_SIZE: usize = 1 << 20;

/// A running batch pipeline: a bounded queue and the thread that exports from it.
///
/// Clones share the pipeline. [`shutdown`](Self::shutdown) exports what is queued and
/// stops the thread; [`crate::init()`]'s guard calls it on drop.
#[derive(Clone)]
pub struct Pipeline {
    shared: Arc<Shared>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("tail", &self.shared.tail)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pipeline {
    /// Starts the export thread.
    pub fn start(exporter: Box<dyn SpanExporter>, config: PipelineConfig) -> Self {
        Self::start_with(move || Ok(exporter), config, None)
    }

    /// Starts the export thread and builds the exporter on it with `make`: for exporters
    /// that own an async runtime, which must not be created or dropped inside another
    /// one. If `make` fails, every batch fails with its error (counted, never panicking).
    /// With `tail`, whole traces are kept or dropped by the tail sampler before export.
    pub fn start_with(
        make: impl FnOnce() -> Result<Box<dyn SpanExporter>, ExportError> + Send + 'static,
        config: PipelineConfig,
        tail: Option<TailSampling>,
    ) -> Self {
        let PipelineConfig {
            max_queue,
            max_queue_bytes,
            max_batch,
            delay,
        } = config;
        let max_batch = max_batch.clamp(1, 4096);
        let shared = Arc::new(Shared {
            queue: BatchQueue::new(
                max_queue.clamp(1, MAX_QUEUE_SIZE),
                max_queue_bytes,
                max_batch,
            ),
            tail: tail.is_some(),
            counters: Counters::default(),
            worker: Mutex::new(None),
            dispatch: OnceLock::new(),
            global: AtomicBool::new(false),
        });
        let worker_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("obs-span-export".into())
            .spawn(move || {
                super::trouble::mark_export_thread();
                let _close = CloseOnDrop(&worker_shared.queue);
                let exporter = make().unwrap_or_else(|e| Box::new(Unavailable(e)));
                let mut worker = Worker {
                    trouble: Trouble::new("traces", "spans"),
                    exporter,
                    batch: Vec::with_capacity(max_batch),
                    max_batch,
                    tail: tail.map(Tail::new),
                    shared: Arc::clone(&worker_shared),
                };
                super::queue::run(&worker_shared.queue, &mut worker, max_batch, delay);
            });
        // Without a thread nothing is exported; the queue fills and drops are counted.
        if let Ok(handle) = handle {
            *shared.worker.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        }
        Self { shared }
    }

    /// Queues a finished span; drops (and counts) it when the queue is full.
    pub(crate) fn push(&self, span: Box<SpanRecord>) {
        let bytes = span.approx_bytes();
        if self.shared.queue.push(span, bytes).is_err() {
            self.shared.counters.dropped(DropReason::QueueFull, 1);
        }
    }

    /// Writes the lines about export trouble (the first failure with its cause and a
    /// hint, a summary a minute, the recovery) to `dispatch`, the subscriber this pipeline
    /// serves, instead of the global one; [`crate::init()`] does so.
    pub fn report_to(&self, dispatch: &tracing::Dispatch) {
        let _ = self.shared.dispatch.set(dispatch.downgrade());
    }

    /// Says that the subscriber given to `report_to` is now the global default
    /// ([`crate::init::Builder::install`]).
    pub(crate) fn reports_to_global(&self) {
        self.shared.global.store(true, Ordering::Release);
    }

    /// Whether tail sampling is on (every span must be recorded).
    pub(crate) fn tail_sampling(&self) -> bool {
        self.shared.tail
    }

    /// Exports everything queued so far; `false` if that did not finish within `timeout`.
    pub fn force_flush(&self, timeout: Duration) -> bool {
        self.shared.queue.flush(timeout)
    }

    /// Exports everything queued, shuts the exporter down and stops the thread; `false`
    /// if that did not finish within `timeout`. Spans finished later are dropped.
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
    pub fn stats(&self) -> PipelineStats {
        let c = &self.shared.counters;
        PipelineStats {
            exported: c.exported.load(Ordering::Relaxed),
            queue_full: c.queue_full.load(Ordering::Relaxed),
            export_failed: c.export_failed.load(Ordering::Relaxed),
            export_errors: c.export_errors.load(Ordering::Relaxed),
            sampled_out: c.sampled_out.load(Ordering::Relaxed),
            tail_evicted: c.tail_evicted.load(Ordering::Relaxed),
        }
    }
}

struct Worker {
    /// Says the first failure, a summary a minute while failing, and the recovery.
    trouble: Trouble,
    exporter: Box<dyn SpanExporter>,
    batch: Vec<SpanRecord>,
    max_batch: usize,
    tail: Option<Tail>,
    shared: Arc<Shared>,
}

impl Batcher<Box<SpanRecord>> for Worker {
    fn accept(&mut self, span: Box<SpanRecord>) {
        match &mut self.tail {
            None => self.batch.push(*span),
            Some(tail) => tail.accept(*span, &mut self.batch, &self.shared.counters),
        }
    }

    fn len(&self) -> usize {
        self.batch.len()
    }

    fn export(&mut self) {
        Worker::export(self);
    }

    fn finish(&mut self) {
        if let Some(tail) = &mut self.tail {
            tail.decide_all(&mut self.batch, &self.shared.counters);
        }
        // The tail sampler's decisions may make a batch larger than one export takes.
        while !self.batch.is_empty() {
            let rest = if self.batch.len() > self.max_batch {
                self.batch.split_off(self.max_batch)
            } else {
                Vec::new()
            };
            Worker::export(self);
            self.batch = rest;
        }
        let _ = catch_unwind(AssertUnwindSafe(|| self.exporter.shutdown()));
    }
}

impl Worker {
    fn export(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        // The traces the tail sampler kept (exported though not head-sampled): once
        // exported, their pending exemplars may be shown.
        let tail_kept: Vec<[u8; 16]> = if self.tail.is_some() {
            let mut ids: Vec<[u8; 16]> = batch
                .iter()
                .filter(|s| !s.sampled)
                .map(|s| s.trace_id.to_bytes())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        } else {
            Vec::new()
        };
        let exporter = &mut self.exporter;
        let result = catch_unwind(AssertUnwindSafe(|| exporter.export(batch)))
            .unwrap_or_else(|_| Err(ExportError::new("the exporter panicked")));
        let counters = &self.shared.counters;
        let said = match &result {
            Ok(()) => {
                SPANS_EXPORTED.inc_by(n);
                counters.exported.fetch_add(n, Ordering::Relaxed);
                if !tail_kept.is_empty() {
                    crate::metrics::exemplar::kept::insert(tail_kept);
                }
                self.trouble.succeeded(Instant::now())
            }
            Err(error) => {
                EXPORT_ERRORS.inc();
                counters.export_errors.fetch_add(1, Ordering::Relaxed);
                counters.dropped(DropReason::ExportFailed, n);
                let target = catch_unwind(AssertUnwindSafe(|| self.exporter.target()))
                    .ok()
                    .flatten();
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
        self.batch = Vec::with_capacity(self.max_batch);
    }
}
