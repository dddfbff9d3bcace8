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
            let stacktrace =
                (backtrace.status() == BacktraceStatus::Captured).then(|| match info.location() {
                    Some(at) => format!("panicked at {at}:\n{backtrace}"),
                    None => backtrace.to_string(),
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
