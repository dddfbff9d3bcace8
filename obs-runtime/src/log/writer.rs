//! Where log lines go, and in which format.

use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

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
pub struct LogWriter(pub(super) Arc<dyn Fn(&str) + Send + Sync>);

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogWriter(..)")
    }
}

impl LogWriter {
    /// Standard output (the default); write errors are ignored.
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
        Self(Arc::new(write))
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
