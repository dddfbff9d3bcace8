//! The guard that owns one synchronous call's span, timer and in-flight count.

use core::fmt;
use core::future::Future;

use super::classify::CallOutcome;
use super::future::Observed;
use super::site::{FnSite, clock_now};
use super::tally::Unfinished;
use tracing::Span;
use tracing::field::Value;

/// Owns one synchronous call's span, timer and in-flight count. Finish it with the call's
/// outcome; dropped unfinished (a panic unwinding), it records `result="error",
/// error="panic"` and lets the panic continue.
#[must_use = "the guard records the call when finished or dropped"]
pub struct CallGuard {
    site: &'static FnSite,
    span: tracing::span::EnteredSpan,
    start: u64,
    finished: bool,
}

impl fmt::Debug for CallGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallGuard")
            .field("function", &self.site.function)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl CallGuard {
    /// A guard of a call of `site` that started at `start` (a raw clock reading).
    #[inline]
    pub(super) fn new(site: &'static FnSite, span: tracing::span::EnteredSpan, start: u64) -> Self {
        Self {
            site,
            span,
            start,
            finished: false,
        }
    }

    /// Records the call's outcome.
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        reason = "inlined where the outcome is built, so that its parts never go through memory"
    )]
    pub fn finish(mut self, outcome: &CallOutcome<'_>) {
        self.finished = true;
        self.site.record(&self.span, outcome);
        self.site.end(self.start);
    }

    /// The call returned a future: it is timed and classified over that future's
    /// completion, as an `async fn` is (the timer keeps running from the call).
    #[inline]
    pub fn into_future<F, C>(mut self, future: F, classify: C) -> Observed<F, C>
    where
        F: Future,
        C: for<'a> Fn(&'a F::Output) -> CallOutcome<'a>,
    {
        self.finished = true;
        let span = core::mem::replace(&mut self.span, Span::none().entered()).exit();
        Observed::new(self.site, span, Some(self.start), future, classify)
    }
}

/// Calls `f` once. The body of a synchronous observed function runs in a closure passed
/// here: the bound makes it a `FnOnce` closure, so borrows of the arguments it returns
/// (`&mut self.items[0]`) live as long as they would without the attribute.
#[inline]
pub fn call_once<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// A value of type `T`, for a `return` that never runs: an `async fn`'s body runs in an
/// `async` block whose output type cannot be given from outside, so `#[observe]` starts
/// it with `if false { return output_type::<Declared>(); }`, which fixes it. The body's
/// tail and `return`s are then coerced to the declared type, as in the function itself.
///
/// # Panics
///
/// Always; it is never called.
#[inline]
pub fn output_type<T>() -> T {
    unreachable!("`output_type` only gives a type to an async block; it is never called")
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.finished {
            // A call ends without a result by unwinding, or (only in a `#[track_caller]`
            // function, whose body is not wrapped) through an exit inside a macro call.
            let how = if std::thread::panicking() {
                Unfinished::Panic
            } else {
                Unfinished::Unclassified
            };
            self.site.record_unfinished(&self.span, how);
            self.site.end(self.start);
        }
    }
}

impl FnSite {
    #[doc(hidden)]
    /// Starts observing a synchronous call: creates and enters the span, starts the timer,
    /// counts the call in flight. `user` holds the values of the fields listed in
    /// `fields(..)`, in order.
    #[inline]
    pub fn enter(&'static self, user: &[Option<&dyn Value>]) -> CallGuard {
        let span = self.span_for(user);
        self.begin();
        CallGuard::new(self, span.entered(), clock_now())
    }
}
