//! Where log lines go, and in which format.

use std::fmt;
use std::io::Write as _;
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
    /// Waits until the lines handed over so far are written (a non-blocking writer).
    Option<Arc<dyn Fn(Duration) -> bool + Send + Sync>>,
);

/// Lines a non-blocking writer holds by default before it drops (about 5 MB of typical
/// JSON lines).
pub const DEFAULT_QUEUE_LINES: usize = 16_384;

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
    /// never waits for a slow pipe or disk. When `capacity` lines are waiting, further
    /// lines are dropped and counted in `obs_log_lines_dropped_total`. This is `init()`'s
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
        let spawned = std::thread::Builder::new()
            .name("obs-log-writer".into())
            .spawn(move || {
                for queued in rx {
                    match queued {
                        Queued::Line(line) => (inner.0)(&line),
                        Queued::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        if spawned.is_err() {
            // No thread to write: keep writing in place rather than losing every line.
            return Self::new(|line| {
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            });
        }
        let lines: SyncSender<Queued> = tx.clone();
        let write = move |line: &str| match lines.try_send(Queued::Line(line.to_owned())) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => LOG_LINES_DROPPED.inc(),
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
        Self(Arc::new(write), Some(Arc::new(flush)))
    }

    /// Writes one line (newline included).
    pub fn write(&self, line: &str) {
        (self.0)(line);
    }

    /// Waits up to `timeout` until every line handed over so far is written; `true` at
    /// once for a writer that writes in place.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.1.as_ref().is_none_or(|flush| flush(timeout))
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
