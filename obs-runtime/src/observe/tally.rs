//! The call counts of one observed function, and the order in which a call publishes them.
//!
//! Successes are not counted, and neither are completions: every completed call lands in
//! the duration histogram, so ok = completed - failed and in flight = started - completed,
//! which saves a call two atomic adds. Both differences hold only if a reader that sees a
//! call completed also sees that it started and, had it failed, its failure. Relaxed
//! accesses alone do not promise that: on weakly ordered CPUs (ARM) the duration can
//! become visible before the earlier counts, and a failed call would be read as ok (for
//! good, as the largest ok value read is kept) or as completed before it started. A
//! release fence before the duration is observed and an acquire fence after a reader's
//! loads of it do (see [`Tally::complete`]).

/// How a call ended without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unfinished {
    Panic,
    Cancelled,
    /// A `#[track_caller]` function left through a `return` or `?` the attribute cannot
    /// see (one inside a macro call).
    Unclassified,
}

/// The counts and their orderings, written once and instantiated for the atomics of `core`
/// (what runs) and, under `--cfg obs_loom`, for loom's (what the model checker explores):
/// the model test checks this very code.
macro_rules! tally {
    ($atomics:path) => {
        use $atomics::{AtomicU64, Ordering, fence};

        /// The call counts of one observed function besides its durations and its error
        /// sets.
        #[derive(Debug, Default)]
        pub(super) struct Tally {
            /// Calls started (kept only with `concurrency`).
            started: AtomicU64,
            /// The largest `ok` count exposed so far (see [`Tally::ok`]).
            reported_ok: AtomicU64,
            cancelled: AtomicU64,
            panicked: AtomicU64,
            unclassified: AtomicU64,
        }

        impl Tally {
            /// Counts a call started.
            #[inline]
            pub(super) fn start(&self) {
                self.started.fetch_add(1, Ordering::Relaxed);
            }

            /// Counts a call that ended without a result.
            pub(super) fn unfinished(&self, how: Unfinished) {
                let counter = match how {
                    Unfinished::Panic => &self.panicked,
                    Unfinished::Cancelled => &self.cancelled,
                    Unfinished::Unclassified => &self.unclassified,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }

            /// Completes a call: `observe` records its duration, once what the call counted
            /// before (its start, its failure, here or in an error set) is published.
            #[inline]
            pub(super) fn complete(&self, observe: impl FnOnce()) {
                // Orders every count this thread made before (and, through whatever handed
                // an async call over, those other threads made for it) before the duration:
                // a reader that sees the duration and then fences with acquire sees them
                // too. Free on x86, whose stores are never reordered with each other; one
                // barrier on ARM (a release add on the histogram's bucket would be a little
                // cheaper there, but `Histogram` would need a second kind of observation).
                fence(Ordering::Release);
                observe();
            }

            /// Calls in flight: calls started minus `completed`, the number of durations
            /// observed, read before this call. `None` would mean a call was seen completed
            /// but not started, which the fences rule out.
            pub(super) fn in_flight(&self, completed: u64) -> Option<u64> {
                // Pairs with the release in `complete`: every call counted in `completed`
                // is counted in `started` as read below.
                fence(Ordering::Acquire);
                self.started.load(Ordering::Relaxed).checked_sub(completed)
            }

            /// Successful calls: `completed` (the number of durations observed, read before
            /// this call) minus the failed ones, `in_error_sets` giving those counted in
            /// error sets. The failure of every call counted in `completed` is seen (the
            /// acquire below pairs with the release in `complete`), so a read concurrent
            /// with calls can only undercount; keeping the largest value exposed makes the
            /// counter monotonic, and exact once calls settle.
            pub(super) fn ok(&self, completed: u64, in_error_sets: impl FnOnce() -> u64) -> u64 {
                fence(Ordering::Acquire);
                let failed = self.errors(in_error_sets()) + self.cancelled();
                let ok = completed.saturating_sub(failed);
                self.reported_ok.fetch_max(ok, Ordering::Relaxed).max(ok)
            }

            /// Failed calls with `result="error"`: `in_error_sets` (returned errors) plus
            /// panics and unclassified exits.
            pub(super) fn errors(&self, in_error_sets: u64) -> u64 {
                in_error_sets + self.panicked() + self.unclassified()
            }

            /// Cancelled calls.
            pub(super) fn cancelled(&self) -> u64 {
                self.cancelled.load(Ordering::Relaxed)
            }

            /// Calls that panicked.
            pub(super) fn panicked(&self) -> u64 {
                self.panicked.load(Ordering::Relaxed)
            }

            /// Calls that left through an exit the attribute cannot see.
            pub(super) fn unclassified(&self) -> u64 {
                self.unclassified.load(Ordering::Relaxed)
            }
        }
    };
}

tally!(core::sync::atomic);

impl Tally {
    /// All counts at zero.
    pub(super) const fn new() -> Self {
        Self {
            started: AtomicU64::new(0),
            reported_ok: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            unclassified: AtomicU64::new(0),
        }
    }
}

/// The model test: `RUSTFLAGS="--cfg obs_loom" cargo test -p obs-runtime --lib
/// --no-default-features --release tally::model` (`scripts/test` runs it). Loom explores
/// every interleaving and every ordering the memory model allows of one call racing a
/// reader of the ok and in-flight counts, for each way a call can end.
#[cfg(all(test, obs_loom))]
mod model {
    use super::Unfinished;
    use loom::sync::Arc;

    tally!(loom::sync::atomic);

    /// How the modelled call ends.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Outcome {
        Ok,
        /// It returns an error, counted in its error set (`ErrorSet::count`).
        Returned,
        /// It ends without a result (`FnSite::record_unfinished`).
        Ended(Unfinished),
    }

    /// One thread makes one call that ends as `outcome` says, recorded as `FnSite` records
    /// it: `begin` counts it started, `record_error` or `record_unfinished` counts a
    /// failure, `end` observes its duration. The reader computes in-flight and ok calls as
    /// `FnSite::in_flight` and `FnSite::ok_calls` do. The duration histogram's count and
    /// the error set's counter stand in as one relaxed counter each, as they are in
    /// `Histogram` (a relaxed add per observation, relaxed loads) and `ErrorSet`.
    fn one_call(outcome: Outcome) {
        loom::model(move || {
            let tally = Arc::new(Tally::default());
            let durations = Arc::new(AtomicU64::new(0));
            let in_error_set = Arc::new(AtomicU64::new(0));
            let call = {
                let (tally, durations, in_error_set) = (
                    Arc::clone(&tally),
                    Arc::clone(&durations),
                    Arc::clone(&in_error_set),
                );
                loom::thread::spawn(move || {
                    tally.start();
                    match outcome {
                        Outcome::Ok => {}
                        Outcome::Returned => {
                            in_error_set.fetch_add(1, Ordering::Relaxed);
                        }
                        Outcome::Ended(how) => tally.unfinished(how),
                    }
                    tally.complete(|| {
                        durations.fetch_add(1, Ordering::Relaxed);
                    });
                })
            };
            let errors = || in_error_set.load(Ordering::Relaxed);
            let ok_calls = u64::from(outcome == Outcome::Ok);
            let in_flight = tally.in_flight(durations.load(Ordering::Relaxed));
            assert!(
                in_flight.is_some(),
                "{outcome:?}: a call read as completed before it started"
            );
            let ok = tally.ok(durations.load(Ordering::Relaxed), errors);
            assert!(
                ok <= ok_calls,
                "{outcome:?}: {ok} ok calls read, {ok_calls} made"
            );
            call.join().unwrap();
            assert_eq!(tally.in_flight(durations.load(Ordering::Relaxed)), Some(0));
            let ok = tally.ok(durations.load(Ordering::Relaxed), errors);
            assert_eq!(ok, ok_calls, "{outcome:?}: ok calls once the call settled");
        });
    }

    #[test]
    fn an_ok_call_is_never_read_completed_before_started() {
        one_call(Outcome::Ok);
    }

    #[test]
    fn a_returned_error_is_never_read_as_ok() {
        one_call(Outcome::Returned);
    }

    #[test]
    fn a_panic_is_never_read_as_ok() {
        one_call(Outcome::Ended(Unfinished::Panic));
    }

    #[test]
    fn a_cancellation_is_never_read_as_ok() {
        one_call(Outcome::Ended(Unfinished::Cancelled));
    }

    #[test]
    fn an_unclassified_exit_is_never_read_as_ok() {
        one_call(Outcome::Ended(Unfinished::Unclassified));
    }
}
