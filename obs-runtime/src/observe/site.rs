//! One static [`FnSite`] per observed function: its span metadata, its counters and the
//! link-time list of every site.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing::field::{FieldSet, Value};
use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::{Level, Metadata, Span};
use tracing_core::callsite::DefaultCallsite;

use super::classify::ErrorName;
use super::tally::Tally;
use crate::metrics::{Histogram, Location, Slo};

/// A raw clock reading, converted to nanoseconds only once per call, in `end`.
#[inline]
pub(super) fn clock_now() -> u64 {
    crate::time::clock().raw()
}

/// Default buckets of `function_calls_duration_seconds`, in seconds (the Autometrics
/// defaults).
pub const FUNCTION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Names of the span fields every observed function declares first, in order.
pub(crate) const FIXED_FIELDS: [&str; 5] = crate::metrics::name::SPAN_FIELDS;

/// The `error` label of a call that left a `#[track_caller]` function through an exit
/// `#[observe]` cannot see.
pub(crate) const UNCLASSIFIED: &str = "unclassified";

/// Outcome counters and timing of one observed function.
pub(super) struct Cells {
    duration: Histogram,
    /// One error set per error type seen (a generic function has one per instantiation
    /// that failed): the first few inline, the rest in `more`.
    errors: [OnceLock<ErrorSet>; INLINE_ERROR_SETS],
    more: Mutex<Vec<&'static ErrorSet>>,
}

/// Error types per function kept without a lock.
const INLINE_ERROR_SETS: usize = 4;

/// The `error` counters of one error type of one function.
pub(super) struct ErrorSet {
    /// `type_name` of the error type: the key.
    type_name: &'static str,
    /// The label value of each counter: the variants of an [`ErrorLabel`] enum, or the
    /// type's readable name.
    labels: Box<[&'static str]>,
    counts: Box<[AtomicU64]>,
}

impl ErrorSet {
    fn new(name: &ErrorName, type_name: &'static str, module: &str) -> Self {
        let labels: Box<[&'static str]> = match *name {
            ErrorName::Variant(values, _) => values.into(),
            ErrorName::Type(full) => {
                let own_crate = module.split("::").next().unwrap_or(module);
                // Leaked once per function and error type: both are fixed by the program.
                Box::new([&*Box::leak(
                    crate::observe::type_name::readable(full, own_crate).into_boxed_str(),
                )])
            }
        };
        let counts = (0..labels.len().max(1))
            .map(|_| AtomicU64::new(0))
            .collect();
        Self {
            type_name,
            labels,
            counts,
        }
    }

    fn is(&self, type_name: &'static str) -> bool {
        core::ptr::eq(self.type_name, type_name) || self.type_name == type_name
    }

    /// Counts one error; returns its label value.
    #[inline]
    pub(super) fn count(&self, name: &ErrorName) -> &'static str {
        let index = match *name {
            ErrorName::Variant(_, i) => i,
            ErrorName::Type(_) => 0,
        };
        if let (Some(c), Some(label)) = (self.counts.get(index), self.labels.get(index)) {
            c.fetch_add(1, Ordering::Relaxed);
            label
        } else {
            // An `ErrorLabel` index past its values: a hand-written impl's bug.
            "unknown"
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn count_of(&self, label: &str) -> u64 {
        self.labels
            .iter()
            .zip(self.counts.iter())
            .filter(|(l, _)| **l == label)
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl Cells {
    /// Every error set, inline first.
    fn error_sets(&self, mut f: impl FnMut(&ErrorSet)) {
        for slot in &self.errors {
            match slot.get() {
                Some(set) => f(set),
                None => return,
            }
        }
        for set in self
            .more
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            f(set);
        }
    }

    /// The error set of `type_name`, created on its first error.
    #[inline]
    pub(super) fn error_set(
        &self,
        name: &ErrorName,
        type_name: &'static str,
        module: &str,
    ) -> &ErrorSet {
        // The common case: one error type per function, its set already made.
        if let Some(set) = self.errors[0].get()
            && core::ptr::eq(set.type_name, type_name)
        {
            return set;
        }
        self.error_set_slow(name, type_name, module)
    }

    #[cold]
    fn error_set_slow(&self, name: &ErrorName, type_name: &'static str, module: &str) -> &ErrorSet {
        for slot in &self.errors {
            let set = slot.get_or_init(|| ErrorSet::new(name, type_name, module));
            if set.is(type_name) {
                return set;
            }
        }
        let mut more = self.more.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(set) = more.iter().find(|s| s.is(type_name)) {
            return set;
        }
        // Leaked: one per error type of a function, a number the program fixes.
        let set: &'static ErrorSet = Box::leak(Box::new(ErrorSet::new(name, type_name, module)));
        more.push(set);
        set
    }
}

/// The static description and counters of one observed function; `#[observe]` emits one
/// per function and registers it in the link-time catalogue.
#[repr(align(128))]
pub struct FnSite {
    /// The function name (the `function` label).
    pub function: &'static str,
    /// The module path (the `module` label).
    pub module: &'static str,
    /// The span's metadata; its fields start with [`FIXED_FIELDS`].
    meta: Metadata<'static>,
    /// The span's callsite (points at `meta`, which points back at it).
    callsite: DefaultCallsite,
    /// Upper bounds of the duration histogram.
    pub buckets: &'static [f64],
    /// Whether `function_calls_concurrent` is kept.
    pub concurrency: bool,
    /// Level of the log event emitted on error, if asked for with `err(level = ..)`.
    pub err_level: Option<Level>,
    /// Extra bounded labels: name and the function returning the value.
    pub labels: &'static [ExtraLabel],
    /// The service level objective of `#[observe(slo = ..)]`, if any.
    pub slo: Option<&'static Slo>,
    /// Calls started, cancelled, panicked or left unclassified, and the orderings that
    /// keep the counts derived from them (ok, in flight) exact.
    pub(super) tally: Tally,
    pub(super) cells: OnceLock<Cells>,
}

impl fmt::Debug for FnSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnSite")
            .field("function", &self.function)
            .field("module", &self.module)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// The options of an observed function, as `#[observe(..)]` sets them.
#[derive(Clone, Copy, Debug)]
pub struct SiteConfig {
    /// Upper bounds of the duration histogram.
    pub buckets: &'static [f64],
    /// Whether the in-flight gauge is kept.
    pub concurrency: bool,
    /// Level of the log event on error, if any.
    pub err_level: Option<Level>,
    /// Extra bounded labels.
    pub labels: &'static [ExtraLabel],
    /// The service level objective the function is measured against, if any.
    pub slo: Option<&'static Slo>,
}

impl SiteConfig {
    /// The defaults: [`FUNCTION_BUCKETS`], in-flight kept, no error log, no extra labels,
    /// no SLO.
    pub const DEFAULT: SiteConfig = SiteConfig {
        buckets: &FUNCTION_BUCKETS,
        concurrency: true,
        err_level: None,
        labels: &[],
        slo: None,
    };
}

/// The span fields of a function that lists no `fields(..)`.
pub const FIXED: &[&str] = &FIXED_FIELDS;

/// An extra bounded label of an observed function: its name, and a function returning its
/// value (`Label::as_str` of the value given in `labels(..)`).
pub type ExtraLabel = (&'static str, fn() -> &'static str);

impl FnSite {
    /// A site with all counters at zero, for `#[observe]`'s
    /// `static SITE: FnSite = FnSite::new(&SITE, ..)`: the span metadata and its callsite
    /// live inside the site and point at each other, so one static serves.
    #[allow(
        clippy::too_many_arguments,
        reason = "built once per function by the macro"
    )]
    #[doc(hidden)]
    pub const fn new(
        this: &'static FnSite,
        function: &'static str,
        module: &'static str,
        file: &'static str,
        line: u32,
        level: Level,
        fields: &'static [&'static str],
        config: SiteConfig,
    ) -> Self {
        Self {
            function,
            module,
            meta: Metadata::new(
                function,
                module,
                level,
                Some(file),
                Some(line),
                Some(module),
                FieldSet::new(fields, tracing_core::callsite::Identifier(&this.callsite)),
                tracing_core::metadata::Kind::SPAN,
            ),
            callsite: DefaultCallsite::new(&this.meta),
            buckets: config.buckets,
            concurrency: config.concurrency,
            err_level: config.err_level,
            labels: config.labels,
            slo: config.slo,
            tally: Tally::new(),
            cells: OnceLock::new(),
        }
    }

    pub(super) fn cells(&self) -> &Cells {
        self.cells.get_or_init(|| Cells {
            duration: Histogram::with_buckets(self.buckets),
            errors: [const { OnceLock::new() }; INLINE_ERROR_SETS],
            more: Mutex::new(Vec::new()),
        })
    }

    /// Calls in progress.
    pub fn in_flight(&self) -> i64 {
        if !self.concurrency {
            return 0;
        }
        // Completed first: `started` read afterwards is at least as large (see
        // `Tally::in_flight`).
        let completed = self.duration().count();
        let in_flight = self.tally.in_flight(completed).unwrap_or(0);
        i64::try_from(in_flight).unwrap_or(i64::MAX)
    }

    /// Successful calls: completed calls (the duration histogram's count) minus the
    /// others, never decreasing (see [`Tally::ok`]).
    pub(super) fn ok_calls(&self) -> u64 {
        // Completed first: the failures read afterwards include those of every call in it.
        let completed = self.duration().count();
        self.tally.ok(completed, || self.in_error_sets())
    }

    /// Failed calls counted in error sets (those that returned an error).
    fn in_error_sets(&self) -> u64 {
        let mut n = 0;
        self.cells().error_sets(|set| n += set.total());
        n
    }

    /// Completed calls with this `result` label (`ok`, `error`, `cancelled`).
    pub fn calls(&self, result: &str) -> u64 {
        match result {
            "ok" => self.ok_calls(),
            "cancelled" => self.tally.cancelled(),
            "error" => self.tally.errors(self.in_error_sets()),
            _ => 0,
        }
    }

    /// Failed calls whose `error` label is `error` (a variant name, a type name or
    /// `panic`).
    pub fn errors(&self, error: &str) -> u64 {
        if error == "panic" {
            return self.tally.panicked();
        }
        if error == UNCLASSIFIED {
            return self.tally.unclassified();
        }
        let mut n = 0;
        self.cells().error_sets(|set| n += set.count_of(error));
        n
    }

    /// The `error` label values seen so far (variants of every `ErrorLabel` type that
    /// failed, and the names of other error types), sorted, without `panic`.
    pub(super) fn error_labels(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        self.cells()
            .error_sets(|set| names.extend(set.labels.iter().copied()));
        names
    }

    /// The duration histogram (count, sum, buckets).
    pub fn duration(&self) -> &Histogram {
        &self.cells().duration
    }

    pub(super) fn metadata(&'static self) -> &'static Metadata<'static> {
        &self.meta
    }

    /// Where the function is declared (file and line).
    pub fn location(&self) -> Location {
        Location {
            file: self.meta.file().unwrap_or(""),
            line: self.meta.line().unwrap_or(0),
            column: 0,
        }
    }

    /// Whether a span of this site would be recorded by the current subscriber.
    #[inline]
    pub(super) fn span_enabled(&'static self) -> bool {
        let meta = self.metadata();
        if *meta.level() > STATIC_MAX_LEVEL || *meta.level() > LevelFilter::current() {
            return false;
        }
        let interest = self.callsite.interest();
        if interest.is_never() {
            return false;
        }
        interest.is_always() || tracing::dispatcher::get_default(|d| d.enabled(meta))
    }

    #[doc(hidden)]
    /// Builds the span: the fixed fields, then `user` values for the listed fields.
    #[inline]
    pub fn span_for(&'static self, user: &[Option<&dyn Value>]) -> Span {
        if !self.span_enabled() {
            return Span::none();
        }
        let meta = self.metadata();
        if user.is_empty() {
            let values: [Option<&dyn Value>; FIXED_FIELDS.len()] = [
                Some(&self.function),
                Some(&self.module),
                Some(&"internal"),
                None,
                None,
            ];
            return Span::new(meta, &meta.fields().value_set_all(&values));
        }
        self.span_with_fields(meta, user)
    }

    #[cold]
    pub(super) fn span_with_fields(
        &self,
        meta: &'static Metadata<'static>,
        user: &[Option<&dyn Value>],
    ) -> Span {
        let fields: &FieldSet = meta.fields();
        let mut values: [Option<&dyn Value>; 32] = [None; 32];
        values[0] = Some(&self.function as &dyn Value);
        values[1] = Some(&self.module as &dyn Value);
        values[2] = Some(&"internal" as &dyn Value);
        for (slot, v) in values[FIXED_FIELDS.len()..].iter_mut().zip(user) {
            *slot = *v;
        }
        let n = fields.len().min(values.len());
        Span::new(meta, &fields.value_set_all(&values[..n]))
    }

    #[inline]
    pub(super) fn begin(&self) {
        if self.concurrency {
            self.tally.start();
        }
    }

    #[inline]
    pub(super) fn end(&self, start: u64) {
        let clock = crate::time::clock();
        let nanos = clock.delta_as_nanos(start, clock.raw());
        // One multiply: cheaper than building a `Duration` and dividing it back down.
        #[allow(
            clippy::cast_precision_loss,
            reason = "durations below 2^53 ns are exact"
        )]
        let secs = nanos as f64 * 1e-9;
        // After the call's start and failure counts are published (see `Tally::complete`).
        self.tally.complete(|| self.cells().duration.observe(secs));
    }
}

/// Every function instrumented with `#[observe]`, collected at link time.
// linkme places the slice in a link section; that attribute is what `unsafe_code` flags.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static OBSERVED: [&'static FnSite];
