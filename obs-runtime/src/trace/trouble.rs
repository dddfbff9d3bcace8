//! Export trouble said out loud: the first failure of an exporter is logged at `warn`
//! with its cause, where it was sending and a hint when the cause is a known
//! misconfiguration; while it keeps failing, one summary line a minute at most; one line
//! when it recovers. The lines are events of target [`EXPORT_TARGET`]: the log layer
//! writes them, no exporter ever exports them (no feedback loop).

use std::error::Error;
use std::time::{Duration, Instant};

use super::hint::hint;
use super::{ExportError, Protocol};

thread_local! {
    /// Set on the threads that export: what happens there (the transport's own events,
    /// the lines about its trouble) is never exported itself.
    static EXPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as an exporter's thread.
pub(crate) fn mark_export_thread() {
    EXPORTING.set(true);
}

/// Whether the current thread is an exporter's thread.
pub(crate) fn on_export_thread() -> bool {
    EXPORTING.get()
}

/// Target of the lines about export trouble.
pub(crate) const EXPORT_TARGET: &str = "obs::export";

/// How often, at most, a failing exporter says that it still fails.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// Where an exporter sends: named in the lines about its trouble, and read for hints.
///
/// ```
/// use obs_runtime::trace::{ExportTarget, Protocol};
///
/// let target = ExportTarget::new(Protocol::HttpProtobuf, "http://127.0.0.1:4317/v1/traces");
/// assert_eq!(target.to_string(), "http/protobuf to http://127.0.0.1:4317/v1/traces");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportTarget {
    /// The transport.
    pub protocol: Protocol,
    /// The URL requests go to.
    pub endpoint: String,
}

impl ExportTarget {
    /// Sending `protocol` to `endpoint`.
    pub fn new(protocol: Protocol, endpoint: impl Into<String>) -> Self {
        Self {
            protocol,
            endpoint: endpoint.into(),
        }
    }
}

impl std::fmt::Display for ExportTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} to {}",
            self.protocol.as_str(),
            crate::redact::scrub(&self.endpoint)
        )
    }
}

/// The whole cause of `error`: its message and every `source()` below it that the
/// message does not already contain, joined by `": "`, secrets scrubbed.
pub(crate) fn cause_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    // At most 16 causes (then `: …`): a chain that loops ends.
    for _ in 0..16 {
        let Some(cause) = source else { break };
        let more = cause.to_string();
        if !more.is_empty() && !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    if source.is_some() {
        text.push_str(": …");
    }
    crate::redact::scrub(&text).into_owned()
}

/// One exporter's trouble: whether it is failing, since when, and what it lost.
pub(crate) struct Trouble {
    /// `traces` or `logs`: the OTLP signal, in the lines and the hint's paths.
    signal: &'static str,
    /// What one exported item is called in the lines (`spans`, `log records`).
    items: &'static str,
    failing: Option<Failing>,
}

struct Failing {
    since: Instant,
    /// When the last line about it was written.
    said: Instant,
    failed_exports: u64,
    lost: u64,
    /// Counts since the last line.
    unsaid_exports: u64,
    unsaid_lost: u64,
    last_cause: String,
}

/// A line to write about an exporter's trouble.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Said {
    /// The first failure.
    Failed {
        cause: String,
        target: Option<String>,
        hint: Option<String>,
    },
    /// Still failing, a minute or more after the last line.
    StillFailing {
        exports: u64,
        lost: u64,
        seconds: u64,
        cause: String,
    },
    /// Exports succeed again.
    Recovered {
        exports: u64,
        lost: u64,
        seconds: u64,
    },
}

impl Trouble {
    pub(crate) fn new(signal: &'static str, items: &'static str) -> Self {
        Self {
            signal,
            items,
            failing: None,
        }
    }

    /// An export of `lost` items failed with `error`, at `now`: what to say, if anything.
    pub(crate) fn failed(
        &mut self,
        error: &ExportError,
        lost: u64,
        target: Option<&ExportTarget>,
        now: Instant,
    ) -> Option<Said> {
        let cause = cause_chain(error);
        match &mut self.failing {
            None => {
                let hint = target.and_then(|t| hint(t, self.signal, &cause));
                self.failing = Some(Failing {
                    since: now,
                    said: now,
                    failed_exports: 1,
                    lost,
                    unsaid_exports: 0,
                    unsaid_lost: 0,
                    last_cause: cause.clone(),
                });
                Some(Said::Failed {
                    cause,
                    target: target.map(ToString::to_string),
                    hint,
                })
            }
            Some(failing) => {
                failing.failed_exports += 1;
                failing.lost += lost;
                failing.unsaid_exports += 1;
                failing.unsaid_lost += lost;
                failing.last_cause = cause;
                if now.duration_since(failing.said) < SUMMARY_EVERY {
                    return None;
                }
                let said = Said::StillFailing {
                    exports: failing.unsaid_exports,
                    lost: failing.unsaid_lost,
                    seconds: now.duration_since(failing.said).as_secs(),
                    cause: failing.last_cause.clone(),
                };
                failing.said = now;
                failing.unsaid_exports = 0;
                failing.unsaid_lost = 0;
                Some(said)
            }
        }
    }

    /// An export succeeded at `now`: what to say, if it was failing.
    pub(crate) fn succeeded(&mut self, now: Instant) -> Option<Said> {
        let failing = self.failing.take()?;
        Some(Said::Recovered {
            exports: failing.failed_exports,
            lost: failing.lost,
            seconds: now.duration_since(failing.since).as_secs(),
        })
    }

    /// Writes `said` as a `warn` (trouble) or `info` (recovery) event of [`EXPORT_TARGET`].
    pub(crate) fn say(&self, said: &Said) {
        let (signal, items) = (self.signal, self.items);
        match said {
            Said::Failed {
                cause,
                target,
                hint,
            } => tracing::warn!(
                target: EXPORT_TARGET,
                signal,
                cause = cause.as_str(),
                // Absent rather than empty when not known.
                destination = target.as_deref(),
                hint = hint.as_deref(),
                "OTLP {signal} export failed; {items} are dropped and counted until it succeeds: {cause}{}{}",
                target.as_deref().map(|t| format!(" ({t})")).unwrap_or_default(),
                hint.as_deref().map(|h| format!("; hint: {h}")).unwrap_or_default(),
            ),
            Said::StillFailing {
                exports,
                lost,
                seconds,
                cause,
            } => tracing::warn!(
                target: EXPORT_TARGET,
                signal,
                failed_exports = exports,
                dropped = lost,
                cause = cause.as_str(),
                "OTLP {signal} export still failing: {exports} exports failed and {lost} {items} were dropped in the last {seconds} s; last cause: {cause}"
            ),
            Said::Recovered {
                exports,
                lost,
                seconds,
            } => tracing::info!(
                target: EXPORT_TARGET,
                signal,
                failed_exports = exports,
                dropped = lost,
                "OTLP {signal} export recovered after {seconds} s: {exports} exports had failed and {lost} {items} were dropped"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(protocol: Protocol, endpoint: &str) -> ExportTarget {
        ExportTarget::new(protocol, endpoint)
    }

    #[test]
    fn the_whole_cause_chain_without_repeats_or_secrets() {
        #[derive(Debug)]
        struct Leaf;
        impl std::fmt::Display for Leaf {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("Connection refused (os error 111)")
            }
        }
        impl Error for Leaf {}
        #[derive(Debug)]
        struct Middle(Leaf);
        impl std::fmt::Display for Middle {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("tcp connect error to http://user:hunter2@c:4318")
            }
        }
        impl Error for Middle {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = ExportError::with_source("OTLP export failed", Middle(Leaf));
        assert_eq!(
            cause_chain(&error),
            "OTLP export failed: tcp connect error to http://user:[REDACTED]@c:4318: Connection refused (os error 111)"
        );
    }

    #[test]
    fn a_chain_that_loops_ends_and_says_it_was_cut() {
        #[derive(Debug)]
        struct Loop;
        static LOOP: Loop = Loop;
        impl std::fmt::Display for Loop {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("again")
            }
        }
        impl Error for Loop {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&LOOP)
            }
        }
        assert_eq!(cause_chain(&Loop), "again: …");
    }

    #[test]
    fn first_failure_then_a_summary_a_minute_then_recovery() {
        let mut trouble = Trouble::new("traces", "spans");
        let t0 = Instant::now();
        let error = ExportError::new("OTLP export failed: status 503");
        let at = |s: u64| t0 + Duration::from_secs(s);
        let dest = target(Protocol::HttpProtobuf, "http://c:4318/v1/traces");
        assert_eq!(
            trouble.succeeded(at(0)),
            None,
            "nothing to say while healthy"
        );
        assert_eq!(
            trouble.failed(&error, 10, Some(&dest), at(0)),
            Some(Said::Failed {
                cause: "OTLP export failed: status 503".into(),
                target: Some("http/protobuf to http://c:4318/v1/traces".into()),
                hint: None,
            })
        );
        for s in 1..60 {
            assert_eq!(trouble.failed(&error, 2, Some(&dest), at(s)), None, "{s}");
        }
        assert_eq!(
            trouble.failed(&error, 2, Some(&dest), at(60)),
            Some(Said::StillFailing {
                exports: 60,
                lost: 120,
                seconds: 60,
                cause: "OTLP export failed: status 503".into(),
            })
        );
        assert_eq!(trouble.failed(&error, 5, Some(&dest), at(61)), None);
        assert_eq!(
            trouble.succeeded(at(70)),
            Some(Said::Recovered {
                exports: 62,
                lost: 10 + 2 * 60 + 5,
                seconds: 70,
            })
        );
        assert_eq!(trouble.succeeded(at(71)), None);
        // A new failure is said again at once.
        assert!(matches!(
            trouble.failed(&error, 1, None, at(72)),
            Some(Said::Failed { target: None, .. })
        ));
    }
}
