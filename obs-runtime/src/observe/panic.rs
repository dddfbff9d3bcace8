//! What a panic said and where: captured by a panic hook that [`crate::init()`]'s
//! `install` chains in front of the program's own, read back while the panic unwinds
//! through an observed call (or by `PanicLayer` once it caught it), so the `exception`
//! event carries the panic's message and, when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`)
//! asks for one, its `exception.stacktrace`.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Once;

/// The latest panic of this thread.
#[derive(Debug)]
pub(crate) struct PanicReport {
    /// Its message, secrets scrubbed.
    pub(crate) message: String,
    /// Where it happened, when backtraces are on.
    pub(crate) stacktrace: Option<String>,
}

thread_local! {
    static LAST: RefCell<Option<Rc<PanicReport>>> = const { RefCell::new(None) };
}

/// The latest panic on this thread, if the hook saw one.
pub(crate) fn last() -> Option<Rc<PanicReport>> {
    LAST.try_with(|last| last.borrow().clone()).ok().flatten()
}

/// The message of a panic payload.
pub(crate) fn payload_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// The frames of a backtrace from the code that panicked on: the frames of this hook and
/// of the standard library's panic machinery above it are left out, so the span limits'
/// budget goes to the user's frames.
fn from_the_panic(backtrace: &str) -> String {
    // A frame starts with its number: `   7: web::boom`.
    let starts: Vec<usize> = backtrace
        .match_indices(": ")
        .filter_map(|(i, _)| {
            let line_start = backtrace[..i].rfind('\n').map_or(0, |n| n + 1);
            let number = backtrace[line_start..i].trim_start();
            (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())).then_some(line_start)
        })
        .collect();
    let machinery = |frame: &str| {
        [
            "std::panicking",
            "core::panicking",
            "std::backtrace",
            "std::sys::backtrace",
            "rust_begin_unwind",
            "__rustc::",
            "obs_runtime::observe::panic",
            "PanicHookInfo",
        ]
        .iter()
        .any(|m| frame.contains(m))
    };
    // The machinery is the top of the trace: frames are left out while they are its.
    let mut first = 0;
    for (n, start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(backtrace.len());
        if !machinery(&backtrace[*start..end]) {
            break;
        }
        first = n + 1;
    }
    match starts.get(first) {
        Some(&at) if first > 0 => backtrace[at..].to_owned(),
        _ => backtrace.to_owned(),
    }
}

/// Chains obs's hook in front of the current one (once per process): it keeps the
/// panic's message and backtrace for this thread, then calls the previous hook, which
/// prints as before.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = payload_message(info.payload()).unwrap_or("a panic without a message");
            let backtrace = Backtrace::capture();
            let stacktrace = (backtrace.status() == BacktraceStatus::Captured).then(|| {
                let frames = from_the_panic(&backtrace.to_string());
                match info.location() {
                    Some(at) => format!("panicked at {at}:\n{frames}"),
                    None => frames,
                }
            });
            let report = PanicReport {
                message: crate::redact::scrub(message).into_owned(),
                stacktrace,
            };
            let _ = LAST.try_with(|last| *last.borrow_mut() = Some(Rc::new(report)));
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::from_the_panic;

    #[test]
    fn the_trace_starts_at_the_code_that_panicked() {
        let trace = "   0: std::backtrace_rs::backtrace::libunwind::trace\n             at /rustc/x/library/std/src/backtrace.rs:1\n   1: std::backtrace::Backtrace::capture\n   2: obs_runtime::observe::panic::install_hook::{{closure}}\n   3: std::panicking::panic_with_hook\n   4: std::panicking::begin_panic_handler::{{closure}}\n   5: __rustc::rust_begin_unwind\n   6: core::panicking::panic_fmt\n   7: web::boom\n             at ./src/main.rs:12:5\n   8: web::main\n";
        assert_eq!(
            from_the_panic(trace),
            "   7: web::boom\n             at ./src/main.rs:12:5\n   8: web::main\n"
        );
        // Nothing recognisable: kept whole; a catch_unwind further down stays.
        assert_eq!(from_the_panic("   0: app::f\n"), "   0: app::f\n");
        assert_eq!(
            from_the_panic(
                "   0: core::panicking::panic_fmt\n   1: app::f\n   2: std::panicking::catch_unwind\n"
            ),
            "   1: app::f\n   2: std::panicking::catch_unwind\n"
        );
    }
}
