//! How a call's outcome is classified: the autoref probes `#[observe]` expands to, which
//! decide by the output's type, and the error label of a failed call.

use core::fmt;

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
    /// The error implements `std::error::Error` (or is a handle to one, as
    /// `anyhow::Error` and `Box<dyn Error>` are): its message and every cause below it.
    Error(&'a (dyn std::error::Error + 'a)),
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

/// Causes written after an error's message at most (then `: …`): a `source()` chain that
/// loops ends.
const MAX_CAUSES: usize = 16;

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Error(e) => {
                // `message: cause: cause`, each cause its own `Display`, skipped when an
                // outer message already includes it (as many error types write theirs).
                let mut written = e.to_string();
                f.write_str(&written)?;
                let mut source = e.source();
                for _ in 0..MAX_CAUSES {
                    let Some(cause) = source else { break };
                    let text = cause.to_string();
                    if !text.is_empty() && !written.contains(&text) {
                        write!(f, ": {text}")?;
                        written.push_str(&text);
                    }
                    source = cause.source();
                }
                if source.is_some() {
                    // Cut, and said to be: the chain goes deeper (or loops).
                    f.write_str(": …")?;
                }
                Ok(())
            }
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

/// Message of an error that implements `std::error::Error`: with its causes.
pub trait ProbeError<'a> {
    /// The message.
    fn obs_error_message(&self) -> Message<'a>;
}
impl<'a, E: std::error::Error> ProbeError<'a> for &&&&&Probe<'a, E> {
    fn obs_error_message(&self) -> Message<'a> {
        Message::Error(self.0)
    }
}

/// Message of a handle to an error (`anyhow::Error`, `eyre::Report`, `Box<dyn Error>`):
/// with its causes.
pub trait ProbeErrorRef<'a> {
    /// The message.
    fn obs_error_message(&self) -> Message<'a>;
}
impl<'a, E: AsRef<dyn std::error::Error + 'static>> ProbeErrorRef<'a> for &&&&Probe<'a, E> {
    fn obs_error_message(&self) -> Message<'a> {
        Message::Error(self.0.as_ref())
    }
}

/// Message of a handle to a thread-safe error (`Box<dyn Error + Send + Sync>`): with its
/// causes.
pub trait ProbeErrorRefSync<'a> {
    /// The message.
    fn obs_error_message(&self) -> Message<'a>;
}
impl<'a, E: AsRef<dyn std::error::Error + Send + Sync + 'static>> ProbeErrorRefSync<'a>
    for &&&Probe<'a, E>
{
    fn obs_error_message(&self) -> Message<'a> {
        Message::Error(self.0.as_ref())
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

#[cfg(test)]
mod tests {
    use super::Message;
    use std::error::Error;

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
        assert_eq!(Message::Error(&Loop).to_string(), "again: …");
    }
}
