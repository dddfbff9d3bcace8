//! An observed async call: a future timed and classified over its completion.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;
use tracing::Span;

use super::classify::CallOutcome;
use super::site::FnSite;
use super::tally::Unfinished;

pin_project! {
    /// An observed async call: see [`FnSite::instrument`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Observed<F, C> {
        site: &'static FnSite,
        span: Span,
        // The raw clock reading at the first poll (or at the call, for a sync function
        // returning a future); `None` until then.
        start: Option<u64>,
        #[pin]
        future: F,
        classify: C,
        done: bool,
    }

    impl<F, C> PinnedDrop for Observed<F, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Polled at least once and neither completed nor panicked: cancelled.
            if !*this.done
                && let Some(start) = *this.start
            {
                let _entered = this.span.enter();
                this.site.record_unfinished(this.span, Unfinished::Cancelled);
                this.site.end(start);
            }
        }
    }
}

impl<F, C> Observed<F, C> {
    /// A call of `site` in `span`, timed from `start` (a raw clock reading) or, when
    /// `None`, from its first poll.
    pub(super) fn new(
        site: &'static FnSite,
        span: Span,
        start: Option<u64>,
        future: F,
        classify: C,
    ) -> Self {
        Self {
            site,
            span,
            start,
            future,
            classify,
            done: false,
        }
    }
}

impl FnSite {
    #[doc(hidden)]
    /// Wraps an async call's future: `span` (from [`span_for`](Self::span_for)) is
    /// entered on every poll, the timer runs from the first poll to completion, and a
    /// future dropped before completion is recorded as `cancelled`.
    #[inline]
    pub fn instrument<F, C>(&'static self, span: Span, future: F, classify: C) -> Observed<F, C>
    where
        F: Future,
        C: for<'a> Fn(&'a F::Output) -> CallOutcome<'a>,
    {
        Observed::new(self, span, None, future, classify)
    }
}

impl<F, C> fmt::Debug for Observed<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed")
            .field("function", &self.site.function)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Records a panic if dropped while armed (that is, while `poll` unwinds).
struct PollPanic<'a> {
    site: &'static FnSite,
    span: &'a Span,
    start: u64,
    armed: bool,
}

impl Drop for PollPanic<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.site.record_unfinished(self.span, Unfinished::Panic);
            self.site.end(self.start);
        }
    }
}

impl<F, C> Future for Observed<F, C>
where
    F: Future,
    C: for<'a> Fn(&'a F::Output) -> CallOutcome<'a>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let site: &'static FnSite = this.site;
        let start = *this.start.get_or_insert_with(|| {
            site.begin();
            crate::time::clock().raw()
        });
        let _entered = this.span.enter();
        let mut panic_guard = PollPanic {
            site,
            span: this.span,
            start,
            armed: true,
        };
        // Counted as done while polling, so that a panic recorded by `panic_guard` is not
        // recorded again as a cancellation when the executor drops the future.
        *this.done = true;
        let poll = this.future.poll(cx);
        panic_guard.armed = false;
        match &poll {
            Poll::Ready(output) => {
                let outcome = (this.classify)(output);
                site.record(this.span, &outcome);
                site.end(start);
            }
            Poll::Pending => *this.done = false,
        }
        poll
    }
}
