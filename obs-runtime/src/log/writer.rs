//! Where log lines go, and in which format.

use std::fmt;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
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
    queue: Arc<LineQueue>,
    /// Closed: lines are written in place from now on (the program is ending).
    closed: Arc<AtomicBool>,
}

impl Drop for Background {
    fn drop(&mut self) {
        // The last handle is gone: the thread writes what is queued and ends.
        self.queue.lock().shutdown = true;
        self.queue.wake.notify_one();
    }
}

/// Lines a non-blocking writer holds by default before it drops (about 5 MB of typical
/// JSON lines).
pub const DEFAULT_QUEUE_LINES: usize = 16_384;

/// Bytes of lines a non-blocking writer holds at most, whatever its line count: huge
/// lines fill it long before the count does.
pub const MAX_QUEUE_BYTES: usize = 16 << 20;

/// How long the writer thread lets lines gather after writing a batch. A steady stream of
/// lines then costs one wake-up per batch instead of one per line (a futex call and two
/// context switches each); a line waits at most this long plus the writing of the batch
/// before it.
const LINGER: Duration = Duration::from_millis(1);

/// The lines between the loggers and the writer thread.
struct LineQueue {
    state: Mutex<LineState>,
    /// The writer waits here for lines, flushers for the writer.
    wake: Condvar,
    written: Condvar,
    /// Lines ever written (counted as they are, so a close cut short says exactly how
    /// many were not).
    done: AtomicU64,
    capacity: usize,
}

#[derive(Default)]
struct LineState {
    lines: Vec<String>,
    /// Lines the writer took and is writing: they count against the bounds until written.
    writing: usize,
    /// Bytes of the queued lines and of the lines being written.
    bytes: usize,
    /// Lines ever queued.
    queued: u64,
    /// The writer waits for lines: the next line wakes it.
    idle: bool,
    shutdown: bool,
}

impl LineQueue {
    fn lock(&self) -> MutexGuard<'_, LineState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `line`; `false` when the queue is full (by lines or bytes, the lines being
    /// written included).
    fn push(&self, line: &str) -> bool {
        let owned = line.to_owned();
        let mut state = self.lock();
        if state.lines.len() + state.writing >= self.capacity
            || state.bytes + owned.len() > MAX_QUEUE_BYTES
        {
            return false;
        }
        state.bytes += owned.len();
        state.lines.push(owned);
        state.queued += 1;
        let wake = std::mem::take(&mut state.idle);
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        true
    }

    /// The writer thread: writes batches with `write` until shut down and drained.
    fn run(&self, write: &(dyn Fn(&str) + Send + Sync)) {
        let mut batch = Vec::new();
        loop {
            {
                let mut state = self.lock();
                while state.lines.is_empty() {
                    if state.shutdown {
                        return;
                    }
                    state.idle = true;
                    state = self
                        .wake
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                state.idle = false;
                std::mem::swap(&mut state.lines, &mut batch);
                state.writing = batch.len();
            }
            let mut bytes = 0;
            for line in &batch {
                // A sink that panics loses its line (counted), not the writer thread.
                if catch_unwind(AssertUnwindSafe(|| write(line))).is_err() {
                    LOG_LINES_DROPPED.inc();
                }
                bytes += line.len();
                self.done.fetch_add(1, Ordering::Release);
            }
            batch.clear();
            {
                // Under the lock, so a flusher between its check and its wait is not
                // missed; the batch stops counting against the bounds.
                let mut state = self.lock();
                state.writing = 0;
                state.bytes -= bytes;
            }
            self.written.notify_all();
            std::thread::sleep(LINGER);
        }
    }

    /// Lines queued and not yet written.
    fn pending(&self) -> usize {
        // Under the lock, where every line written was queued before.
        let state = self.lock();
        let left = state
            .queued
            .saturating_sub(self.done.load(Ordering::Acquire));
        usize::try_from(left).unwrap_or(usize::MAX)
    }

    /// Waits until the lines queued so far are written; `false` after `timeout`.
    fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        let target = state.queued;
        while self.done.load(Ordering::Acquire) < target {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return false;
            }
            state = self
                .written
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
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
        let queue = Arc::new(LineQueue {
            state: Mutex::new(LineState::default()),
            wake: Condvar::new(),
            written: Condvar::new(),
            done: AtomicU64::new(0),
            capacity: capacity.max(1),
        });
        let thread_queue = Arc::clone(&queue);
        // The whole writer: an inner non-blocking writer's thread lives as long as this one.
        let thread_inner = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("obs-log-writer".into())
            .spawn(move || thread_queue.run(&*thread_inner.0));
        if spawned.is_err() {
            // No thread to write: keep writing in place rather than losing every line.
            return inner;
        }
        let closed = Arc::new(AtomicBool::new(false));
        let (lines, in_place) = (Arc::clone(&queue), Arc::clone(&closed));
        let write = move |line: &str| {
            if in_place.load(Ordering::Relaxed) {
                (inner.0)(line);
            } else if !lines.push(line) {
                LOG_LINES_DROPPED.inc();
            }
        };
        Self(
            Arc::new(write),
            Some(Arc::new(Background { queue, closed })),
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
        let _ = background.queue.flush(timeout);
        background.closed.store(true, Ordering::Relaxed);
        background.queue.pending()
    }

    /// Writes one line (newline included).
    pub fn write(&self, line: &str) {
        (self.0)(line);
    }

    /// Waits up to `timeout` until every line handed over so far is written; `true` at
    /// once for a writer that writes in place.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.1.as_ref().is_none_or(|b| b.queue.flush(timeout))
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::LogWriter;

    #[test]
    fn lines_keep_their_order_and_the_last_handle_drains_the_queue() {
        let (memory, log) = LogWriter::memory();
        let writer = LogWriter::non_blocking(memory, 100_000);
        for i in 0..5_000 {
            writer.write(&format!("{i}\n"));
        }
        assert!(writer.flush(Duration::from_secs(10)));
        let expected: Vec<String> = (0..5_000).map(|i| i.to_string()).collect();
        assert_eq!(log.lines(), expected);
        for i in 5_000..6_000 {
            writer.write(&format!("{i}\n"));
        }
        // No flush: dropping the last handle makes the thread write the rest, then end.
        drop(writer);
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.lines().len() < 6_000 {
            assert!(Instant::now() < deadline, "{} lines", log.lines().len());
            std::thread::yield_now();
        }
        let expected: Vec<String> = (0..6_000).map(|i| i.to_string()).collect();
        assert_eq!(log.lines(), expected);
    }

    #[test]
    fn a_sink_that_panics_loses_its_line_and_not_the_writer() {
        let (memory, log) = LogWriter::memory();
        let touchy = LogWriter::new(move |line| {
            assert!(!line.starts_with("boom"), "the sink refuses {line:?}");
            memory.write(line);
        });
        let writer = LogWriter::non_blocking(touchy, 1_000);
        for line in ["a\n", "boom\n", "b\n"] {
            writer.write(line);
        }
        assert!(writer.flush(Duration::from_secs(10)));
        assert_eq!(log.lines(), ["a", "b"]);
        writer.write("c\n");
        assert!(writer.flush(Duration::from_secs(10)));
        assert_eq!(log.lines(), ["a", "b", "c"]);
    }
}
