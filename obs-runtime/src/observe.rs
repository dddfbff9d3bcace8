//! The runtime half of `#[observe]`: one static [`FnSite`] per observed function, and the
//! guard that owns span, timer, in-flight count and outcome of one call.
//!
//! The attribute expands to a few statics and one call into this module, so the logic is
//! compiled once here instead of being pasted into every function.

use core::convert::Infallible;
use core::fmt;
use core::future::Future;
use core::ops::ControlFlow;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll};
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing::field::{FieldSet, Value};
use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::{Level, Metadata, Span};
use tracing_core::callsite::DefaultCallsite;

use crate::encoding::{FamilyHeader, HistogramSample, MetricEncoder, Number};
use crate::family::{Collect, Location};
use crate::metric::Histogram;
use crate::name::MetricKind;

/// The process-wide TSC clock (calibrated once), read raw on the hot path.
pub(crate) fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A raw clock reading, converted to nanoseconds only once per call, in `end`.
#[inline]
fn clock_now() -> u64 {
    clock().raw()
}

/// Target of the `exception` span events (of `#[observe]` and the HTTP layer): they belong
/// to the trace, so the log layer writes no line for them.
pub(crate) const EXCEPTION_TARGET: &str = "obs::exception";

/// Target of the log line `err(level = ..)` asks for: the span already has the matching
/// `exception` event, so the trace layer records no second span event for it.
pub(crate) const ERROR_LOG_TARGET: &str = "obs::error";

/// Default buckets of `function_calls_duration_seconds`, in seconds (the Autometrics
/// defaults).
pub const FUNCTION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Names of the span fields every observed function declares first, in order.
pub(crate) const FIXED_FIELDS: [&str; 5] = crate::name::SPAN_FIELDS;

/// An error enum whose variants are the bounded values of the `error` label.
///
/// Derive it with `#[derive(ErrorLabel)]`; variants may carry data, the label is the
/// variant's name (or `#[error_label(rename = "..")]`).
///
/// ```
/// use obs_runtime::ErrorLabel;
///
/// #[derive(Debug, ErrorLabel)]
/// enum CheckoutError {
///     OutOfStock { sku: String },
///     #[error_label(rename = "payment_declined")]
///     Declined(u16),
/// }
///
/// assert_eq!(CheckoutError::VALUES, &["OutOfStock", "payment_declined"]);
/// assert_eq!(CheckoutError::Declined(402).index(), 1);
/// ```
pub trait ErrorLabel {
    /// The label value of every variant, in declaration order.
    const VALUES: &'static [&'static str];

    /// The index of this value's variant in [`VALUES`](Self::VALUES).
    fn index(&self) -> usize;

    /// The label value of this error.
    fn label(&self) -> &'static str {
        Self::VALUES.get(self.index()).copied().unwrap_or("unknown")
    }
}

/// How the `error` label of a failed call is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorName {
    /// A variant of an [`ErrorLabel`] enum: its values and this variant's index.
    Variant(&'static [&'static str], usize),
    /// Any other error type: its full type name, shortened into a readable label once per
    /// function and type (see the `observe` docs).
    Type(&'static str),
}

/// A failed call's error message, as the error type allows.
#[derive(Clone, Copy)]
pub enum Message<'a> {
    /// The error implements `Display`.
    Display(&'a dyn fmt::Display),
    /// The error implements `Debug` but not `Display`.
    Debug(&'a dyn fmt::Debug),
    /// Neither.
    None,
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Message")
            .field(&format_args!("{self}"))
            .finish()
    }
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Display(d) => d.fmt(f),
            Message::Debug(d) => d.fmt(f),
            Message::None => Ok(()),
        }
    }
}

/// A failed call's error, borrowed for the duration of the recording.
#[derive(Clone, Copy)]
pub struct ErrorInfo<'a> {
    /// The `error` label.
    pub name: ErrorName,
    /// The full type name, for `exception.type`.
    pub type_name: &'static str,
    /// The error's message (its `Display`, else its `Debug`), for `exception.message`.
    pub message: Message<'a>,
}

/// Wraps a reference so that method calls on `&&..Probe` pick the most specific of the
/// `Probe*` traits below (autoref specialisation, resolved where the type is concrete).
#[derive(Debug)]
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// `error` label of an [`ErrorLabel`] enum: its variant.
pub trait ProbeLabel {
    /// The label.
    fn obs_error_name(&self) -> ErrorName;
}
impl<E: ErrorLabel> ProbeLabel for &Probe<'_, E> {
    fn obs_error_name(&self) -> ErrorName {
        ErrorName::Variant(E::VALUES, self.0.index())
    }
}

/// `error` label of any other error type: its short type name.
pub trait ProbeType {
    /// The label.
    fn obs_error_name(&self) -> ErrorName;
}
impl<E: ?Sized> ProbeType for Probe<'_, E> {
    fn obs_error_name(&self) -> ErrorName {
        ErrorName::Type(core::any::type_name::<E>())
    }
}

/// A call's output seen by its type: a `Result` (through any alias or path) or not.
#[derive(Debug)]
pub enum Classified<'a, E> {
    /// The output is not a `Result`.
    NotResult,
    /// `Ok(_)`.
    Ok,
    /// `Err(e)`.
    Err(&'a E),
}

impl<E> Clone for Classified<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Classified<'_, E> {}

/// A `Result` output, whatever its spelling (`io::Result<T>`, `type Outcome = ..`).
pub trait ProbeResult<'a> {
    /// The error type.
    type Error;
    /// Its variant.
    fn obs_result(&self) -> Classified<'a, Self::Error>;
}
impl<'a, T, E> ProbeResult<'a> for &Probe<'a, Result<T, E>> {
    type Error = E;
    #[inline]
    fn obs_result(&self) -> Classified<'a, E> {
        match self.0 {
            Ok(_) => Classified::Ok,
            Err(e) => Classified::Err(e),
        }
    }
}

/// Any output that is not a `Result`.
pub trait ProbeNotResult<'a> {
    /// No error type.
    type Error;
    /// Always [`Classified::NotResult`].
    fn obs_result(&self) -> Classified<'a, Self::Error>;
}
impl<'a, T: ?Sized> ProbeNotResult<'a> for Probe<'a, T> {
    type Error = core::convert::Infallible;
    #[inline]
    fn obs_result(&self) -> Classified<'a, core::convert::Infallible> {
        Classified::NotResult
    }
}

/// Message of an error that implements `Display`.
pub trait ProbeDisplay<'a> {
    /// The message.
    fn obs_error_message(&self) -> Message<'a>;
}
impl<'a, E: fmt::Display> ProbeDisplay<'a> for &&Probe<'a, E> {
    fn obs_error_message(&self) -> Message<'a> {
        Message::Display(self.0)
    }
}

/// Message of an error that implements only `Debug`.
pub trait ProbeDebug<'a> {
    /// The message.
    fn obs_error_message(&self) -> Message<'a>;
}
impl<'a, E: fmt::Debug> ProbeDebug<'a> for &Probe<'a, E> {
    fn obs_error_message(&self) -> Message<'a> {
        Message::Debug(self.0)
    }
}

/// No message: the error implements neither `Display` nor `Debug`.
pub trait ProbeNone<'a> {
    /// The message.
    fn obs_error_message(&self) -> Message<'a>;
}
impl<'a, E: ?Sized> ProbeNone<'a> for Probe<'a, E> {
    fn obs_error_message(&self) -> Message<'a> {
        Message::None
    }
}

impl fmt::Debug for ErrorInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorInfo")
            .field("name", &self.name)
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}

/// The outcome of one completed call.
#[derive(Clone, Copy, Debug)]
pub enum CallOutcome<'a> {
    /// It succeeded.
    Ok,
    /// It returned an error.
    Err(ErrorInfo<'a>),
}

/// Outcome counters and timing of one observed function.
struct Cells {
    duration: Histogram,
    /// One error set per error type seen (a generic function has one per instantiation
    /// that failed): the first few inline, the rest in `more`.
    errors: [OnceLock<ErrorSet>; INLINE_ERROR_SETS],
    more: Mutex<Vec<&'static ErrorSet>>,
}

/// Error types per function kept without a lock.
const INLINE_ERROR_SETS: usize = 4;

/// The `error` counters of one error type of one function.
struct ErrorSet {
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
                    crate::type_name::readable(full, own_crate).into_boxed_str(),
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
    fn count(&self, name: &ErrorName) -> &'static str {
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
    fn error_set(&self, name: &ErrorName, type_name: &'static str, module: &str) -> &ErrorSet {
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
    /// Calls started (kept only with `concurrency`); in flight = started - completed, so a
    /// call costs one extra atomic, not two.
    started: AtomicU64,
    /// The largest `ok` count exposed so far (see [`FnSite::calls`]).
    reported_ok: AtomicU64,
    cancelled: AtomicU64,
    panicked: AtomicU64,
    unclassified: AtomicU64,
    cells: OnceLock<Cells>,
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
}

impl SiteConfig {
    /// The defaults: [`FUNCTION_BUCKETS`], in-flight kept, no error log, no extra labels.
    pub const DEFAULT: SiteConfig = SiteConfig {
        buckets: &FUNCTION_BUCKETS,
        concurrency: true,
        err_level: None,
        labels: &[],
    };
}

/// Classifies a call's output: `classified` is the output seen by type (a `Result` or
/// not; not a `Result` is a success), `name` and `message` are the macro's probes for the
/// error type, resolved where that type is concrete.
#[inline]
pub fn outcome<'a, E>(
    classified: Classified<'a, E>,
    name: impl FnOnce(&'a E) -> ErrorName,
    message: impl FnOnce(&'a E) -> Message<'a>,
) -> CallOutcome<'a> {
    match classified {
        Classified::NotResult | Classified::Ok => CallOutcome::Ok,
        Classified::Err(e) => CallOutcome::Err(ErrorInfo {
            name: name(e),
            type_name: core::any::type_name::<E>(),
            message: message(e),
        }),
    }
}

/// Classifies a non-`Result` output with a predicate (`ok_if`, or `error_if` with
/// `ok_when = false`).
#[inline]
pub fn predicate<T>(_output: &T, holds: bool, ok_when: bool) -> CallOutcome<'_> {
    if holds == ok_when {
        CallOutcome::Ok
    } else {
        let type_name = core::any::type_name::<T>();
        CallOutcome::Err(ErrorInfo {
            name: ErrorName::Type(type_name),
            type_name,
            message: Message::None,
        })
    }
}

/// The span fields of a function that lists no `fields(..)`.
pub const FIXED: &[&str] = &FIXED_FIELDS;

/// An extra bounded label of an observed function: its name, and a function returning its
/// value (`Label::as_str` of the value given in `labels(..)`).
pub type ExtraLabel = (&'static str, fn() -> &'static str);

/// The callsite of the `exception` event of a failed call.
static EXCEPTION_CALLSITE: DefaultCallsite = DefaultCallsite::new(&EXCEPTION_META);

static EXCEPTION_META: Metadata<'static> = Metadata::new(
    "exception",
    EXCEPTION_TARGET,
    Level::ERROR,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(
        &["message", "exception.type", "exception.message"],
        tracing_core::callsite::Identifier(&EXCEPTION_CALLSITE),
    ),
    tracing_core::metadata::Kind::EVENT,
);

/// Sends the `exception` event (OpenTelemetry's `exception.type` and `exception.message`)
/// as a child of span `id`, to `dispatch`, the span's own subscriber.
fn exception_event(
    id: &tracing::Id,
    dispatch: &tracing::Dispatch,
    type_name: &str,
    message: Message<'_>,
) {
    if Level::ERROR > STATIC_MAX_LEVEL || Level::ERROR > LevelFilter::current() {
        return;
    }
    let interest = EXCEPTION_CALLSITE.interest();
    if interest.is_never() || !(interest.is_always() || dispatch.enabled(&EXCEPTION_META)) {
        return;
    }
    let fields = EXCEPTION_META.fields();
    let mut it = fields.iter();
    let (Some(msg), Some(kind), Some(text)) = (it.next(), it.next(), it.next()) else {
        return;
    };
    let values = [
        (&msg, Some(&format_args!("exception") as &dyn Value)),
        (&kind, Some(&type_name as &dyn Value)),
        (&text, Some(&tracing::field::display(message) as &dyn Value)),
    ];
    dispatch.event(&tracing::Event::new_child_of(
        id.clone(),
        &EXCEPTION_META,
        &fields.value_set(&values),
    ));
}

/// What a guard records when it is dropped without a result.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unfinished {
    Panic,
    Cancelled,
    /// A `#[track_caller]` function left through a `return` or `?` the attribute cannot
    /// see (one inside a macro call).
    Unclassified,
}

/// The `error` label of a call that left a `#[track_caller]` function through an exit
/// `#[observe]` cannot see.
pub(crate) const UNCLASSIFIED: &str = "unclassified";

impl FnSite {
    /// A site with all counters at zero, for `#[observe]`'s
    /// `static SITE: FnSite = FnSite::new(&SITE, ..)`: the span metadata and its callsite
    /// live inside the site and point at each other, so one static serves.
    #[allow(
        clippy::too_many_arguments,
        reason = "built once per function by the macro"
    )]
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
            started: AtomicU64::new(0),
            reported_ok: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            unclassified: AtomicU64::new(0),
            cells: OnceLock::new(),
        }
    }

    fn cells(&self) -> &Cells {
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
        // Completed first: `started` read afterwards is at least as large.
        let completed = self.duration().count();
        let started = self.started.load(Ordering::Relaxed);
        i64::try_from(started.saturating_sub(completed)).unwrap_or(i64::MAX)
    }

    /// Successful calls: completed calls (the duration histogram's count) minus the
    /// others. Failures are counted before their duration is observed, so a concurrent
    /// read can only undercount; keeping the largest value exposed makes the counter
    /// monotonic, and exact once calls settle.
    fn ok_calls(&self) -> u64 {
        let completed = self.duration().count();
        let failed = self.calls("error") + self.cancelled.load(Ordering::Relaxed);
        let ok = completed.saturating_sub(failed);
        self.reported_ok.fetch_max(ok, Ordering::Relaxed).max(ok)
    }

    /// Completed calls with this `result` label (`ok`, `error`, `cancelled`).
    pub fn calls(&self, result: &str) -> u64 {
        match result {
            "ok" => self.ok_calls(),
            "cancelled" => self.cancelled.load(Ordering::Relaxed),
            "error" => {
                let mut n = self.panicked.load(Ordering::Relaxed)
                    + self.unclassified.load(Ordering::Relaxed);
                self.cells().error_sets(|set| n += set.total());
                n
            }
            _ => 0,
        }
    }

    /// Failed calls whose `error` label is `error` (a variant name, a type name or
    /// `panic`).
    pub fn errors(&self, error: &str) -> u64 {
        if error == "panic" {
            return self.panicked.load(Ordering::Relaxed);
        }
        if error == UNCLASSIFIED {
            return self.unclassified.load(Ordering::Relaxed);
        }
        let mut n = 0;
        self.cells().error_sets(|set| n += set.count_of(error));
        n
    }

    /// The `error` label values seen so far (variants of every `ErrorLabel` type that
    /// failed, and the names of other error types), sorted, without `panic`.
    fn error_labels(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        self.cells()
            .error_sets(|set| names.extend(set.labels.iter().copied()));
        names
    }

    /// The duration histogram (count, sum, buckets).
    pub fn duration(&self) -> &Histogram {
        &self.cells().duration
    }

    fn metadata(&'static self) -> &'static Metadata<'static> {
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
    fn span_enabled(&'static self) -> bool {
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
    fn span_with_fields(
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

    /// Starts observing a synchronous call: creates and enters the span, starts the timer,
    /// counts the call in flight. `user` holds the values of the fields listed in
    /// `fields(..)`, in order.
    #[inline]
    pub fn enter(&'static self, user: &[Option<&dyn Value>]) -> CallGuard {
        let span = self.span_for(user);
        self.begin();
        CallGuard {
            site: self,
            span: span.entered(),
            start: clock_now(),
            finished: false,
        }
    }

    /// Wraps an async call's future: `span` (from [`span_for`](Self::span_for)) is
    /// entered on every poll, the timer runs from the first poll to completion, and a
    /// future dropped before completion is recorded as `cancelled`.
    #[inline]
    pub fn instrument<F, C>(&'static self, span: Span, future: F, classify: C) -> Observed<F, C>
    where
        F: Future,
        C: for<'a> Fn(&'a F::Output) -> CallOutcome<'a>,
    {
        Observed {
            site: self,
            span,
            start: None,
            future,
            classify,
            done: false,
        }
    }

    #[inline]
    fn begin(&self) {
        if self.concurrency {
            self.started.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[inline]
    fn end(&self, start: u64) {
        let clock = clock();
        let nanos = clock.delta_as_nanos(start, clock.raw());
        // One multiply: cheaper than building a `Duration` and dividing it back down.
        #[allow(
            clippy::cast_precision_loss,
            reason = "durations below 2^53 ns are exact"
        )]
        self.cells().duration.observe(nanos as f64 * 1e-9);
    }

    #[inline]
    fn record(&self, span: &Span, outcome: &CallOutcome<'_>) {
        match outcome {
            // Successes are not counted separately: every completed call lands in the
            // duration histogram, so ok = completed - errors - panics - cancellations.
            CallOutcome::Ok => {}
            CallOutcome::Err(e) => self.record_error(span, e),
        }
    }

    /// Counts an error and reports it on the span. The error's parts are read one word at
    /// a time where needed, never copied whole: a 16-byte read of what the caller wrote as
    /// 8-byte words stalls store forwarding.
    #[cold]
    #[inline(never)]
    fn record_error(&self, span: &Span, e: &ErrorInfo<'_>) {
        let label = self
            .cells()
            .error_set(&e.name, e.type_name, self.module)
            .count(&e.name);
        self.report_error(span, label, e.type_name, e.message);
    }

    fn record_unfinished(&self, span: &Span, how: Unfinished) {
        match how {
            Unfinished::Panic => {
                self.panicked.fetch_add(1, Ordering::Relaxed);
                self.report_error(span, "panic", "panic", Message::None);
            }
            Unfinished::Cancelled => {
                self.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            Unfinished::Unclassified => {
                self.unclassified.fetch_add(1, Ordering::Relaxed);
                self.report_error(span, UNCLASSIFIED, UNCLASSIFIED, Message::None);
            }
        }
    }

    /// Marks the span as failed and attaches the `exception` event; logs only when the
    /// function asked for it with `err(level = ..)`.
    #[cold]
    fn report_error(&self, span: &Span, label: &str, type_name: &str, message: Message<'_>) {
        if let Some(meta) = span.metadata() {
            // Straight to the span's own subscriber: no lookup of the current dispatcher,
            // and status and type in one record.
            span.with_subscriber(|(id, dispatch)| {
                let fields = meta.fields();
                let mut fixed = fields.iter().skip(3);
                if let (Some(status), Some(kind)) = (fixed.next(), fixed.next()) {
                    dispatch.record(
                        id,
                        &tracing::span::Record::new(&fields.value_set(&[
                            (&status, Some(&"ERROR" as &dyn Value)),
                            (&kind, Some(&label as &dyn Value)),
                        ])),
                    );
                }
                exception_event(id, dispatch, type_name, message);
            });
        }
        if let Some(level) = self.err_level {
            let message = match message {
                Message::None => Message::Display(&label),
                m => m,
            };
            let (function, module) = (self.function, self.module);
            macro_rules! log_at {
                ($level:expr) => {
                    tracing::event!(
                        target: ERROR_LOG_TARGET,
                        $level,
                        code.function = function,
                        code.namespace = module,
                        error.r#type = label,
                        "{function} failed: {message}"
                    )
                };
            }
            match level {
                Level::ERROR => log_at!(Level::ERROR),
                Level::WARN => log_at!(Level::WARN),
                Level::INFO => log_at!(Level::INFO),
                Level::DEBUG => log_at!(Level::DEBUG),
                _ => log_at!(Level::TRACE),
            }
        }
    }
}

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
        Observed {
            site: self.site,
            span,
            start: Some(self.start),
            future,
            classify,
            done: false,
        }
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

/// How a synchronous function's returned value is recorded, chosen by its type: a boxed
/// `dyn Future` (`Pin<Box<dyn Future<Output = T> + Send + 'a>>`, `BoxFuture<'a, T>`) is
/// recorded over its completion, any other value at once.
pub mod returned {
    use core::future::Future;
    use core::pin::Pin;

    use super::{CallGuard, CallOutcome, Probe};

    /// Records the value when the call returns.
    #[derive(Debug)]
    pub struct Value;

    /// Records a boxed `Send` future over its completion.
    #[derive(Debug)]
    pub struct BoxedSend;

    /// Records a boxed future over its completion.
    #[derive(Debug)]
    pub struct Boxed;

    impl Value {
        /// Records the call's outcome and returns its value.
        #[inline]
        pub fn obs_finish<T, C>(self, out: T, guard: CallGuard, classify: C) -> T
        where
            C: for<'a> Fn(&'a T) -> CallOutcome<'a>,
        {
            guard.finish(&classify(&out));
            out
        }
    }

    impl BoxedSend {
        /// Wraps the future so that its completion is recorded.
        #[inline]
        pub fn obs_finish<'f, O, C>(
            self,
            out: Pin<Box<dyn Future<Output = O> + Send + 'f>>,
            guard: CallGuard,
            classify: C,
        ) -> Pin<Box<dyn Future<Output = O> + Send + 'f>>
        where
            C: for<'a> Fn(&'a O) -> CallOutcome<'a> + Send + 'f,
            O: 'f,
        {
            Box::pin(guard.into_future(out, classify))
        }
    }

    impl Boxed {
        /// Wraps the future so that its completion is recorded.
        #[inline]
        pub fn obs_finish<'f, O, C>(
            self,
            out: Pin<Box<dyn Future<Output = O> + 'f>>,
            guard: CallGuard,
            classify: C,
        ) -> Pin<Box<dyn Future<Output = O> + 'f>>
        where
            C: for<'a> Fn(&'a O) -> CallOutcome<'a> + 'f,
            O: 'f,
        {
            Box::pin(guard.into_future(out, classify))
        }
    }

    /// A boxed future.
    pub trait ProbeFuture {
        /// How it is recorded.
        type Kind;
        /// How it is recorded.
        fn obs_returned(&self) -> Self::Kind;
    }
    impl<O> ProbeFuture for &Probe<'_, Pin<Box<dyn Future<Output = O> + Send + '_>>> {
        type Kind = BoxedSend;
        fn obs_returned(&self) -> BoxedSend {
            BoxedSend
        }
    }
    impl<O> ProbeFuture for &Probe<'_, Pin<Box<dyn Future<Output = O> + '_>>> {
        type Kind = Boxed;
        fn obs_returned(&self) -> Boxed {
            Boxed
        }
    }

    /// Any other value.
    pub trait ProbeValue {
        /// Recorded at once.
        fn obs_returned(&self) -> Value;
    }
    impl<T: ?Sized> ProbeValue for Probe<'_, T> {
        fn obs_returned(&self) -> Value {
            Value
        }
    }
}

/// `?` for the body of a `#[track_caller]` function, which cannot be wrapped in a
/// closure: `expr?` becomes a match on [`Branch::obs_branch`] whose failure leaves the
/// body through [`FromResidual::obs_from_residual`], for the same types and with the same
/// conversions as the operator (`From::from` on the error).
pub trait Branch {
    /// The value `?` evaluates to.
    type Output;
    /// What a failure carries out.
    type Residual;
    /// Continue with the value, or break with the residual.
    fn obs_branch(self) -> ControlFlow<Self::Residual, Self::Output>;
}

/// The function's output from a failure of `?`: see [`Branch`].
pub trait FromResidual<R> {
    /// The output.
    fn obs_from_residual(residual: R) -> Self;
}

impl<T, E> Branch for Result<T, E> {
    type Output = T;
    type Residual = Result<Infallible, E>;
    #[inline]
    fn obs_branch(self) -> ControlFlow<Self::Residual, T> {
        match self {
            Ok(v) => ControlFlow::Continue(v),
            Err(e) => ControlFlow::Break(Err(e)),
        }
    }
}

impl<T> Branch for Option<T> {
    type Output = T;
    type Residual = Option<Infallible>;
    #[inline]
    fn obs_branch(self) -> ControlFlow<Self::Residual, T> {
        match self {
            Some(v) => ControlFlow::Continue(v),
            None => ControlFlow::Break(None),
        }
    }
}

impl<B, C> Branch for ControlFlow<B, C> {
    type Output = C;
    type Residual = ControlFlow<B, Infallible>;
    #[inline]
    fn obs_branch(self) -> ControlFlow<Self::Residual, C> {
        match self {
            ControlFlow::Continue(c) => ControlFlow::Continue(c),
            ControlFlow::Break(b) => ControlFlow::Break(ControlFlow::Break(b)),
        }
    }
}

impl<T, E> Branch for Poll<Result<T, E>> {
    type Output = Poll<T>;
    type Residual = Result<Infallible, E>;
    #[inline]
    fn obs_branch(self) -> ControlFlow<Self::Residual, Poll<T>> {
        match self {
            Poll::Ready(Ok(v)) => ControlFlow::Continue(Poll::Ready(v)),
            Poll::Ready(Err(e)) => ControlFlow::Break(Err(e)),
            Poll::Pending => ControlFlow::Continue(Poll::Pending),
        }
    }
}

impl<T, E> Branch for Poll<Option<Result<T, E>>> {
    type Output = Poll<Option<T>>;
    type Residual = Result<Infallible, E>;
    #[inline]
    fn obs_branch(self) -> ControlFlow<Self::Residual, Poll<Option<T>>> {
        match self {
            Poll::Ready(Some(Ok(v))) => ControlFlow::Continue(Poll::Ready(Some(v))),
            Poll::Ready(Some(Err(e))) => ControlFlow::Break(Err(e)),
            Poll::Ready(None) => ControlFlow::Continue(Poll::Ready(None)),
            Poll::Pending => ControlFlow::Continue(Poll::Pending),
        }
    }
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Result<T, F> {
    #[inline]
    fn obs_from_residual(residual: Result<Infallible, E>) -> Self {
        match residual {
            Err(e) => Err(From::from(e)),
            Ok(never) => match never {},
        }
    }
}

impl<T> FromResidual<Option<Infallible>> for Option<T> {
    #[inline]
    fn obs_from_residual(_: Option<Infallible>) -> Self {
        None
    }
}

impl<B, C> FromResidual<ControlFlow<B, Infallible>> for ControlFlow<B, C> {
    #[inline]
    fn obs_from_residual(residual: ControlFlow<B, Infallible>) -> Self {
        match residual {
            ControlFlow::Break(b) => ControlFlow::Break(b),
            ControlFlow::Continue(never) => match never {},
        }
    }
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Poll<Result<T, F>> {
    #[inline]
    fn obs_from_residual(residual: Result<Infallible, E>) -> Self {
        Poll::Ready(Result::obs_from_residual(residual))
    }
}

impl<T, E, F: From<E>> FromResidual<Result<Infallible, E>> for Poll<Option<Result<T, F>>> {
    #[inline]
    fn obs_from_residual(residual: Result<Infallible, E>) -> Self {
        Poll::Ready(Some(Result::obs_from_residual(residual)))
    }
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

/// An observed async call: see [`FnSite::instrument`].
#[must_use = "futures do nothing unless polled"]
pub struct Observed<F, C> {
    site: &'static FnSite,
    span: Span,
    start: Option<u64>,
    future: F,
    classify: C,
    done: bool,
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

/// The fields of a pinned [`Observed`], with the inner future pinned.
struct Projection<'a, F, C> {
    site: &'static FnSite,
    span: &'a Span,
    start: &'a mut Option<u64>,
    future: Pin<&'a mut F>,
    classify: &'a C,
    done: &'a mut bool,
}

/// Structural pin projection of `future`; every other field is treated as unpinned.
// SAFETY: `future` is never moved out of `Observed`: no method takes it by value, `Drop`
// only reads the other fields, and `Observed` implements `Unpin` only through the auto
// trait (when `F: Unpin`). This is the projection `pin-project` would generate.
#[allow(unsafe_code)]
fn project<F, C>(observed: Pin<&mut Observed<F, C>>) -> Projection<'_, F, C> {
    // SAFETY: see above; the returned `&mut` fields other than `future` are not pinned.
    let this = unsafe { observed.get_unchecked_mut() };
    Projection {
        site: this.site,
        span: &this.span,
        start: &mut this.start,
        // SAFETY: `this.future` is pinned because `observed` is, and it is never moved.
        future: unsafe { Pin::new_unchecked(&mut this.future) },
        classify: &this.classify,
        done: &mut this.done,
    }
}

impl<F, C> Future for Observed<F, C>
where
    F: Future,
    C: for<'a> Fn(&'a F::Output) -> CallOutcome<'a>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = project(self);
        let start = *this.start.get_or_insert_with(|| {
            this.site.begin();
            clock_now()
        });
        let _entered = this.span.enter();
        let mut panic_guard = PollPanic {
            site: this.site,
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
                this.site.record(this.span, &outcome);
                this.site.end(start);
            }
            Poll::Pending => *this.done = false,
        }
        poll
    }
}

impl<F, C> Drop for Observed<F, C> {
    fn drop(&mut self) {
        // Polled at least once and neither completed nor panicked: cancelled.
        if !self.done
            && let Some(start) = self.start
        {
            let _entered = self.span.enter();
            self.site
                .record_unfinished(&self.span, Unfinished::Cancelled);
            self.site.end(start);
        }
    }
}

/// Every observed function, sorted by module and name, with sites that share both (two
/// `impl` blocks' `new`, say) grouped so that their series are merged, not duplicated.
fn grouped_sites() -> Vec<Vec<&'static FnSite>> {
    let mut sites: Vec<&'static FnSite> = crate::__private::OBSERVED.iter().copied().collect();
    sites.sort_by(|a, b| (a.module, a.function).cmp(&(b.module, b.function)));
    let mut groups: Vec<Vec<&'static FnSite>> = Vec::new();
    for site in sites {
        match groups.last_mut() {
            Some(g) if g[0].module == site.module && g[0].function == site.function => g.push(site),
            _ => groups.push(vec![site]),
        }
    }
    groups
}

/// Label pairs `function`, `module`, the site's extra labels, then `extra`.
fn site_labels<'a>(site: &'a FnSite, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut labels = vec![("function", site.function), ("module", site.module)];
    labels.extend(site.labels.iter().map(|(k, v)| (*k, v())));
    labels.extend_from_slice(extra);
    labels
}

/// `function_calls_total{function, module, result, error}`.
pub(crate) struct FunctionCalls;

impl Collect for FunctionCalls {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "function_calls_total",
            help: "Calls of functions observed with #[observe], by result and error.",
            unit: None,
            kind: MetricKind::Counter,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        for group in grouped_sites() {
            let sum = |f: &dyn Fn(&FnSite) -> u64| group.iter().map(|s| f(s)).sum::<u64>();
            let first = group[0];
            let ok = sum(&|s| s.ok_calls());
            encoder.counter(
                &site_labels(first, &[("result", "ok"), ("error", "")]),
                Number::Int(ok),
                None,
                None,
            );
            let mut names: Vec<&'static str> = Vec::new();
            for site in &group {
                names.extend(site.error_labels());
            }
            names.sort_unstable();
            names.dedup();
            for name in names {
                let n = sum(&|s| s.errors(name));
                encoder.counter(
                    &site_labels(first, &[("result", "error"), ("error", name)]),
                    Number::Int(n),
                    None,
                    None,
                );
            }
            let panics = sum(&|s| s.panicked.load(Ordering::Relaxed));
            encoder.counter(
                &site_labels(first, &[("result", "error"), ("error", "panic")]),
                Number::Int(panics),
                None,
                None,
            );
            let unclassified = sum(&|s| s.unclassified.load(Ordering::Relaxed));
            if unclassified > 0 {
                encoder.counter(
                    &site_labels(first, &[("result", "error"), ("error", UNCLASSIFIED)]),
                    Number::Int(unclassified),
                    None,
                    None,
                );
            }
            let cancelled = sum(&|s| s.cancelled.load(Ordering::Relaxed));
            encoder.counter(
                &site_labels(first, &[("result", "cancelled"), ("error", "")]),
                Number::Int(cancelled),
                None,
                None,
            );
        }
    }
}

/// `function_calls_duration_seconds{function, module}`.
pub(crate) struct FunctionDuration;

impl Collect for FunctionDuration {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "function_calls_duration_seconds",
            help: "Duration of calls of functions observed with #[observe].",
            unit: Some("seconds"),
            kind: MetricKind::Histogram,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        for group in grouped_sites() {
            let first = group[0];
            let bounds = first.buckets;
            let mut cumulative = first.duration().bucket_counts();
            let mut sum = first.duration().sum();
            let mut exemplars = first.duration().exemplars();
            // Sites merged under one name add up when their buckets agree; each bucket
            // shows the newest exemplar among them.
            for site in group.iter().skip(1).filter(|s| s.buckets == bounds) {
                for (c, add) in cumulative.iter_mut().zip(site.duration().bucket_counts()) {
                    *c += add;
                }
                sum += site.duration().sum();
                for (mine, theirs) in exemplars.iter_mut().zip(site.duration().exemplars()) {
                    let newer = match (&*mine, &theirs) {
                        (_, None) => false,
                        (None, Some(_)) => true,
                        (Some(a), Some(b)) => b.timestamp > a.timestamp,
                    };
                    if newer {
                        *mine = theirs;
                    }
                }
            }
            let count = cumulative.last().copied().unwrap_or(0);
            encoder.histogram(
                &site_labels(first, &[]),
                &HistogramSample {
                    bounds,
                    cumulative: &cumulative,
                    exemplars: &exemplars,
                    sum,
                    count,
                    created: None,
                },
            );
        }
    }
}

/// `function_calls_concurrent{function, module}`.
pub(crate) struct FunctionConcurrent;

impl Collect for FunctionConcurrent {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "function_calls_concurrent",
            help: "Calls in progress of functions observed with #[observe].",
            unit: None,
            kind: MetricKind::Gauge,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        for group in grouped_sites() {
            if !group.iter().any(|s| s.concurrency) {
                continue;
            }
            let n: i64 = group.iter().map(|s| s.in_flight()).sum();
            encoder.gauge(&site_labels(group[0], &[]), Number::Signed(n));
        }
    }
}

/// The site of an observed function, by module path and name (for tests and tools).
pub fn observed_function(module: &str, function: &str) -> Option<&'static FnSite> {
    observed_functions().find(|s| s.module == module && s.function == function)
}

/// Every observed function in the program.
pub fn observed_functions() -> impl Iterator<Item = &'static FnSite> {
    crate::__private::OBSERVED.iter().copied()
}
