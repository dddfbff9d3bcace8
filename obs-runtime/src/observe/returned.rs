//! How a synchronous function's returned value is recorded, chosen by its type: a boxed
//! `dyn Future` (`Pin<Box<dyn Future<Output = T> + Send + 'a>>`, `BoxFuture<'a, T>`) is
//! recorded over its completion, any other value at once.

use core::future::Future;
use core::pin::Pin;

use super::classify::{CallOutcome, Probe};
use super::guard::CallGuard;

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
