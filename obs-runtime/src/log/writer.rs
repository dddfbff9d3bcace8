//! Where log lines go, and in which format.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::metrics::self_metrics::LOG_LINES_DROPPED;

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log pipelines.
    Json,
    /// Human-readable text, colored when `ansi` is on.
    Pretty {
        /// Color with ANSI escapes.
        ansi: bool,
    },
}

impl LogFormat {
    /// `Pretty` when standard output is a terminal, else `Json` (the `OBS_LOG_FORMAT`
    /// default).
    pub fn detect() -> Self {
        use std::io::IsTerminal as _;
        if std::io::stdout().is_terminal() {
            Self::Pretty { ansi: true }
        } else {
            Self::Json
        }
    }
}

/// Where log lines go: each call receives one whole line, newline included.
#[derive(Clone)]
pub struct LogWriter(
    pub(super) Arc<dyn Fn(&str) + Send + Sync>,
    /// The queue and thread of a non-blocking writer.
    Option<Arc<Background>>,
);

/// What a non-blocking writer keeps beside its queue.
struct Background {
    /// Waits until the lines handed over so far are written.
    flush: Box<dyn Fn(Duration) -> bool + Send + Sync>,
    /// Lines queued and not yet written.
    pending: Arc<AtomicUsize>,
    /// Closed: lines are written in place from now on (the program is ending).
    closed: Arc<AtomicBool>,
}

/// Lines a non-blocking writer holds by default before it drops (about 5 MB of typical
/// JSON lines).
pub const DEFAULT_QUEUE_LINES: usize = 16_384;

/// Bytes of lines a non-blocking writer holds at most, whatever its line count: huge
/// lines fill it long before the count does.
pub const MAX_QUEUE_BYTES: usize = 16 << 20;

enum Queued {
    Line(String),
    Flush(mpsc::Sender<()>),
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogWriter(..)")
    }
}

impl LogWriter {
    /// Standard output, written by the logging thread itself: a slow reader of the pipe
    /// slows the service down. `init()` uses [`non_blocking`](Self::non_blocking) around
    /// it instead. Write errors are ignored.
    pub fn stdout() -> Self {
        Self::new(|line| {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        })
    }

    /// Standard error.
    pub fn stderr() -> Self {
        Self::new(|line| {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        })
    }

    /// Any sink of lines.
    pub fn new(write: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(write), None)
    }

    /// `inner`, written by a thread of its own: a log call only queues its line, so it
    /// never waits for a slow pipe or disk. When `capacity` lines (or [`MAX_QUEUE_BYTES`]
    /// of them) are waiting, further lines are dropped and counted in
    /// `obs_log_lines_dropped_total`. This is `init()`'s
    /// default, around standard output with [`DEFAULT_QUEUE_LINES`].
    ///
    /// ```
    /// use obs_runtime::log::LogWriter;
    /// use std::time::Duration;
    ///
    /// let (memory, log) = LogWriter::memory();
    /// let writer = LogWriter::non_blocking(memory, 1024);
    /// writer.write("{\"message\":\"hello\"}\n");
    /// assert!(writer.flush(Duration::from_secs(5)));
    /// assert_eq!(log.lines(), ["{\"message\":\"hello\"}"]);
    /// ```
    pub fn non_blocking(inner: LogWriter, capacity: usize) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Queued>(capacity.max(1));
        let pending = Arc::new(AtomicUsize::new(0));
        let written = Arc::clone(&pending);
        let bytes = Arc::new(AtomicUsize::new(0));
        let bytes_written = Arc::clone(&bytes);
        let thread_inner = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("obs-log-writer".into())
            .spawn(move || {
                for queued in rx {
                    match queued {
                        Queued::Line(line) => {
                            (thread_inner.0)(&line);
                            written.fetch_sub(1, Ordering::Relaxed);
                            bytes_written.fetch_sub(line.len(), Ordering::Relaxed);
                        }
                        Queued::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        if spawned.is_err() {
            // No thread to write: keep writing in place rather than losing every line.
            return inner;
        }
        let closed = Arc::new(AtomicBool::new(false));
        let lines: SyncSender<Queued> = tx.clone();
        let (queued, in_place) = (Arc::clone(&pending), Arc::clone(&closed));
        let write = move |line: &str| {
            if in_place.load(Ordering::Relaxed) {
                (inner.0)(line);
                return;
            }
            let len = line.len();
            if bytes.fetch_add(len, Ordering::Relaxed) + len > MAX_QUEUE_BYTES {
                bytes.fetch_sub(len, Ordering::Relaxed);
                LOG_LINES_DROPPED.inc();
                return;
            }
            queued.fetch_add(1, Ordering::Relaxed);
            if lines.try_send(Queued::Line(line.to_owned())).is_err() {
                queued.fetch_sub(1, Ordering::Relaxed);
                bytes.fetch_sub(len, Ordering::Relaxed);
                LOG_LINES_DROPPED.inc();
            }
        };
        let flush = move |timeout: Duration| {
            let deadline = Instant::now() + timeout;
            let (done_tx, done_rx) = mpsc::channel();
            // A marker behind the lines queued so far: written, they are.
            let mut marker = Queued::Flush(done_tx);
            loop {
                match tx.try_send(marker) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                        marker = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => return false,
                }
            }
            done_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
        };
        Self(
            Arc::new(write),
            Some(Arc::new(Background {
                flush: Box::new(flush),
                pending,
                closed,
            })),
        )
    }

    /// For the end of the program: waits up to `timeout` for the queued lines, then
    /// writes every later line in place (a line logged while values are dropped after
    /// the guard must not wait in a queue the exiting process never drains). Returns the
    /// lines still queued and not written by then.
    pub(crate) fn close(&self, timeout: Duration) -> usize {
        let Some(background) = &self.1 else {
            return 0;
        };
        let _ = (background.flush)(timeout);
        background.closed.store(true, Ordering::Relaxed);
        background.pending.load(Ordering::Relaxed)
    }

    /// Writes one line (newline included).
    pub fn write(&self, line: &str) {
        (self.0)(line);
    }

    /// Waits up to `timeout` until every line handed over so far is written; `true` at
    /// once for a writer that writes in place.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.1.as_ref().is_none_or(|b| (b.flush)(timeout))
    }

    /// An in-memory sink and a handle to read it, for tests.
    pub fn memory() -> (Self, MemoryLog) {
        let log = MemoryLog::default();
        let sink = log.clone();
        (
            Self::new(move |line| {
                sink.0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(line);
            }),
            log,
        )
    }
}

/// The lines written to a [`LogWriter::memory`] sink.
#[derive(Clone, Debug, Default)]
pub struct MemoryLog(Arc<Mutex<String>>);

impl MemoryLog {
    /// The lines so far, without their newlines.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
